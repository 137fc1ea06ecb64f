package cgo

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func trainSteps(t *testing.T, m *Model, bt *Batch, n int) {
	t.Helper()
	tr, err := m.NewTrainer(TrainConfig{LR: 1e-2, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := 0; i < n; i++ {
		if _, err := tr.Accumulate(bt, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
}

func pairBatch(seed uint64) *Batch {
	bt := pack(randSeqs(rand.New(rand.NewPCG(seed, 3)), 8, 4, 30, 64))
	bt.Pairs, bt.LossWeight = []int32{0, 1, 2, 3, 4, 5, 6, 7}, 1
	return bt
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// LoRA: the adapted model starts equal to the base, trains only adapters and the head, and
// merging the adapters gives the same scores.
func TestLoRA(t *testing.T) {
	b := openCPU(t)
	for _, fam := range []Family{Encoder, Decoder} {
		t.Run(fam.String(), func(t *testing.T) {
			cfg := tinyConfig(fam)
			base := newModel(t, b, cfg, 4)
			lm, err := b.NewModel(cfg, ModelOptions{Seed: 4, LoRARank: 4, LoRAAlpha: 8, LoRATargets: LoRAQ | LoRAV | LoRAUp})
			if err != nil {
				t.Fatal(err)
			}
			defer lm.Close()
			bt := pairBatch(1)
			s0, _ := base.Score(bt)
			s1, _ := lm.Score(bt)
			// Not bit-exact: without adapters q/k/v run as one fused product, with them separately.
			if maxDiff(s0, s1) > 1e-6 {
				t.Fatalf("fresh adapters change the scores by %g", maxDiff(s0, s1))
			}
			infos, _ := lm.Tensors()
			adapters := 0
			for _, ti := range infos {
				if strings.Contains(ti.Name, ".lora_") {
					adapters++
					if !ti.Trainable {
						t.Errorf("%s not trainable", ti.Name)
					}
				} else if ti.Trainable && !strings.HasPrefix(ti.Name, "classifier") && !strings.HasPrefix(ti.Name, "score") {
					t.Errorf("base parameter %s trainable under LoRA", ti.Name)
				}
			}
			if adapters != 2*3*cfg.NumLayers {
				t.Fatalf("%d adapter tensors, want %d", adapters, 6*cfg.NumLayers)
			}
			frozen := map[Family]string{Encoder: "bert.encoder.layer.0.attention.self.query.weight", Decoder: "model.layers.0.self_attn.q_proj.weight"}[fam]
			sz := cfg.HiddenSize * cfg.HiddenSize
			before := make([]float32, sz)
			if err := lm.ReadTensor(frozen, before); err != nil {
				t.Fatal(err)
			}
			trainSteps(t, lm, bt, 5)
			after := make([]float32, sz)
			lm.ReadTensor(frozen, after)
			if maxDiff(before, after) != 0 {
				t.Fatalf("frozen %s changed", frozen)
			}
			trained, _ := lm.Score(bt)
			if maxDiff(trained, s1) < 1e-4 {
				t.Fatal("training changed nothing")
			}
			if err := lm.MergeLoRA(); err != nil {
				t.Fatal(err)
			}
			merged, _ := lm.Score(bt)
			if d := maxDiff(trained, merged); d > 1e-4 {
				t.Fatalf("merged scores differ by %g", d)
			}
			lm.ReadTensor(frozen, after)
			if maxDiff(before, after) == 0 {
				t.Fatalf("merge did not fold adapters into %s", frozen)
			}
		})
	}
}

// Gradient checkpointing recomputes activations in backward; the training trajectory is the
// same as without it, dropout masks included (the generator is rewound for the recomputation).
func TestGradCheckpointingSameSteps(t *testing.T) {
	b := openCPU(t)
	for _, fam := range []Family{Encoder, Decoder} {
		t.Run(fam.String(), func(t *testing.T) {
			cfg := tinyConfig(fam)
			cfg.HiddenDropout, cfg.AttentionDropout = 0.1, 0.1
			plain, err := b.NewModel(cfg, ModelOptions{Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			ck, err := b.NewModel(cfg, ModelOptions{Seed: 2, GradCheckpointing: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			bt := pairBatch(2)
			trainSteps(t, plain, bt, 4)
			trainSteps(t, ck, bt, 4)
			a, _ := plain.Score(bt)
			c, _ := ck.Score(bt)
			if d := maxDiff(a, c); d > 1e-5 {
				t.Fatalf("checkpointed training diverged by %g", d)
			}
		})
	}
}

// LoRA with gradient checkpointing trains the adapters exactly as without it (the frozen
// embeddings must not stop the checkpointed layers from backpropagating).
func TestLoRAWithGradCheckpointing(t *testing.T) {
	b := openCPU(t)
	for _, fam := range []Family{Encoder, Decoder} {
		t.Run(fam.String(), func(t *testing.T) {
			cfg := tinyConfig(fam)
			opt := ModelOptions{Seed: 6, LoRARank: 4, LoRAAlpha: 8}
			plain, err := b.NewModel(cfg, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Close()
			opt.GradCheckpointing = true
			ck, err := b.NewModel(cfg, opt)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			bt := pairBatch(3)
			trainSteps(t, plain, bt, 3)
			trainSteps(t, ck, bt, 3)
			name := map[Family]string{Encoder: "bert.encoder.layer.0.attention.self.value.lora_B.weight", Decoder: "model.layers.0.self_attn.v_proj.lora_B.weight"}[fam]
			n := 4 * cfg.HiddenSize
			if fam == Decoder {
				n = 4 * cfg.HiddenSize / cfg.NumHeads * cfg.NumKVHeads
			}
			lb := make([]float32, n)
			if err := ck.ReadTensor(name, lb); err != nil {
				t.Fatal(err)
			}
			if maxDiff(lb, make([]float32, n)) == 0 {
				t.Fatalf("%s stayed zero under checkpointing", name)
			}
			a, _ := plain.Score(bt)
			c, _ := ck.Score(bt)
			if d := maxDiff(a, c); d > 1e-5 {
				t.Fatalf("checkpointed LoRA training diverged by %g", d)
			}
		})
	}
}

// LoRA in bf16 with the fused kernels: the frozen base layers run as linear.cpp's functions from
// the step's batched casts, the adapters beside them. The adapters' first gradients (read back as
// the optimizer's first moments) agree with ATen's operations to bf16 rounding. Gradients, not
// scores: a fresh tiny model's scores hardly depend on its layers' weights.
func TestLoRABF16FusedMatchesUnfused(t *testing.T) {
	b := openCPU(t)
	cfg := tinyConfig(Encoder)
	bt := pairBatch(2)
	moments := map[Fusion]map[string][]float32{}
	for _, f := range []Fusion{FusionOn, FusionOff} {
		m, err := b.NewModel(cfg, ModelOptions{Seed: 6, ComputeDType: BF16, LoRARank: 4, LoRAAlpha: 8,
			LoRATargets: LoRAQ | LoRAV | LoRAUp, FusedKernels: f})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		tr, err := m.NewTrainer(TrainConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if _, _, err := tr.TrainStep([]*Batch{bt}); err != nil {
			t.Fatal(err)
		}
		infos, err := tr.Tensors()
		if err != nil {
			t.Fatal(err)
		}
		moments[f] = map[string][]float32{}
		for _, ti := range infos {
			if strings.HasPrefix(ti.Name, "exp_avg.") && strings.Contains(ti.Name, ".lora_") {
				v := make([]float32, ti.Numel)
				if err := tr.ReadTensor(ti.Name, v); err != nil {
					t.Fatal(err)
				}
				moments[f][ti.Name] = v
			}
		}
	}
	nonzero := 0
	for name, want := range moments[FusionOff] {
		got := moments[FusionOn][name]
		scale := 0.0
		for _, w := range want {
			scale = math.Max(scale, math.Abs(float64(w)))
		}
		if scale == 0 {
			continue // lora_A: no gradient while lora_B is zero
		}
		nonzero++
		if d := maxDiff(got, want) / scale; d > 0.05 {
			t.Errorf("%s: fused and unfused gradients differ by %.3g of their largest", name, d)
		}
	}
	if nonzero == 0 {
		t.Fatal("no adapter received a gradient")
	}
}
