package agent

import (
	"hash/fnv"
	"math/rand/v2"
)

// StateSeed says how a policy turns a state into its own generator, so that a greedy choice (or a
// sample drawn without ActOptions.Rand) is a function of the state alone. Each policy keeps its
// own Salt, Observation and Stream: they decide every recorded greedy run and seeded synthesis
// output, so changing any of them changes those bytes.
type StateSeed struct {
	Salt        string // hashed first, e.g. the env name and a NUL
	Observation bool   // also hash the current observation, not only the instruction and history
	Stream      uint64 // xor-ed into the hash for PCG's second word
}

// Rand returns a generator seeded by an FNV-1a hash of the salt, the instruction and the history
// (and the current observation when s.Observation).
func (s StateSeed) Rand(st *State) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(s.Salt))
	h.Write([]byte(st.Instruction))
	for _, step := range st.Steps {
		h.Write([]byte{0})
		h.Write([]byte(step.Action))
		h.Write([]byte{1})
		h.Write([]byte(step.Observation))
	}
	if s.Observation {
		h.Write([]byte{2})
		h.Write([]byte(st.Observation))
	}
	x := h.Sum64()
	return rand.New(rand.NewPCG(x, x^s.Stream))
}

// Draws says how many actions to return and which generator to draw them from: opt.N (at least
// one) from opt.Rand when sampling; one action from state() when Greedy, and opt.N from state()
// when no Rand was given, so that the result still depends only on the state. state is called only
// when its generator is used.
func (opt ActOptions) Draws(state func() *rand.Rand) (n int, rng *rand.Rand) {
	n, rng = opt.N, opt.Rand
	if opt.Greedy || rng == nil {
		rng = state()
	}
	if opt.Greedy || n < 1 {
		n = 1
	}
	return n, rng
}
