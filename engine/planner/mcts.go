package planner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// mnode is a tree node: the trajectory that reaches it and the statistics of its subtree.
type mnode struct {
	parent   *mnode
	c        *cand
	depth    int
	children []*mnode
	expanded bool
	visits   int
	// The backup of a value v from k levels below adds gamma^k*v to total and gamma^k to weight,
	// so that the mean can be taken against any baseline (see mean).
	total, weight float64
}

// mean is the node's discounted mean value, discounted toward baseline b rather than toward 0:
// b + sum gamma^k (v - b) / visits. Reward-model scores have no fixed zero (a pairwise loss
// fixes them only up to a constant), and discounting toward 0 made a deep failure with a
// negative score look better than a shallow one. With b the lowest value seen, the discount
// shrinks a value's lead over the worst outcome, whatever the scores' sign and offset.
func (n *mnode) mean(b float64) float64 {
	return b + (n.total-b*n.weight)/float64(n.visits)
}

// mcts (ARMAP-M) is UCT over actions. Each of the Rollouts simulations selects a path by UCT
// (unvisited children first), expands the leaf with up to Candidates distinct actions sampled
// from the policy (nodes at depth Horizon or MaxSteps are not expanded), lets the policy roll out from
// the new child to the end of the episode, and has the reward model score the whole
// trajectory. The value is backed up the path, discounted by Gamma per level toward the lowest
// value seen (see mnode.mean). The answer is the best-valued rollout.
//
// Values are the target values as they come (raw reward-model scores); the exploration
// constant is ARMAP's for its reward model's scale.
func (p *Planner) mcts(ep *episode) error {
	cfg := p.cfg.MCTS
	rng := ep.rng(streamMCTS)
	root := &mnode{c: &cand{traj: ep.trajectory(nil, false, 0), snap: ep.root}}
	var outcomes []*cand
	low := math.Inf(1) // the lowest value backed up so far: the baseline of the discount
	for it := 0; it < cfg.Rollouts; it++ {
		if err := ep.ctx.Err(); err != nil {
			return err
		}
		n := root
		for n.expanded && !n.c.done && len(n.children) > 0 {
			n = n.uct(cfg.Exploration, low)
		}
		// A node at MaxSteps is a leaf like a finished one: no children, no rollout, and its
		// trajectory is scored once however often it is visited.
		atLimit := len(n.c.traj.Steps) >= p.cfg.MaxSteps
		if !n.c.done && !n.expanded && n.depth < cfg.Horizon && !atLimit {
			if err := ep.expandNode(n, cfg.Candidates, rng); err != nil {
				return fmt.Errorf("simulation %d: %w", it+1, err)
			}
			if len(n.children) > 0 {
				n = n.children[0]
			}
		}
		leaf := n.c
		if !n.c.done && len(n.c.traj.Steps) < p.cfg.MaxSteps {
			c, err := ep.rollout(p.env, n.c.snap, n.c.traj.Steps, rng, nil)
			if err != nil {
				return fmt.Errorf("simulation %d: %w", it+1, err)
			}
			leaf = c
		}
		if !leaf.scored {
			if err := ep.score(leaf); err != nil {
				return fmt.Errorf("simulation %d: %w", it+1, err)
			}
		}
		if !slices.Contains(outcomes, leaf) {
			outcomes = append(outcomes, leaf)
		}
		ep.res.Rollouts++
		low = min(low, leaf.value)
		w := 1.0
		for m := n; m != nil; m = m.parent {
			m.visits++
			m.total += w * leaf.value
			m.weight += w
			w *= cfg.Gamma
		}
	}
	ep.answer = best(outcomes)
	return nil
}

// expandNode adds a child per distinct action the policy proposes at n.
func (ep *episode) expandNode(n *mnode, k int, rng *rand.Rand) error {
	if err := ep.p.env.Restore(n.c.snap); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	acts, err := ep.propose(n.c, k, rng, nil)
	if err != nil {
		return err
	}
	n.expanded = true
	for _, a := range acts {
		steps, snap, res, err := ep.step(ep.p.env, n.c.snap, n.c.traj.Steps, a)
		if err != nil {
			return err
		}
		c := &cand{traj: ep.trajectory(steps, res.Done, res.Reward), snap: snap, done: res.Done}
		n.children = append(n.children, &mnode{parent: n, c: c, depth: n.depth + 1})
	}
	return nil
}

// uct picks the child to descend into: the first unvisited one, else the highest
// mean + c*sqrt(ln N / n), the mean discounted toward b; the first on ties.
func (n *mnode) uct(c, b float64) *mnode {
	// The first child stands in when no value compares (scores are finite, but keep the walk
	// total rather than dereference nil).
	bestChild := n.children[0]
	bestU := math.Inf(-1)
	lnN := math.Log(float64(max(n.visits, 1)))
	for _, ch := range n.children {
		if ch.visits == 0 {
			return ch
		}
		u := ch.mean(b) + c*math.Sqrt(lnN/float64(ch.visits))
		if u > bestU {
			bestChild, bestU = ch, u
		}
	}
	return bestChild
}
