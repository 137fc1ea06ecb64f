package bench

import (
	"context"
	"runtime"
	"testing"

	"github.com/armap/armap/cgo"
)

func backend(t testing.TB) *cgo.Backend {
	b, err := cgo.OpenDevice("cpu")
	if err != nil {
		t.Fatalf("the CPU backend is needed for this test (run `make backend`): %v", err)
	}
	b.SetThreads(runtime.NumCPU())
	return b
}

// The GPU workloads run end to end on CPU when shrunk: the harness that `armap bench gpu` uses
// on a CUDA host is exercised here without one.
func TestShrunkGPUWorkloadsRun(t *testing.T) {
	b := backend(t)
	for _, w := range GPU() {
		w.Steps, w.Warmup = 1, 0
		w.Count = max(w.Count/16, 1)
		w.MaxLen = min(w.MaxLen, 96)
		w.MinLen = min(w.MinLen, w.MaxLen)
		r, err := Run(context.Background(), b, w, Options{Device: cgo.CPU, Shrink: 8, Seed: 1})
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		if r.RealTokensPerS <= 0 || (w.Train && r.PairsPerS <= 0) || (!w.Train && r.SeqsPerS <= 0) {
			t.Fatalf("%s: %+v", w.Name, r)
		}
	}
}

func TestBatchesShapes(t *testing.T) {
	w := Workload{Train: true, Count: 4, MinLen: 5, MaxLen: 9, PairedLengths: true}
	bs, real := batches(w, 100, 3, 1)
	for i, b := range bs {
		if b.NumSeqs() != 8 || len(b.Pairs) != 8 || real[i] != len(b.Tokens) {
			t.Fatalf("batch %d: %d seqs, %d pair idx, real %d tokens %d", i, b.NumSeqs(), len(b.Pairs), real[i], len(b.Tokens))
		}
		for j := 0; j < 4; j++ {
			lc := b.CuSeqlens[j+1] - b.CuSeqlens[j]
			lr := b.CuSeqlens[j+5] - b.CuSeqlens[j+4]
			if lc != lr || lc < 5 || lc > 9 {
				t.Fatalf("paired lengths %d %d", lc, lr)
			}
		}
	}
}

// BenchmarkCPU runs the cpu_peer.py workloads; compare with `/usr/bin/python3 shared/bench/cpu_peer.py 2`
// in the same session (or use `armap bench train --peer`).
func BenchmarkCPU(b *testing.B) {
	be := backend(b)
	for _, w := range CPU() {
		b.Run(w.Name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r, err := Run(context.Background(), be, w, Options{Device: cgo.CPU, Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(r.RealTokensPerS, "tokens/s")
				if w.Train {
					b.ReportMetric(r.PairsPerS, "pairs/s")
				} else {
					b.ReportMetric(r.SeqsPerS, "seqs/s")
				}
			}
		})
	}
}
