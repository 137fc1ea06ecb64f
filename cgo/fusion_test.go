package cgo

import (
	"math"
	"testing"
)

// score fails the test on an error: a failed call must not pass a comparison as nil == nil.
func score(t *testing.T, m *Model, bt *Batch) []float32 {
	t.Helper()
	s, err := m.Score(bt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readTensor(t *testing.T, m *Model, name string, n int) []float32 {
	t.Helper()
	out := make([]float32, n)
	if err := m.ReadTensor(name, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The fused residual + dropout + LayerNorm is the same function as the unfused one: without
// dropout, scores and a few training steps (whose updates carry every gradient of the block:
// the input's, the residual's and the norm's weight and bias) agree to float32 rounding.
func TestFusedKernelsMatchesUnfused(t *testing.T) {
	b := openCPU(t)
	cfg := tinyConfig(Encoder)
	models := map[Fusion]*Model{}
	for _, f := range []Fusion{FusionOn, FusionOff, FusionNorm} {
		m, err := b.NewModel(cfg, ModelOptions{Seed: 5, FusedKernels: f})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		models[f] = m
	}
	bt := pairBatch(3)
	if d := maxDiff(score(t, models[FusionOn], bt), score(t, models[FusionOff], bt)); d > 1e-5 {
		t.Fatalf("fresh scores differ by %g", d)
	}
	for _, m := range models {
		trainSteps(t, m, bt, 5)
	}
	if d := maxDiff(score(t, models[FusionOn], bt), score(t, models[FusionOff], bt)); d > 1e-4 {
		t.Fatalf("scores after 5 steps differ by %g", d)
	}
	before := newModel(t, b, cfg, 5)
	for _, name := range []string{
		"bert.encoder.layer.0.attention.output.LayerNorm.weight",
		"bert.encoder.layer.0.attention.output.LayerNorm.bias",
		"bert.encoder.layer.1.output.LayerNorm.weight",
		"bert.encoder.layer.0.output.dense.bias",
	} {
		on := readTensor(t, models[FusionOn], name, cfg.HiddenSize)
		off := readTensor(t, models[FusionOff], name, cfg.HiddenSize)
		if maxDiff(on, readTensor(t, before, name, cfg.HiddenSize)) < 1e-3 {
			t.Fatalf("%s did not train", name)
		}
		if d := maxDiff(on, off); d > 1e-4 {
			t.Errorf("%s: fused and unfused training differ by %g", name, d)
		}
		if d := maxDiff(readTensor(t, models[FusionNorm], name, cfg.HiddenSize), off); d > 1e-4 {
			t.Errorf("%s: LayerNorm-only fused and unfused training differ by %g", name, d)
		}
	}
}

// With dropout the fused block draws its own masks (a hash of a per-call key), not ATen's: the
// same seed repeats its losses exactly, and they differ from the unfused path's, which shows that
// the option selects the path.
func TestFusedKernelsDropout(t *testing.T) {
	b := openCPU(t)
	cfg := tinyConfig(Encoder)
	cfg.HiddenDropout = 0.2
	run := func(f Fusion) []float64 {
		m, err := b.NewModel(cfg, ModelOptions{Seed: 9, FusedKernels: f})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		// A negligible learning rate: the weights stay put, so the losses differ only by the masks.
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
			if _, err := tr.Step(); err != nil {
				t.Fatal(err)
			}
			losses = append(losses, st.Loss)
		}
		return losses
	}
	a, again, unfused, norm := run(FusionOn), run(FusionOn), run(FusionOff), run(FusionNorm)
	for i := range a {
		if a[i] != again[i] {
			t.Fatalf("step %d: same seed, losses %v and %v", i, a[i], again[i])
		}
	}
	if a[0] == a[1] && a[1] == a[2] {
		t.Fatalf("the dropout masks did not change between steps: %v", a)
	}
	same := 0
	for i := range a {
		if a[i] == unfused[i] {
			same++
		}
	}
	if same == len(a) {
		t.Fatalf("fused and unfused dropout gave the same losses %v: the option changed nothing", a)
	}
	// norm keeps the fused block, and so its masks: the losses are the fused ones (up to the
	// rounding of the linear layers' other backward in the negligible updates).
	for i := range a {
		if math.Abs(norm[i]-a[i]) > 1e-6 {
			t.Fatalf("step %d: fused_kernels norm loss %v, fused %v (unfused %v): norm did not keep the fused block", i, norm[i], a[i], unfused[i])
		}
	}
}
