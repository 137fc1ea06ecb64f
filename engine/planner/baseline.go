package planner

import (
	"sync"
	"sync/atomic"
)

// greedy is one run of the policy's greedy choices.
func (p *Planner) greedy(ep *episode) error {
	c, err := ep.rollout(p.env, ep.root, nil, nil, nil)
	if err != nil {
		return err
	}
	ep.answer = c
	ep.res.Rollouts = 1
	return nil
}

// sampling is N independent sampled runs; the episode's success and env reward are their means
// (the policy's expected performance, which is what the RM-based planners must beat).
func (p *Planner) sampling(ep *episode) error {
	cs, err := ep.sampleRuns(p.cfg.N, false)
	if err != nil {
		return err
	}
	var rew, succ float64
	for _, c := range cs {
		rew += c.traj.EnvReward
		succ += b2f(c.traj.Success)
	}
	n := float64(len(cs))
	ep.answer = cs[0]
	ep.res.EnvReward, ep.res.Success, ep.meanSet = rew/n, succ/n, true
	for _, c := range cs {
		ep.res.Runs = append(ep.res.Runs, c.traj)
	}
	ep.res.Rollouts = len(cs)
	return nil
}

// bestOfN (ARMAP-B) samples the same N runs as sampling and answers with the one of highest value.
func (p *Planner) bestOfN(ep *episode) error {
	cs, err := ep.sampleRuns(p.cfg.N, true)
	if err != nil {
		return err
	}
	ep.answer = best(cs)
	ep.res.Rollouts = len(cs)
	return nil
}

// sampleRuns makes n sampled runs from the root (run i on RNG stream i), on up to Parallel envs
// at once. With score set, each run is sent to the reward model as soon as it ends, so scoring
// overlaps generation and concurrent runs share the scorer's batches.
func (ep *episode) sampleRuns(n int, score bool) ([]*cand, error) {
	envs, err := ep.p.envs(min(ep.p.cfg.Parallel, n))
	if err != nil {
		return nil, err
	}
	cs := make([]*cand, n)
	genErrs := make([]error, n)
	scoreErrs := make([]error, n)
	var next atomic.Int64
	var failed atomic.Bool
	var gen, scoring sync.WaitGroup
	for _, e := range envs {
		gen.Add(1)
		go func() {
			defer gen.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := ep.rollout(e, ep.root, nil, ep.rng(uint64(i)), nil)
				if err != nil {
					genErrs[i] = err
					failed.Store(true)
					return
				}
				cs[i] = c
				if score {
					scoring.Add(1)
					go func() {
						defer scoring.Done()
						if err := ep.score(c); err != nil {
							scoreErrs[i] = err
						}
					}()
				}
			}
		}()
	}
	gen.Wait()
	scoring.Wait()
	for _, errs := range [][]error{genErrs, scoreErrs} {
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
	}
	return cs, nil
}
