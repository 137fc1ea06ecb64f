// Package random is the exploration policy: uniform over the environment's admissible actions.
package random

import (
	"context"
	"errors"
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
	n, rng := opt.Draws(func() *rand.Rand {
		return agent.StateSeed{Salt: st.EnvName + "\x00", Observation: true, Stream: 0xbb67ae8584caa73b}.Rand(st)
	})
	out := make([]string, n)
	for i := range out {
		out[i] = adm[rng.IntN(len(adm))]
	}
	return out, nil
}
