package cgo

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// TrainStep must be exactly Accumulate over the micro-batches followed by Step: the same stats,
// the same step stats and the same weights afterwards, for either family.
func TestTrainStepEqualsAccumulateThenStep(t *testing.T) {
	for _, f := range []Family{Encoder, Decoder} {
		t.Run(f.String(), func(t *testing.T) {
			b := openCPU(t)
			r := rand.New(rand.NewPCG(3, 4))
			var micro []*Batch
			for i := 0; i < 3; i++ {
				bt := pack(randSeqs(r, 4, 3, 20, 64))
				bt.Pairs = []int32{0, 1, 2, 3}
				bt.Margins = []float32{0, 0.5}
				bt.LossWeight = 1.0 / 3
				micro = append(micro, bt)
			}
			cfg := TrainConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 0.1}
			run := func(whole bool) ([]BatchStats, StepStats, []float32) {
				m := newModel(t, b, tinyConfig(f), 7)
				tr := newTrainer(t, m, cfg)
				var bs []BatchStats
				var ss StepStats
				var err error
				for step := 0; step < 2; step++ {
					if whole {
						bs, ss, err = tr.TrainStep(micro)
					} else {
						bs = bs[:0]
						for _, mb := range micro {
							st, err := tr.Accumulate(mb, nil)
							if err != nil {
								t.Fatal(err)
							}
							bs = append(bs, st)
						}
						ss, err = tr.Step()
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				name := "score.weight"
				if f == Encoder {
					name = "classifier.weight"
				}
				w := make([]float32, 32)
				if err := m.ReadTensor(name, w); err != nil {
					t.Fatal(err)
				}
				return bs, ss, w
			}
			wantBS, wantSS, wantW := run(false)
			gotBS, gotSS, gotW := run(true)
			if len(gotBS) != len(wantBS) {
				t.Fatalf("TrainStep returned %d batch stats, want %d", len(gotBS), len(wantBS))
			}
			for i := range wantBS {
				if gotBS[i] != wantBS[i] {
					t.Errorf("micro-batch %d: stats %+v, want %+v", i, gotBS[i], wantBS[i])
				}
			}
			if gotSS != wantSS {
				t.Errorf("step stats %+v, want %+v", gotSS, wantSS)
			}
			if wantSS.GradNorm <= cfg.MaxGradNorm {
				t.Errorf("grad norm %v does not exceed max_grad_norm %v: clipping is not exercised", wantSS.GradNorm, cfg.MaxGradNorm)
			}
			for i := range wantW {
				if gotW[i] != wantW[i] {
					t.Fatalf("weight %d after TrainStep %v, after Accumulate+Step %v", i, gotW[i], wantW[i])
				}
			}
		})
	}
}

func TestTrainStepErrors(t *testing.T) {
	b := openCPU(t)
	m := newModel(t, b, tinyConfig(Encoder), 1)
	tr := newTrainer(t, m, adamW)
	good := pack([][]int32{{1, 2}, {3}})
	good.Pairs, good.LossWeight = []int32{0, 1}, 0.5
	bad := pack([][]int32{{1, 2}, {3}})
	bad.Pairs, bad.LossWeight = []int32{0, 2}, 0.5
	if _, _, err := tr.TrainStep(nil); err == nil {
		t.Error("TrainStep with no micro-batches succeeded")
	}
	_, _, err := tr.TrainStep([]*Batch{good, bad})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "micro-batch 1: pair 0 refers to sequence 2") {
		t.Fatalf("bad second micro-batch: got %v", err)
	}
	// The failed step's gradients are gone: the next step equals a fresh trainer's first step.
	_, after, err := tr.TrainStep([]*Batch{good})
	if err != nil {
		t.Fatal(err)
	}
	m2 := newModel(t, b, tinyConfig(Encoder), 1)
	tr2 := newTrainer(t, m2, adamW)
	_, fresh, err := tr2.TrainStep([]*Batch{good})
	if err != nil {
		t.Fatal(err)
	}
	if after != fresh {
		t.Errorf("step after a failed one %+v, want a fresh first step %+v (gradients left behind?)", after, fresh)
	}
}

// A step whose gradient norm is not finite fails, leaves the weights as they were and does not
// advance the step counter.
func TestTrainStepNonFiniteGradient(t *testing.T) {
	b := openCPU(t)
	m := newModel(t, b, tinyConfig(Encoder), 1)
	// A learning rate this large makes the weights overflow within a few steps.
	tr := newTrainer(t, m, TrainConfig{LR: 1e30, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
	bt := pack([][]int32{{1, 2, 3}, {4, 5}})
	bt.Pairs, bt.LossWeight = []int32{0, 1}, 1
	w := make([]float32, 32)
	for i := 0; i < 20; i++ {
		before, err := tr.StepCount()
		if err != nil {
			t.Fatal(err)
		}
		if err := m.ReadTensor("classifier.weight", w); err != nil {
			t.Fatal(err)
		}
		_, _, err = tr.TrainStep([]*Batch{bt})
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "gradient norm is not finite") {
			t.Fatalf("step %d: %v", i+1, err)
		}
		after, err := tr.StepCount()
		if err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("the skipped step moved the counter from %d to %d", before, after)
		}
		w2 := make([]float32, 32)
		if err := m.ReadTensor("classifier.weight", w2); err != nil {
			t.Fatal(err)
		}
		for j := range w {
			if w[j] != w2[j] && !(w[j] != w[j] && w2[j] != w2[j]) {
				t.Fatalf("the skipped step changed classifier.weight[%d] from %v to %v", j, w[j], w2[j])
			}
		}
		return
	}
	t.Fatal("20 steps at lr 1e30 never produced a non-finite gradient norm")
}
