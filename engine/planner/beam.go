package planner

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/armap/armap/pipeline/agent"
)

// beam is step-level beam search: every kept partial trajectory is expanded by up to Width
// actions, the reward model scores each child as a (partial) trajectory, and the Beams best of
// the children and the already finished trajectories are kept. It stops when every kept
// trajectory has ended (or at MaxSteps); the answer is the best finished one.
func (p *Planner) beam(ep *episode) error {
	rng := ep.rng(streamBeam)
	beams := []*cand{{traj: ep.trajectory(nil, false, 0), snap: ep.root}}
	for depth := 0; depth < p.cfg.MaxSteps; depth++ {
		if err := ep.ctx.Err(); err != nil {
			return err
		}
		var pool, fresh []*cand
		for _, b := range beams {
			if b.done {
				pool = append(pool, b)
				continue
			}
			acts, err := ep.expand(b, p.cfg.Beam.Width, rng)
			if err != nil {
				return fmt.Errorf("depth %d: %w", depth, err)
			}
			for _, a := range acts {
				steps, snap, res, err := ep.step(p.env, b.snap, b.traj.Steps, a)
				if err != nil {
					return fmt.Errorf("depth %d: %w", depth, err)
				}
				c := &cand{traj: ep.trajectory(steps, res.Done, res.Reward), snap: snap, done: res.Done}
				if c.done {
					ep.res.Rollouts++
				}
				fresh = append(fresh, c)
			}
		}
		if len(fresh) == 0 {
			break
		}
		if err := ep.scoreAll(fresh); err != nil {
			return fmt.Errorf("depth %d: %w", depth, err)
		}
		pool = append(pool, fresh...)
		// Stable: on equal values finished trajectories (listed first) and earlier expansions win.
		slices.SortStableFunc(pool, func(a, b *cand) int { return cmp.Compare(b.value, a.value) })
		beams = pool[:min(len(pool), p.cfg.Beam.Beams)]
		if !slices.ContainsFunc(beams, func(c *cand) bool { return !c.done }) {
			break
		}
	}
	for _, b := range beams {
		if b.done {
			ep.answer = b
			return nil
		}
	}
	// Nothing finished within MaxSteps: the best partial trajectory is the answer (unfinished,
	// so it earns no env reward).
	ep.answer = beams[0]
	return nil
}

// expand proposes up to width distinct actions at the end of b.
func (ep *episode) expand(b *cand, width int, rng *rand.Rand) ([]string, error) {
	e := ep.p.env
	if err := e.Restore(b.snap); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if ep.p.cfg.Beam.Expand == "admissible" {
		if adm := e.Admissible(); len(adm) > 0 {
			return dedupe(adm, width), nil
		}
	}
	return ep.propose(b, width, rng, nil)
}

// propose samples n actions from the policy at the end of b (the env positioned there) and
// returns the distinct ones in the order drawn.
func (ep *episode) propose(b *cand, n int, rng *rand.Rand, refl []agent.Reflection) ([]string, error) {
	st := ep.state(ep.p.env, b.traj.Steps, refl)
	acts, err := ep.policy().Act(ep.ctx, st, agent.ActOptions{N: n, Rand: rng})
	if err != nil {
		return nil, fmt.Errorf("policy %s at step %d: %w", ep.p.policy.Name(), len(b.traj.Steps), err)
	}
	if len(acts) == 0 {
		return nil, fmt.Errorf("policy %s at step %d: no action", ep.p.policy.Name(), len(b.traj.Steps))
	}
	return dedupe(acts, n), nil
}

// dedupe keeps the first occurrence of each action, at most n of them.
func dedupe(acts []string, n int) []string {
	out := make([]string, 0, min(n, len(acts)))
	for _, a := range acts {
		if len(out) == n {
			break
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
