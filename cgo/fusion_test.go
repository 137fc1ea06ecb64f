package cgo

import (
	"math"
	"testing"
)

// The fused residual + dropout + LayerNorm is the same function as the unfused one: without
// dropout, scores and a few training steps (whose updates carry every gradient of the block:
// the input's, the residual's and the norm's weight and bias) agree to float32 rounding.
func TestFusedAddNormMatchesUnfused(t *testing.T) {
	b := openCPU(t)
	cfg := tinyConfig(Encoder)
	models := map[Fusion]*Model{}
	for _, f := range []Fusion{FusionOn, FusionOff} {
		m, err := b.NewModel(cfg, ModelOptions{Seed: 5, FusedAddNorm: f})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		models[f] = m
	}
	bt := pairBatch(3)
	on, _ := models[FusionOn].Score(bt)
	off, _ := models[FusionOff].Score(bt)
	if d := maxDiff(on, off); d > 1e-5 {
		t.Fatalf("fresh scores differ by %g", d)
	}
	for _, m := range models {
		trainSteps(t, m, bt, 5)
	}
	on, _ = models[FusionOn].Score(bt)
	off, _ = models[FusionOff].Score(bt)
	if d := maxDiff(on, off); d > 1e-4 {
		t.Fatalf("scores after 5 steps differ by %g", d)
	}
	before, _ := b.NewModel(cfg, ModelOptions{Seed: 5})
	defer before.Close()
	for _, name := range []string{
		"bert.encoder.layer.0.attention.output.LayerNorm.weight",
		"bert.encoder.layer.0.attention.output.LayerNorm.bias",
		"bert.encoder.layer.1.output.LayerNorm.weight",
		"bert.encoder.layer.0.output.dense.bias",
	} {
		w := map[Fusion][]float32{FusionOn: make([]float32, cfg.HiddenSize), FusionOff: make([]float32, cfg.HiddenSize)}
		for f, m := range models {
			if err := m.ReadTensor(name, w[f]); err != nil {
				t.Fatal(err)
			}
		}
		init := make([]float32, cfg.HiddenSize)
		before.ReadTensor(name, init)
		if maxDiff(w[FusionOn], init) < 1e-3 {
			t.Fatalf("%s did not train", name)
		}
		if d := maxDiff(w[FusionOn], w[FusionOff]); d > 1e-4 {
			t.Errorf("%s: fused and unfused training differ by %g", name, d)
		}
	}
}

// With dropout the fused block draws its own masks: training still learns, the masks change from
// step to step, and the same seed repeats them exactly.
func TestFusedAddNormDropout(t *testing.T) {
	b := openCPU(t)
	cfg := tinyConfig(Encoder)
	cfg.HiddenDropout = 0.2
	run := func() []float64 {
		m, err := b.NewModel(cfg, ModelOptions{Seed: 9, FusedAddNorm: FusionOn})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		tr, err := m.NewTrainer(TrainConfig{LR: 1e-9, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		bt := pairBatch(4)
		var losses []float64
		for i := 0; i < 4; i++ {
			st, err := tr.Accumulate(bt, nil)
			if err != nil {
				t.Fatal(err)
			}
			tr.Step()
			losses = append(losses, st.Loss)
		}
		return losses
	}
	a, c := run(), run()
	for i := range a {
		if a[i] != c[i] {
			t.Fatalf("step %d: same seed, losses %v and %v", i, a[i], c[i])
		}
	}
	// With a negligible learning rate the weights stay put, so different losses mean different masks.
	if math.Abs(a[0]-a[1]) < 1e-6 && math.Abs(a[1]-a[2]) < 1e-6 {
		t.Fatalf("the dropout masks did not change between steps: %v", a)
	}
}
