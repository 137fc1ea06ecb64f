package game24

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkStepRandomEpisodes plays whole episodes of uniformly random admissible steps (with an
// Admissible call before each, as a random policy does) and reports environment steps per second.
func BenchmarkStepRandomEpisodes(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, Options{})
	rng := rand.New(rand.NewPCG(1, 1))
	steps := 0
	for b.Loop() {
		if _, err := e.Reset(ctx, rng.IntN(e.NumTasks())); err != nil {
			b.Fatal(err)
		}
		for !e.Done() {
			adm := e.Admissible()
			if _, err := e.Step(ctx, adm[rng.IntN(len(adm))]); err != nil {
				b.Fatal(err)
			}
			steps++
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkStepOnly measures Step alone on a fixed valid sequence (parse, check, apply, format).
func BenchmarkStepOnly(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, Options{})
	actions := []string{"4 + 8 = 12 (left: 4 6 12)", "6 - 4 = 2 (left: 2 12)", "2 * 12 = 24 (left: 24)", "Answer: (6 - 4) * (4 + 8) = 24"}
	steps := 0
	for b.Loop() {
		if _, err := e.ResetInput(ctx, []int{4, 4, 6, 8}); err != nil {
			b.Fatal(err)
		}
		for _, a := range actions {
			if _, err := e.Step(ctx, a); err != nil {
				b.Fatal(err)
			}
			steps++
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkExpertEpisodes follows ExpertAction to the answer, as the scripted policy does.
func BenchmarkExpertEpisodes(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, Options{})
	steps, task := 0, 0
	for b.Loop() {
		if _, err := e.Reset(ctx, task%e.NumTasks()); err != nil {
			b.Fatal(err)
		}
		task++
		for !e.Done() {
			a, _ := e.ExpertAction()
			if _, err := e.Step(ctx, a); err != nil {
				b.Fatal(err)
			}
			steps++
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

func BenchmarkSnapshotRestore(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, Options{})
	if _, err := e.Reset(ctx, 900); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := e.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Restore(s); err != nil {
			b.Fatal(err)
		}
	}
}
