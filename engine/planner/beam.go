package planner

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/armap/armap/pipeline/agent"
)

// beam is step-level beam search: every kept partial trajectory is expanded by up to Width
// actions and the reward model scores each child as a (partial) trajectory. Children that ended
// the episode are set aside as answers; the Beams best unfinished ones go on. The search stops
// when nothing unfinished is left, at MaxSteps, or once a finished trajectory is valued at least
// as high as every unfinished one (going on could only find what the model already rates
// lower). The answer is the best finished trajectory, the first found on equal values.
func (p *Planner) beam(ep *episode) error {
	rng := ep.rng(streamBeam)
	beams := []*cand{{traj: ep.trajectory(nil, false, 0), snap: ep.root}}
	var finished []*cand
	for depth := 0; depth < p.cfg.MaxSteps && len(beams) > 0; depth++ {
		if err := ep.ctx.Err(); err != nil {
			return err
		}
		var fresh []*cand
		for _, b := range beams {
			acts, err := ep.expand(b, p.cfg.Beam.Width, rng)
			if err != nil {
				return fmt.Errorf("depth %d: %w", depth, err)
			}
			for _, a := range acts {
				steps, snap, res, err := ep.step(p.env, b.snap, b.traj.Steps, a)
				if err != nil {
					return fmt.Errorf("depth %d: %w", depth, err)
				}
				fresh = append(fresh, &cand{traj: ep.trajectory(steps, res.Done, res.Reward), snap: snap, done: res.Done})
			}
		}
		if len(fresh) == 0 {
			break
		}
		if err := ep.scoreAll(fresh); err != nil {
			return fmt.Errorf("depth %d: %w", depth, err)
		}
		var live []*cand
		for _, c := range fresh {
			if c.done {
				ep.res.Rollouts++
				finished = append(finished, c)
			} else {
				live = append(live, c)
			}
		}
		// Stable: on equal values the earlier expansion wins.
		slices.SortStableFunc(live, func(a, b *cand) int { return cmp.Compare(b.value, a.value) })
		beams = live[:min(len(live), p.cfg.Beam.Beams)]
		if f := best(finished); f != nil && len(beams) > 0 && f.value >= beams[0].value {
			break
		}
	}
	if f := best(finished); f != nil {
		ep.answer = f
		return nil
	}
	// Nothing finished within MaxSteps: the best partial trajectory is the answer (unfinished,
	// so it earns no env reward).
	ep.answer = beams[0]
	return nil
}

// expand proposes up to width distinct actions at the end of b: the policy's, or with
// expand=admissible the env's admissible actions. When there are more of those than width, the
// ones the policy proposes come first (a shop page lists its buttons before "Buy Now", so the
// env's order alone would never buy), then the rest in the env's order.
func (ep *episode) expand(b *cand, width int, rng *rand.Rand) ([]string, error) {
	e := ep.p.env
	if err := e.Restore(b.snap); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if ep.p.cfg.Beam.Expand == "admissible" {
		if adm := e.Admissible(); len(adm) > 0 {
			if len(adm) <= width {
				return dedupe(adm, width), nil
			}
			drawn, err := ep.propose(b, width, rng, nil)
			if err != nil {
				return nil, err
			}
			var out []string
			for _, a := range drawn {
				if slices.Contains(adm, a) {
					out = append(out, a)
				}
			}
			return dedupe(append(out, adm...), width), nil
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
