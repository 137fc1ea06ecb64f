// Package bench measures training and scoring throughput on the workloads of the peer scripts
// in shared/bench (cpu_peer.py on CPU; peer_bench.py and varlen_bench.py on GPU), so that armap
// and the peer are timed on the same shapes in the same run and compared as ratios.
package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"time"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
)

// Workload is one measured job.
type Workload struct {
	Name   string `json:"name"`
	Model  string `json:"model"` // preset
	Train  bool   `json:"train"` // train step on pairs, else scoring
	Count  int    `json:"count"` // pairs per step (train) or sequences per batch (score)
	MinLen int    `json:"min_len"`
	MaxLen int    `json:"max_len"`
	Steps  int    `json:"steps"`  // timed steps / batches
	Warmup int    `json:"warmup"` // untimed first steps
	// PairedLengths gives chosen and rejected of a pair the same length (peer_bench's fixed shapes).
	PairedLengths bool `json:"-"`
	// NoGraphs scores with the eager forward on every call (no captured CUDA graphs).
	NoGraphs bool `json:"-"`
	// FusedKernels overrides Options.FusedKernels for this workload (the _unfused variants: ATen's
	// operations only, beside the default fused kernels; _normonly: the LayerNorm kernels alone).
	FusedKernels cgo.Fusion `json:"-"`
	// Serial reads each training step back before launching the next (the _serial variant: what
	// launching steps ahead saves).
	Serial bool `json:"-"`
	// Attention is the model's attention kernel (the _cudnn variants).
	Attention cgo.Attention `json:"-"`
}

// CPU workloads: the shapes of shared/bench/cpu_peer.py (bert-mini, 16 pairs per step).
func CPU() []Workload {
	return []Workload{
		{Name: "C1_train_varlen", Model: "bert-mini", Train: true, Count: 16, MinLen: 32, MaxLen: 256, Steps: 8, Warmup: 2},
		{Name: "C3_train_fixed128", Model: "bert-mini", Train: true, Count: 16, MinLen: 128, MaxLen: 128, Steps: 8, Warmup: 2},
		{Name: "C2_score_varlen", Model: "bert-mini", Count: 64, MinLen: 32, MaxLen: 256, Steps: 6, Warmup: 1},
	}
}

// GPU workloads: the shapes of issue 6 (peer_bench.py and varlen_bench.py on one H100), then
// variant rows: a workload again on another code path, derived from its row so that the two
// cannot drift apart (BaseWorkload maps a variant's name back for its peer figure).
func GPU() []Workload {
	t1 := Workload{Name: "T1", Model: "bert-base", Train: true, Count: 32, MinLen: 512, MaxLen: 512, Steps: 10, Warmup: 3}
	t2 := Workload{Name: "T2", Model: "llama-1b", Train: true, Count: 8, MinLen: 512, MaxLen: 512, Steps: 5, Warmup: 3}
	t3 := Workload{Name: "T3", Model: "bert-base", Train: true, Count: 32, MinLen: 64, MaxLen: 1024, Steps: 10, Warmup: 3}
	s1 := Workload{Name: "S1", Model: "bert-base", Count: 256, MinLen: 512, MaxLen: 512, Steps: 10, Warmup: 3}
	s2 := Workload{Name: "S2", Model: "bert-base", Count: 1, MinLen: 256, MaxLen: 256, Steps: 30, Warmup: 3}
	s3 := Workload{Name: "S3", Model: "bert-base", Count: 256, MinLen: 64, MaxLen: 1024, Steps: 6, Warmup: 2}
	s4 := Workload{Name: "S4", Model: "llama-1b", Count: 64, MinLen: 512, MaxLen: 512, Steps: 5, Warmup: 3}
	variant := func(w Workload, suffix string, set func(*Workload)) Workload {
		w.Name += suffix
		set(&w)
		return w
	}
	unfused := func(w *Workload) { w.FusedKernels = cgo.FusionOff }
	cudnn := func(w *Workload) { w.Attention = cgo.AttentionCuDNN }
	normOnly := func(w *Workload) { w.FusedKernels = cgo.FusionNorm }
	serial := func(w *Workload) { w.Serial = true }
	return []Workload{
		t1, t2, t3, s1, s2,
		// S2 without CUDA graphs: what the graphs save on a latency-bound call.
		variant(s2, "_eager", func(w *Workload) { w.NoGraphs = true }),
		s3, s4,
		// The encoder workloads with ATen's operations only, beside the default fused kernels.
		variant(t1, "_unfused", unfused),
		variant(t3, "_unfused", unfused),
		variant(s1, "_unfused", unfused),
		variant(s3, "_unfused", unfused),
		// T1 and T3 taken apart: without the linear layers' own backward, and one step at a time.
		// T3 too, because its shapes change every step (new GEMM shapes, the caching allocator's
		// blocks), which T1's do not.
		variant(t1, "_normonly", normOnly),
		variant(t1, "_serial", serial),
		variant(t3, "_normonly", normOnly),
		variant(t3, "_serial", serial),
		// cuDNN's attention for the fixed-length workloads, last, so that a CUDA error in it cannot
		// cost the rows above. Not T1: cuDNN draws dropout in steps of 1/16 and bert-base's
		// attention dropout is 0.1, which the backend refuses to train with it.
		variant(t2, "_cudnn", cudnn),
		variant(s1, "_cudnn", cudnn),
	}
}

