package agent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/armap/armap/pipeline/env"
)

// refusing is an env whose every step fails, as a remote env refusing an over-long action does.
type refusing struct{}

func (refusing) Name() string  { return "refusing" }
func (refusing) NumTasks() int { return 1 }
func (refusing) Reset(context.Context, int) (env.Observation, error) {
	return env.Observation{TaskID: "r/0", Instruction: "do it", Text: "start"}, nil
}
func (refusing) Step(context.Context, string) (env.StepResult, error) {
	return env.StepResult{}, errors.New("413 request too large")
}
func (refusing) Admissible() []string            { return nil }
func (refusing) Snapshot() (env.Snapshot, error) { return nil, nil }
func (refusing) Restore(env.Snapshot) error      { return nil }
func (refusing) Close() error                    { return nil }

// runaway proposes one enormous action, as a model that never stops writing does.
type runaway struct{}

func (runaway) Name() string { return "runaway" }
func (runaway) Act(context.Context, *State, ActOptions) ([]string, error) {
	return []string{strings.Repeat("think more ", 100_000)}, nil
}

// A failed step names its action, clipped: the error must not carry the whole megabyte.
func TestStepErrorClipsTheAction(t *testing.T) {
	_, err := Rollout(context.Background(), refusing{}, runaway{}, 0, 5, ActOptions{}, nil)
	if err == nil || !strings.Contains(err.Error(), "413") || !strings.Contains(err.Error(), "think more") {
		t.Fatalf("got %v, want the step error with the start of the action", err)
	}
	if n := len(err.Error()); n > 400 {
		t.Errorf("error is %d bytes long", n)
	}
}
