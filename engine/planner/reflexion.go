package planner

import (
	"context"
	"fmt"
	"math"

	"github.com/armap/armap/pipeline/agent"
	llmpolicy "github.com/armap/armap/pipeline/agent/llm"
	"github.com/armap/armap/pipeline/dataset"
)

// Reflector turns a failed attempt into a lesson for the next one. worstStep is the step the
// reward model blames (see reflexion), -1 when there is none.
type Reflector interface {
	Reflect(ctx context.Context, st *agent.State, traj dataset.Trajectory, worstStep int) (agent.Reflection, error)
}

// StepReflector is the reflection scripted policies understand: avoid the blamed step's action
// at that step.
type StepReflector struct{}

// Reflect implements Reflector.
func (StepReflector) Reflect(_ context.Context, _ *agent.State, traj dataset.Trajectory, worstStep int) (agent.Reflection, error) {
	if worstStep < 0 || worstStep >= len(traj.Steps) {
		return agent.Reflection{Step: -1}, nil
	}
	a := traj.Steps[worstStep].Action
	return agent.Reflection{Step: worstStep, Action: a,
		Text: fmt.Sprintf("Step %d (%s) led the attempt astray; do something else there.", worstStep+1, a)}, nil
}

// LLMReflector asks the LLM for the lesson (llmpolicy.Reflect), pointing it at the blamed step.
type LLMReflector struct{ Client llmpolicy.Chatter }

// Reflect implements Reflector.
func (r LLMReflector) Reflect(ctx context.Context, st *agent.State, traj dataset.Trajectory, worstStep int) (agent.Reflection, error) {
	return llmpolicy.Reflect(ctx, r.Client, st, traj, worstStep)
}

// reflexion (ARMAP-R) makes up to Attempts attempts. An attempt whose score reaches Threshold
// ends the search; otherwise the reward model scores every prefix of the attempt, the step
// after which the score fell most is blamed, and the Reflector's lesson goes into all later
// attempts.
//
// The answer is the best-valued attempt, not the last: every attempt is scored anyway, so this
// costs nothing, and a lesson can make the next attempt worse (a scripted policy that avoids one
// action may fall into another mistake). When an attempt passes the threshold it is the last
// one and, unless the target's penalties reorder them, also the best.
func (p *Planner) reflexion(ep *episode) error {
	var refl []agent.Reflection
	var all []*cand
	for a := 0; a < p.cfg.Reflexion.Attempts; a++ {
		rng := ep.rng(uint64(a))
		if p.cfg.Reflexion.Greedy {
			rng = nil
		}
		c, err := ep.rollout(p.env, ep.root, nil, rng, refl)
		if err != nil {
			return fmt.Errorf("attempt %d: %w", a+1, err)
		}
		if err := ep.score(c); err != nil {
			return fmt.Errorf("attempt %d: %w", a+1, err)
		}
		all = append(all, c)
		ep.res.Attempts, ep.res.Rollouts = a+1, a+1
		if c.score >= p.cfg.Reflexion.Threshold || a == p.cfg.Reflexion.Attempts-1 {
			break
		}
		worst, err := ep.blame(c)
		if err != nil {
			return fmt.Errorf("attempt %d: %w", a+1, err)
		}
		st := &agent.State{EnvName: p.env.Name(), Instruction: ep.instr, Observation: ep.obs0, Reflections: refl}
		r, err := p.reflector.Reflect(ep.ctx, st, c.traj, worst)
		if err != nil {
			return fmt.Errorf("attempt %d: reflect: %w", a+1, err)
		}
		refl = append(refl, r)
	}
	ep.answer = best(all)
	return nil
}

// blame scores every prefix of c (the empty one included; the whole one is c.score) and returns
// the step whose action lowered the score most, the earliest on ties. When no step lowered it
// (the score rose to a value still under the threshold), the last step is blamed: the attempt
// ended there without passing, and a greedy attempt with no lesson would repeat itself.
func (ep *episode) blame(c *cand) (int, error) {
	n := len(c.traj.Steps)
	if n == 0 {
		return -1, nil
	}
	s := make([]float64, n+1)
	s[n] = c.score
	err := parallel(n, n, func(k int) error {
		v, err := ep.scoreRaw(c.traj.Steps[:k])
		s[k] = v
		return err
	})
	if err != nil {
		return -1, err
	}
	worst, drop := n-1, 0.0
	for k := 0; k < n; k++ {
		if d := s[k] - s[k+1]; d > drop && !math.IsNaN(d) {
			worst, drop = k, d
		}
	}
	return worst, nil
}