// Result is one workload's measurement.
type Result struct {
	Workload       string  `json:"workload"`
	Model          string  `json:"model"`
	ParamsM        float64 `json:"params_M"`
	PairsPerS      float64 `json:"pairs_per_s,omitempty"`
	SeqsPerS       float64 `json:"seqs_per_s,omitempty"`
	RealTokensPerS float64 `json:"real_tokens_per_s"`
	LatencyMS      float64 `json:"latency_ms"` // the median step / batch
	// MeanStepMS is the timed steps' mean, the figure that the throughput is the inverse of. Where
	// lengths vary, steps differ in size and the median says little: compare rows by this.
	MeanStepMS float64   `json:"mean_step_ms,omitempty"`
	StepMS     []float64 `json:"-"`
	Lengths    string    `json:"lengths"`
	Threads    int       `json:"threads,omitempty"`
	Device     string    `json:"device"`
	DType      string    `json:"dtype"`
	// FusedKernels is the setting the model was built with (auto, on, off or norm).
	FusedKernels string `json:"fused_kernels"`
	// LaunchAhead is how many training steps were in flight at most (1: each read back before the next).
	LaunchAhead int `json:"launch_ahead,omitempty"`
	// Attention is the attention setting (auto, flash or cudnn).
	Attention string `json:"attention"`
	// Trace is the Chrome trace of the profiled steps and Profile its top entries (Options.ProfileDir).
	Trace        string       `json:"trace,omitempty"`
	Profile      []KernelTime `json:"profile,omitempty"`
	ProfileError string       `json:"profile_error,omitempty"`
}

// Options say where and how to run.
type Options struct {
	Device   cgo.Device
	DType    cgo.DType
	Seed     uint64
	Shrink   int // divide hidden sizes / layers for a quick CPU run of the GPU workloads (0 or 1: full)
	Override *model.Config
	// FusedKernels is the fused residual + dropout + LayerNorm setting of every workload that does
	// not set its own.
	FusedKernels cgo.Fusion
	// ProfileDir, when set, runs ProfileSteps more steps (default 2) after the timed ones under the
	// Kineto profiler and saves their trace there as <workload>.trace.json; the result carries
	// the top kernels (CUDA) or operators (CPU) by time. The timed steps are not profiled.
	ProfileDir   string
	ProfileSteps int
}

// batches draws the workload's token sequences: 2*Count per train step, Count per score batch.
func batches(w Workload, vocab int, n int, seed uint64) ([]*cgo.Batch, []int) {
	r := rand.New(rand.NewPCG(seed, 77))
	var out []*cgo.Batch
	var real []int
	for i := 0; i < n; i++ {
		seqs := w.Count
		if w.Train {
			seqs = 2 * w.Count
		}
		b := &cgo.Batch{CuSeqlens: []int32{0}}
		lens := make([]int, seqs)
		for j := range lens {
			lens[j] = w.MinLen + r.IntN(w.MaxLen-w.MinLen+1)
			if w.Train && w.PairedLengths && j >= w.Count {
				lens[j] = lens[j-w.Count]
			}
		}
		tot := 0
		for _, l := range lens {
			for k := 0; k < l; k++ {
				b.Tokens = append(b.Tokens, int32(1+r.IntN(vocab-1)))
			}
			b.CuSeqlens = append(b.CuSeqlens, int32(len(b.Tokens)))
			tot += l
		}
		if w.Train {
			// pairs (i, i+Count) as the peers do: r[:pairs] - r[pairs:]
			for j := 0; j < w.Count; j++ {
				b.Pairs = append(b.Pairs, int32(j), int32(j+w.Count))
			}
			b.LossWeight = 1
		}
		out = append(out, b)
		real = append(real, tot)
	}
	return out, real
}

