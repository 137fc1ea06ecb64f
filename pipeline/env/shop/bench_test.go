package shop

import (
	"context"
	"math/rand/v2"
	"testing"
)

func BenchmarkCatalogBuild(b *testing.B) {
	for b.Loop() {
		if _, err := NewCatalog(Config{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpertEpisode runs whole expert episodes (search, click, options, buy) and reports
// env steps per second, the expert's own work included.
func BenchmarkExpertEpisode(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	steps := 0
	task := 0
	for b.Loop() {
		e.Reset(ctx, task%e.NumTasks())
		task++
		for {
			a, _ := e.ExpertAction()
			r, err := e.Step(ctx, a)
			if err != nil {
				b.Fatal(err)
			}
			steps++
			if r.Done {
				break
			}
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}

// BenchmarkRandomStep takes uniformly random admissible actions (a search now and then, page
// turns, item views, option clicks, purchases): the raw env step rate.
func BenchmarkRandomStep(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 1))
	e.Reset(ctx, 0)
	for b.Loop() {
		adm := e.Admissible()
		if len(adm) == 0 {
			e.Reset(ctx, rng.IntN(e.NumTasks()))
			continue
		}
		if _, err := e.Step(ctx, adm[rng.IntN(len(adm))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
}

func BenchmarkSearch(b *testing.B) {
	c := mustCatalog(b)
	scratch := make([]float64, len(c.Products))
	i := 0
	for b.Loop() {
		g, _ := c.Goal(i % c.NumTasks())
		c.index.Search(RuleQuery(g.Instruction), MaxResults, scratch)
		i++
	}
}

func BenchmarkSnapshotRestore(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	e.Reset(ctx, 0)
	e.Step(ctx, "search[running shoes]")
	for b.Loop() {
		s, _ := e.Snapshot()
		if err := e.Restore(s); err != nil {
			b.Fatal(err)
		}
	}
}
