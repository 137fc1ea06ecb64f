// Package random is the exploration policy: uniform over the environment's admissible actions.
package random

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"

	"github.com/armap/armap/pipeline/agent"
)

// Policy draws uniformly from State.Admissible.
type Policy struct{}

// New returns the uniform policy.
func New() *Policy { return &Policy{} }

var _ agent.Policy = (*Policy)(nil)

// ErrNoAdmissible is returned for envs with free-text actions (or none left).
var ErrNoAdmissible = errors.New("random policy: the env lists no admissible actions")

// Name implements agent.Policy.
func (*Policy) Name() string { return "random" }

// Act implements agent.Policy. Sampling uses opt.Rand; Greedy (and sampling without a Rand) uses
// a generator seeded by a hash of the instruction and the history, so the choice is a function
// of the state.
func (*Policy) Act(ctx context.Context, st *agent.State, opt agent.ActOptions) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	adm := st.Admissible
	if adm == nil && st.Env != nil {
		adm = st.Env.Admissible()
	}
	if len(adm) == 0 {
		return nil, ErrNoAdmissible
	}
	n, rng := opt.N, opt.Rand
	if opt.Greedy || rng == nil {
		rng = stateRand(st)
	}
	if opt.Greedy || n < 1 {
		n = 1
	}
	out := make([]string, n)
	for i := range out {
		out[i] = adm[rng.IntN(len(adm))]
	}
	return out, nil
}

func stateRand(st *agent.State) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(st.EnvName))
	h.Write([]byte{0})
	h.Write([]byte(st.Instruction))
	for _, s := range st.Steps {
		h.Write([]byte{0})
		h.Write([]byte(s.Action))
		h.Write([]byte{1})
		h.Write([]byte(s.Observation))
	}
	h.Write([]byte{2})
	h.Write([]byte(st.Observation))
	x := h.Sum64()
	return rand.New(rand.NewPCG(x, x^0xbb67ae8584caa73b))
}