// Run measures one workload on backend b.
func Run(ctx context.Context, b *cgo.Backend, w Workload, opt Options) (*Result, error) {
	// One OS thread for the whole workload: PyTorch keeps per-thread state on CUDA (cuBLAS
	// handles, cuDNN's built attention graphs), and a call that lands on a new thread pays to
	// build it again, inside a timed step.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	mc, err := model.Preset(w.Model)
	if err != nil {
		return nil, err
	}
	if opt.Override != nil {
		mc = opt.Override
	}
	if opt.Shrink > 1 {
		s := opt.Shrink
		heads := max(mc.NumHeads/s, 1)
		mc.HiddenSize = heads * (mc.HiddenSize / mc.NumHeads)
		mc.NumHeads = heads
		mc.NumKVHeads = max(min(mc.NumKVHeads, heads), 1)
		for mc.NumHeads%mc.NumKVHeads != 0 {
			mc.NumKVHeads--
		}
		mc.IntermediateSize = max(mc.IntermediateSize/s, 8)
		mc.NumLayers = max(mc.NumLayers/s, 1)
		mc.VocabSize = max(mc.VocabSize/s, 64)
	}
	if w.MaxLen > mc.MaxPositions {
		return nil, fmt.Errorf("%s: sequences of %d tokens exceed %s's %d positions", w.Name, w.MaxLen, w.Model, mc.MaxPositions)
	}
	// The preset's dropout stays on for training, as the peers train HF models in train mode
	// with their default dropout (0.1 for BERT).
	cfg := mc.Backend()
	fused := w.FusedKernels
	if fused == cgo.FusionDefault {
		fused = opt.FusedKernels
	}
	m, err := b.NewModel(cfg, cgo.ModelOptions{Device: opt.Device, ComputeDType: opt.DType, Seed: opt.Seed, NoCUDAGraphs: w.NoGraphs,
		FusedKernels: fused, Attention: w.Attention})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	params, _ := m.NumParams()
	total := w.Warmup + w.Steps
	bs, real := batches(w, mc.VocabSize, total, opt.Seed)
	res := &Result{Workload: w.Name, Model: w.Model, ParamsM: float64(params) / 1e6, Lengths: fmt.Sprintf("U[%d,%d]", w.MinLen, w.MaxLen),
		Threads: b.Info().Threads, Device: b.Info().DeviceName, DType: dtypeName(opt.DType), FusedKernels: fused.String(),
		Attention: w.Attention.String()}
	ahead := cgo.MaxPendingSteps
	if w.Serial {
		ahead = 1
	}
	if w.Train {
		res.LaunchAhead = ahead
	}
	var tr *cgo.Trainer
	if w.Train {
		tr, err = m.NewTrainer(cgo.TrainConfig{LR: 1e-5, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1})
		if err != nil {
			return nil, err
		}
		defer tr.Close()
	}
	// Training steps are pipelined as a trainer loop would run them: each step is launched before
	// the previous one is read back, so the host prepares it while the GPU runs the previous
	// (unless the workload is Serial). A step's time is the interval between successive finishes.
	step := func(bt *cgo.Batch) error {
		if tr != nil {
			if err := tr.LaunchStep([]*cgo.Batch{bt}); err != nil {
				return err
			}
			if tr.Pending() >= ahead {
				_, _, err := tr.FinishStep()
				return err
			}
			return nil
		}
		_, err := m.Score(bt)
		return err
	}
	drain := func() error {
		for tr != nil && tr.Pending() > 0 {
			if _, _, err := tr.FinishStep(); err != nil {
				return err
			}
		}
		return nil
	}
	var elapsed time.Duration
	realTokens := 0
	for i, bt := range bs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if i == w.Warmup {
			// The timed steps start from an idle device.
			if err := drain(); err != nil {
				return nil, fmt.Errorf("%s: %w", w.Name, err)
			}
		}
		t := time.Now()
		err := step(bt)
		if err == nil && i == len(bs)-1 {
			err = drain()
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w.Name, err)
		}
		if i >= w.Warmup {
			d := time.Since(t)
			elapsed += d
			res.StepMS = append(res.StepMS, float64(d.Microseconds())/1e3)
			realTokens += real[i]
		}
	}
	s := elapsed.Seconds()
	res.RealTokensPerS = float64(realTokens) / s
	if w.Train {
		res.PairsPerS = float64(w.Count*w.Steps) / s
	} else {
		res.SeqsPerS = float64(w.Count*w.Steps) / s
	}
	sorted := append([]float64(nil), res.StepMS...)
	sort.Float64s(sorted)
	res.LatencyMS = sorted[len(sorted)/2]
	res.MeanStepMS = s * 1e3 / float64(len(res.StepMS))
	if opt.ProfileDir != "" {
		n := opt.ProfileSteps
		if n <= 0 {
			n = 2
		}
		n = min(n, len(bs))
		// A failed profile costs the profile only, not the timing already taken.
		res.Trace, res.Profile, err = profileSteps(b, opt.ProfileDir, w.Name, opt.Device == cgo.CUDA, bs[len(bs)-n:], step, drain, 25)
		if err != nil {
			res.ProfileError = err.Error()
		}
	}
	return res, nil
}

// PerStepMS is the mean step, or the median where a report written before the mean was kept has
// only that.
func (r *Result) PerStepMS() float64 {
	if r.MeanStepMS > 0 {
		return r.MeanStepMS
	}
	return r.LatencyMS
}

func dtypeName(d cgo.DType) string {
	switch d {
	case cgo.BF16:
		return "bf16"
	case cgo.F16:
		return "f16"
	}
	return "f32"
}
