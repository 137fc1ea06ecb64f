// Package env defines the environment interface that agents explore, the synthesizer draws
// trajectories from, and the planners search with (snapshot/restore).
//
// Implementations live in sub-packages: game24, shop, household, http.
package env

import (
	"context"
	"errors"
)

// Observation is what an agent sees after Reset.
type Observation struct {
	TaskID      string // stable task identity, e.g. "game24/900"
	Instruction string // the task as given to the agent
	Text        string // the first observation
}

// StepResult is the environment's answer to one action.
type StepResult struct {
	Observation string
	Reward      float64 // the final env reward when Done, else 0 (or a shaped partial reward)
	Done        bool
}

// Snapshot is an opaque copy of an environment's state. It is only valid for the Env that made it
// (or another instance of the same Env type built with the same options).
type Snapshot any

// Env is one environment instance. An instance is not safe for concurrent use: planners and
// synthesis workers each use their own instance (see Factory).
type Env interface {
	// Name is the environment kind: "game24", "shop", "household", "http".
	Name() string
	// NumTasks is the number of tasks addressable by Reset (0 when the env cannot tell).
	NumTasks() int
	// Reset starts task number task (0-based); all random choices derive from the task number and
	// the options the env was built with, so the same task always gives the same episode start.
	Reset(ctx context.Context, task int) (Observation, error)
	// Step applies an action. An invalid action is not an error: the observation says so and the
	// episode goes on (as in WebShop and ALFWorld). Step after Done returns ErrDone.
	Step(ctx context.Context, action string) (StepResult, error)
	// Admissible lists the valid actions in the current state, or nil where actions are free text.
	Admissible() []string
	// Snapshot captures the full state; Restore puts it back. Restore(Snapshot()) followed by the
	// same actions gives the same observations and rewards.
	Snapshot() (Snapshot, error)
	Restore(Snapshot) error
	Close() error
}

// Factory makes independent Env instances (one per worker goroutine).
type Factory func() (Env, error)

// Splits, implemented by envs with standard task splits, maps a split name ("train", "test") to
// task numbers.
type Splits interface {
	Split(name string) ([]int, error)
}

// CountInSplit is how many of tasks lie in e's split name; ok is false when e has no such split.
func CountInSplit(e Env, name string, tasks []int) (n int, ok bool) {
	sp, isSplits := e.(Splits)
	if !isSplits {
		return 0, false
	}
	in, err := sp.Split(name)
	if err != nil {
		return 0, false
	}
	set := make(map[int]bool, len(in))
	for _, t := range in {
		set[t] = true
	}
	for _, t := range tasks {
		if set[t] {
			n++
		}
	}
	return n, true
}

// Expert, implemented by envs that know an optimal next action (as ALFWorld's expert planner
// does), drives the scripted policies that stand in for LLMs of a given skill.
type Expert interface {
	// ExpertAction returns an action on an optimal path from the current state, and false when
	// the env cannot tell (episode over, or no solution from here).
	ExpertAction() (string, bool)
}

// StepLimit, implemented by envs that end an episode after a fixed number of steps whatever the
// agent does (ALFWorld ends at its step budget), lets callers tell a run that ran out of steps
// from one its own last action ended.
type StepLimit interface {
	// MaxSteps is the step at which the env ends every unfinished episode (0: no such limit).
	MaxSteps() int
}

// ErrDone is returned by Step after the episode has ended.
var ErrDone = errors.New("env: episode is over")

// ErrNoTask is returned by Reset for a task number out of range.
var ErrNoTask = errors.New("env: no such task")
