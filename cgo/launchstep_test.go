package cgo

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// Launched steps, finished one behind, must give exactly what TrainStep gives step by step: the
// same stats in launch order and the same weights at the end.
func TestLaunchFinishEqualsTrainStep(t *testing.T) {
	b := openCPU(t)
	r := rand.New(rand.NewPCG(5, 6))
	var steps [][]*Batch
	for s := 0; s < 4; s++ {
		var micro []*Batch
		for i := 0; i < 1+s%2; i++ { // one or two micro-batches a step
			bt := pack(randSeqs(r, 4, 3, 20, 64))
			bt.Pairs = []int32{0, 1, 2, 3}
			bt.LossWeight = 1
			micro = append(micro, bt)
		}
		steps = append(steps, micro)
	}
	cfg := TrainConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1}
	type result struct {
		bs []BatchStats
		ss StepStats
	}
	run := func(pipelined bool) ([]result, []float32) {
		m := newModel(t, b, tinyConfig(Encoder), 11)
		tr := newTrainer(t, m, cfg)
		var out []result
		finish := func() {
			bs, ss, err := tr.FinishStep()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, result{bs, ss})
		}
		for i, micro := range steps {
			if !pipelined {
				bs, ss, err := tr.TrainStep(micro)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, result{bs, ss})
				continue
			}
			if err := tr.LaunchStep(micro); err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				finish()
			}
		}
		if pipelined {
			if n := tr.Pending(); n != 1 {
				t.Fatalf("%d steps pending before the last finish, want 1", n)
			}
			finish()
		}
		w := make([]float32, 32)
		if err := m.ReadTensor("classifier.weight", w); err != nil {
			t.Fatal(err)
		}
		return out, w
	}
	want, wantW := run(false)
	got, gotW := run(true)
	if len(got) != len(want) {
		t.Fatalf("%d finished steps, want %d", len(got), len(want))
	}
	for s := range want {
		if got[s].ss != want[s].ss {
			t.Errorf("step %d: step stats %+v, want %+v", s, got[s].ss, want[s].ss)
		}
		if len(got[s].bs) != len(want[s].bs) {
			t.Fatalf("step %d: %d batch stats, want %d", s, len(got[s].bs), len(want[s].bs))
		}
		for i := range want[s].bs {
			if got[s].bs[i] != want[s].bs[i] {
				t.Errorf("step %d micro-batch %d: %+v, want %+v", s, i, got[s].bs[i], want[s].bs[i])
			}
		}
	}
	for i := range wantW {
		if gotW[i] != wantW[i] {
			t.Fatalf("weight %d: %v after launched steps, want %v", i, gotW[i], wantW[i])
		}
	}
}

// What may not interleave with a pending step says so, and nothing is left half done.
func TestLaunchStepRules(t *testing.T) {
	b := openCPU(t)
	r := rand.New(rand.NewPCG(7, 8))
	bt := pack(randSeqs(r, 4, 3, 20, 64))
	bt.Pairs = []int32{0, 1, 2, 3}
	bt.LossWeight = 1
	m := newModel(t, b, tinyConfig(Encoder), 3)
	tr := newTrainer(t, m, adamW)
	if _, _, err := tr.FinishStep(); err == nil || !strings.Contains(err.Error(), "no launched step") {
		t.Fatalf("FinishStep with nothing launched: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := tr.LaunchStep([]*Batch{bt}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.LaunchStep([]*Batch{bt}); err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("a third launch: %v", err)
	}
	checks := []struct {
		name string
		call func() error
	}{
		{"Accumulate", func() error { _, err := tr.Accumulate(bt, nil); return err }},
		{"Step", func() error { _, err := tr.Step(); return err }},
		{"TrainStep", func() error { _, _, err := tr.TrainStep([]*Batch{bt}); return err }},
		{"SetStep", func() error { return tr.SetStepCount(0) }},
	}
	for _, c := range checks {
		if err := c.call(); err == nil || !strings.Contains(err.Error(), "pending") {
			t.Errorf("%s with launched steps pending: %v, want an error saying they are pending", c.name, err)
		}
	}
	bad := pack(randSeqs(r, 2, 3, 20, 64))
	bad.Pairs = []int32{0, 5}
	bad.LossWeight = 1
	if _, _, err := tr.FinishStep(); err != nil {
		t.Fatal(err)
	}
	if err := tr.LaunchStep([]*Batch{bad}); err == nil || !strings.Contains(err.Error(), "pair 0") {
		t.Fatalf("a bad batch: %v", err)
	}
	if n := tr.Pending(); n != 1 {
		t.Fatalf("%d steps pending after a failed launch, want 1", n)
	}
	_, ss, err := tr.FinishStep()
	if err != nil {
		t.Fatal(err)
	}
	if ss.Step != 2 {
		t.Errorf("the second launched step finished as step %d, want 2", ss.Step)
	}
	step, err := tr.StepCount()
	if err != nil {
		t.Fatal(err)
	}
	if step != 2 {
		t.Errorf("trainer at step %d after two finished steps and a failed launch, want 2", step)
	}
}
