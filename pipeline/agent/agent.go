// Package agent defines the policies that act in environments: LLM-backed (agent/llm), scripted
// stand-ins of a given skill (agent/scripted) and uniform random exploration (agent/random).
package agent

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/armap/armap/internal/textclip"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env"
)

// Reflection carries what an earlier failed attempt taught (Reflexion). LLM policies put Text into
// the prompt; scripted policies avoid Action at step Step.
type Reflection struct {
	Text   string
	Step   int
	Action string
}

// State is what a policy sees when asked for its next action.
type State struct {
	EnvName     string
	Instruction string
	Steps       []dataset.Step // the history so far
	Observation string         // the current observation (the initial one when Steps is empty)
	Admissible  []string       // valid actions, nil where actions are free text
	Reflections []Reflection
	// Env is the live environment positioned at this state. Scripted policies may query it (for
	// example env.Expert); LLM policies must not rely on it. Policies never Step or Restore it.
	Env env.Env
}

// ActOptions say how many candidate actions to return and how to choose them.
type ActOptions struct {
	N      int        // candidates wanted (>= 1); duplicates are allowed when sampling
	Greedy bool       // the single most likely action (temperature 0); N is then 1
	Rand   *rand.Rand // the only randomness a policy may use, for reproducible runs
}

// Policy proposes next actions.
type Policy interface {
	Name() string
	Act(ctx context.Context, st *State, opt ActOptions) ([]string, error)
}

// Rollout runs policy in e from task until the episode ends or maxSteps actions were taken, and
// returns the trajectory. The env is Reset first.
func Rollout(ctx context.Context, e env.Env, p Policy, task int, maxSteps int, opt ActOptions, refl []Reflection) (dataset.Trajectory, error) {
	obs, err := e.Reset(ctx, task)
	if err != nil {
		return dataset.Trajectory{}, fmt.Errorf("reset task %d: %w", task, err)
	}
	st := &State{EnvName: e.Name(), Instruction: obs.Instruction, Observation: obs.Text, Reflections: refl, Env: e}
	return Continue(ctx, e, p, st, obs.TaskID, maxSteps, opt)
}

// Continue runs policy from the state st (e positioned there) to the end of the episode.
func Continue(ctx context.Context, e env.Env, p Policy, st *State, taskID string, maxSteps int, opt ActOptions) (dataset.Trajectory, error) {
	tr := dataset.Trajectory{Env: e.Name(), TaskID: taskID, Instruction: st.Instruction, Steps: append([]dataset.Step(nil), st.Steps...)}
	one := opt
	one.N = 1
	for len(tr.Steps) < maxSteps {
		if err := ctx.Err(); err != nil {
			return tr, err
		}
		st.Steps = tr.Steps
		st.Admissible = e.Admissible()
		acts, err := p.Act(ctx, st, one)
		if err != nil {
			return tr, fmt.Errorf("policy %s at step %d: %w", p.Name(), len(tr.Steps), err)
		}
		if len(acts) == 0 {
			return tr, fmt.Errorf("policy %s at step %d: no action", p.Name(), len(tr.Steps))
		}
		res, err := e.Step(ctx, acts[0])
		if err != nil {
			// The action clipped: a runaway completion can be a megabyte long.
			return tr, fmt.Errorf("step %d %q: %w", len(tr.Steps), textclip.Clip(acts[0], 200), err)
		}
		tr.Steps = append(tr.Steps, dataset.Step{Action: acts[0], Observation: res.Observation})
		st.Observation = res.Observation
		if res.Done {
			tr.EnvReward = res.Reward
			tr.Success = res.Reward >= 1
			break
		}
	}
	st.Steps = tr.Steps
	return tr, nil
}
