// Package scripted holds per-environment policies that stand in for LLM agents of a given skill:
// they follow the environment's expert with a probability that grows with skill and otherwise
// make the mistakes LLM agents make in that environment. Planners, synthesis and tests use them
// offline in place of a model server.
//
// Each environment's policy lives in its own file (game24.go, shop.go, household.go) and is
// registered in New.
package scripted

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/armap/armap/pipeline/agent"
)

// New returns the scripted policy for the environment kind envName; skill is in [0, 1], where 1
// is the expert and lower values make more mistakes.
func New(envName string, skill float64) (agent.Policy, error) {
	if math.IsNaN(skill) || skill < 0 || skill > 1 {
		return nil, fmt.Errorf("scripted %s: skill %v not in [0, 1]", envName, skill)
	}
	makers := map[string]func(skill float64) (agent.Policy, error){
		"game24":    func(s float64) (agent.Policy, error) { return NewGame24(s) },
		"household": func(s float64) (agent.Policy, error) { return NewHousehold(s) },
		"shop":      func(s float64) (agent.Policy, error) { return NewShop(s) },
	}
	mk, ok := makers[envName]
	if !ok {
		names := make([]string, 0, len(makers))
		for k := range makers {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("scripted: no policy for env %q (have %s)", envName, strings.Join(names, ", "))
	}
	return mk(skill)
}

// cand is one entry of a policy's action distribution.
type cand struct {
	action string
	w      float64
}

// addCand accumulates weight per action, keeping one entry per action in the order actions were
// first proposed: draw walks that order, so it must be stable for reproducible runs.
func addCand(cs []cand, action string, w float64) []cand {
	if w <= 0 || action == "" {
		return cs
	}
	for i := range cs {
		if cs[i].action == action {
			cs[i].w += w
			return cs
		}
	}
	return append(cs, cand{action, w})
}

// draw returns the actions opt asks for, each drawn from cs in proportion to weight. The
// generator is opt.Rand when sampling and state() otherwise (see agent.ActOptions.Draws).
func draw(cs []cand, opt agent.ActOptions, state func() *rand.Rand) []string {
	n, rng := opt.Draws(state)
	total := 0.0
	for _, c := range cs {
		total += c.w
	}
	out := make([]string, n)
	for i := range out {
		u := rng.Float64() * total
		k := 0
		for k < len(cs)-1 && u >= cs[k].w {
			u -= cs[k].w
			k++
		}
		out[i] = cs[k].action
	}
	return out
}

// avoid drops the actions that an earlier attempt's reflection marked bad at this step, comparing
// them after norm. If that leaves nothing, the first action of fallbacks() (called only then, in
// order of preference) that is not marked stands in, with its raw text compared against the
// normalised marks; if every one is marked, the distribution is kept rather than fail.
func avoid(cs []cand, st *agent.State, norm func(string) string, fallbacks func() [][]string) []cand {
	step := len(st.Steps)
	var bad []string
	for _, r := range st.Reflections {
		if r.Step == step && r.Action != "" {
			bad = append(bad, norm(r.Action))
		}
	}
	if len(bad) == 0 {
		return cs
	}
	out := slices.DeleteFunc(slices.Clone(cs), func(c cand) bool { return slices.Contains(bad, norm(c.action)) })
	if len(out) > 0 {
		return out
	}
	for _, pool := range fallbacks() {
		for _, a := range pool {
			if !slices.Contains(bad, a) {
				return []cand{{a, 1}}
			}
		}
	}
	return cs
}

// admissible is the state's admissible list, or the env's when the state carries none.
func admissible(st *agent.State) []string {
	if st.Admissible != nil {
		return st.Admissible
	}
	return st.Env.Admissible()
}

// same is the identity, for avoid where actions are compared as written.
func same(s string) string { return s }

// expertThenAdmissible is avoid's fallback for envs with one expert action: that action, then the
// admissible ones.
func expertThenAdmissible(st *agent.State, e interface{ ExpertAction() (string, bool) }) [][]string {
	var expert []string
	if a, ok := e.ExpertAction(); ok {
		expert = []string{a}
	}
	return [][]string{expert, admissible(st)}
}
