package random

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/armap/armap/pipeline/agent"
	"github.com/armap/armap/pipeline/dataset"
	"github.com/armap/armap/pipeline/env/game24"
)

func TestUniformOverAdmissible(t *testing.T) {
	adm := []string{"a", "b", "c", "d", "e"}
	st := &agent.State{Instruction: "x", Admissible: adm}
	acts, err := New().Act(context.Background(), st, agent.ActOptions{N: 50000, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, a := range acts {
		if !slices.Contains(adm, a) {
			t.Fatalf("action %q not admissible", a)
		}
		count[a]++
	}
	// Chi-square with 4 degrees of freedom; 18.5 is the 0.999 quantile.
	exp := float64(len(acts)) / float64(len(adm))
	chi := 0.0
	for _, a := range adm {
		d := float64(count[a]) - exp
		chi += d * d / exp
	}
	if chi > 18.5 {
		t.Fatalf("counts %v not uniform (chi2 %.1f)", count, chi)
	}
}

func TestGreedyIsAFunctionOfState(t *testing.T) {
	ctx := context.Background()
	p := New()
	st := &agent.State{Instruction: "x", Admissible: []string{"a", "b", "c", "d", "e", "f", "g", "h"}}
	first, err := p.Act(ctx, st, agent.ActOptions{N: 5, Greedy: true, Rand: rand.New(rand.NewPCG(1, 1))})
	if err != nil || len(first) != 1 {
		t.Fatalf("greedy: %q, %v", first, err)
	}
	again, _ := p.Act(ctx, st, agent.ActOptions{N: 1, Greedy: true, Rand: rand.New(rand.NewPCG(9, 9))})
	if again[0] != first[0] {
		t.Fatalf("greedy changed with Rand: %q vs %q", first, again)
	}
	seen := map[string]bool{}
	for i := range 40 {
		st.Steps = []dataset.Step{{Action: "a", Observation: string(rune('A' + i))}}
		a, _ := p.Act(ctx, st, agent.ActOptions{N: 1, Greedy: true})
		seen[a[0]] = true
	}
	if len(seen) < 3 {
		t.Fatalf("greedy picks the same action in 40 different states: %v", seen)
	}
}

func TestNoAdmissible(t *testing.T) {
	_, err := New().Act(context.Background(), &agent.State{Instruction: "free text"}, agent.ActOptions{N: 1})
	if !errors.Is(err, ErrNoAdmissible) {
		t.Fatalf("err %v, want ErrNoAdmissible", err)
	}
}

// TestRolloutInGame24: random play ends every episode and finds a solution now and then.
func TestRolloutInGame24(t *testing.T) {
	ctx := context.Background()
	e, err := game24.New(game24.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	wins := 0
	for task := range 1362 {
		tr, err := agent.Rollout(ctx, e, New(), task, 10, agent.ActOptions{N: 1, Rand: rng}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Steps) != 4 || !game24.IsAnswer(tr.Steps[3].Action) {
			t.Fatalf("task %d: %v", task, tr.Steps)
		}
		if tr.Success {
			wins++
		}
	}
	if wins == 0 || wins > 300 {
		t.Fatalf("random play solved %d of 1362", wins)
	}
	t.Logf("random play solved %d of 1362 puzzles", wins)
}
