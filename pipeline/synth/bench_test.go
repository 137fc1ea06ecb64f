package synth

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkSynth measures end-to-end synthesis per env with the default mix and scripted
// policies: go test ./pipeline/synth -run XXX -bench Synth
func BenchmarkSynth(b *testing.B) {
	for _, envName := range []string{"game24", "shop", "household"} {
		b.Run(envName, func(b *testing.B) {
			const n = 500
			var trips, steps int64
			seed := uint64(0)
			for b.Loop() {
				seed++
				cfg := DefaultConfig()
				cfg.Env, cfg.Triplets, cfg.Seed = envName, n, seed
				cfg.Workers = runtime.GOMAXPROCS(0)
				cfg.Out = filepath.Join(b.TempDir(), "t.jsonl")
				sum, err := Run(context.Background(), cfg, Deps{})
				if err != nil {
					b.Fatal(err)
				}
				trips += int64(sum.Triplets)
				steps += sum.EnvSteps
			}
			b.ReportMetric(float64(trips)/b.Elapsed().Minutes(), "triplets/min")
			b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "env-steps/s")
		})
	}
}
