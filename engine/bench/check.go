package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/armap/armap/cgo"
	"github.com/armap/armap/engine/model"
)

// DeviceCheck compares one fixture model on a device against the CPU path of the same backend.
type DeviceCheck struct {
	Model     string  `json:"model"`
	DType     string  `json:"dtype"`
	MaxRelErr float64 `json:"max_rel_err"` // |device - cpu| / max(1, |cpu|), the worst over the batch
	Tolerance float64 `json:"tolerance"`
	OK        bool    `json:"ok"`
}

// CheckDevice scores the HuggingFace fixture models (shared/fixtures/hf/models) on dev in float32
// and bf16 and compares with the CPU path: float32 within 1e-4 relative, bf16 within 2e-2.
func CheckDevice(b *cgo.Backend, fixtures string, dev cgo.Device) ([]DeviceCheck, error) {
	var out []DeviceCheck
	for _, name := range []string{"bert_tiny", "llama_tiny", "qwen2_tiny"} {
		dir := filepath.Join(fixtures, "models", name)
		var ref struct {
			InputIDs      [][]int32 `json:"input_ids"`
			AttentionMask [][]int32 `json:"attention_mask"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, &ref); err != nil {
			return nil, err
		}
		batch := &cgo.Batch{CuSeqlens: []int32{0}}
		for i, ids := range ref.InputIDs {
			for j, id := range ids {
				if ref.AttentionMask[i][j] == 1 {
					batch.Tokens = append(batch.Tokens, id)
				}
			}
			batch.CuSeqlens = append(batch.CuSeqlens, int32(len(batch.Tokens)))
		}
		score := func(d cgo.Device, dt cgo.DType) ([]float32, error) {
			m, _, _, err := model.Load(b, dir, cgo.ModelOptions{Device: d, ComputeDType: dt})
			if err != nil {
				return nil, err
			}
			defer m.Close()
			return m.Score(batch)
		}
		checks, err := againstCPU(name, dev, score)
		if err != nil {
			return nil, err
		}
		out = append(out, checks...)
	}
	return out, nil
}

// checkDType is a device dtype to compare with the CPU's float32, and its tolerance.
type checkDType struct {
	dt  cgo.DType
	tol float64
}

// againstCPU scores with score on the CPU in float32 and on dev in each of dts (default: float32
// within 1e-4 and bf16 within 2e-2).
func againstCPU(name string, dev cgo.Device, score func(cgo.Device, cgo.DType) ([]float32, error), dts ...checkDType) ([]DeviceCheck, error) {
	if len(dts) == 0 {
		dts = []checkDType{{cgo.F32, 1e-4}, {cgo.BF16, 2e-2}}
	}
	want, err := score(cgo.CPU, cgo.F32)
	if err != nil {
		return nil, err
	}
	var out []DeviceCheck
	for _, c := range dts {
		got, err := score(dev, c.dt)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", name, dtypeName(c.dt), err)
		}
		out = append(out, compareRewards(name, c.dt, got, want, c.tol))
	}
	return out, nil
}

// compareRewards is |got - want| / max(1, |want|), the worst over the batch, against tol.
func compareRewards(model string, dt cgo.DType, got, want []float32, tol float64) DeviceCheck {
	worst := 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i]))/math.Max(1, math.Abs(float64(want[i]))))
	}
	return DeviceCheck{Model: model, DType: dtypeName(dt), MaxRelErr: worst, Tolerance: tol, OK: worst <= tol}
}

// CheckPresetDevice scores a batch with a from-scratch preset (full size: bert-base) on dev and
// on the CPU, as CheckDevice does for the fixtures: the device kernels are exercised at real
// layer sizes, where the tiny fixtures could hide a shape-dependent fault. fused selects the
// device model's residual + dropout + LayerNorm path; the CPU reference always runs ATen's unfused
// operations, so that a mistake shared by both fused implementations still shows. With the
// fused kernels forced on, only bf16 is checked: their float32 form does not take bert-base's
// width, and the model refuses it.
// attn selects the device model's attention (see forAttention); cuDNN's is checked in bf16 only.
func CheckPresetDevice(b *cgo.Backend, preset string, dev cgo.Device, fused cgo.Fusion, attn cgo.Attention) ([]DeviceCheck, error) {
	mc, err := model.Preset(preset)
	if err != nil {
		return nil, err
	}
	w, name := forAttention(Workload{Count: 4, MinLen: 64, MaxLen: 512}, preset+fused.Suffix(), attn)
	bs, _ := batches(w, mc.VocabSize, 1, 17)
	score := func(d cgo.Device, dt cgo.DType) ([]float32, error) {
		opt := cgo.ModelOptions{Device: d, ComputeDType: dt, Seed: 17, FusedKernels: cgo.FusionOff}
		if d == dev {
			opt.FusedKernels, opt.Attention = fused, attn
		}
		m, err := b.NewModel(mc.Backend(), opt)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		return m.Score(bs[0])
	}
	dts := []checkDType{{cgo.F32, 1e-4}, {cgo.BF16, 2e-2}}
	if fused == cgo.FusionOn || attn == cgo.AttentionCuDNN {
		dts = dts[1:]
	}
	return againstCPU(name, dev, score, dts...)
}

// forAttention fits a check's batches and name to the attention it runs: cuDNN's takes only
// batches whose sequences all have one length (others run flash), so there every sequence is
// MaxLen long, and the name says +cudnn.
func forAttention(w Workload, name string, attn cgo.Attention) (Workload, string) {
	if attn == cgo.AttentionCuDNN {
		w.MinLen = w.MaxLen
		name += "+cudnn"
	}
	return w, name
}

// lossCurve trains a fresh model one step per batch (AdamW, lr 1e-3, clipping at 1) and returns
// each step's loss.
func lossCurve(b *cgo.Backend, mc *model.Config, opt cgo.ModelOptions, bs []*cgo.Batch) ([]float64, error) {
	m, err := b.NewModel(mc.Backend(), opt)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	tr, err := m.NewTrainer(cgo.TrainConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1})
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(bs))
	// Three paths in turn, so that each is held to the CPU curve: TrainStep (queued whole on CUDA,
	// clipped on the device); Accumulate and Step; and two steps launched before either is
	// finished (the pipelined loop of `armap bench`).
	for i := 0; i < len(bs); {
		switch {
		case i%4 == 0:
			st, _, err := tr.TrainStep([]*cgo.Batch{bs[i]})
			if err != nil {
				return nil, err
			}
			out[i] = st[0].Loss
			i++
		case i%4 == 1:
			st, err := tr.Accumulate(bs[i], nil)
			if err != nil {
				return nil, err
			}
			if _, err := tr.Step(); err != nil {
				return nil, err
			}
			out[i] = st.Loss
			i++
		default:
			n := min(2, len(bs)-i)
			for j := 0; j < n; j++ {
				if err := tr.LaunchStep([]*cgo.Batch{bs[i+j]}); err != nil {
					return nil, err
				}
			}
			for j := 0; j < n; j++ {
				st, _, err := tr.FinishStep()
				if err != nil {
					return nil, err
				}
				out[i+j] = st[0].Loss
			}
			i += n
		}
	}
	return out, nil
}

// CurveCheck compares a short training run on a device with the CPU float32 one.
type CurveCheck struct {
	Model   string    `json:"model"`
	DType   string    `json:"dtype"`
	F32     []float64 `json:"cpu_f32_loss"`
	Other   []float64 `json:"loss"`
	MaxDiff float64   `json:"max_abs_diff"`
	OK      bool      `json:"ok"`
}

// CheckCurve trains a small preset (tiny, tiny-llama) for steps steps on the CPU in float32 and
// on dev in dt from the same seed and data, and reports whether the loss curves agree within
// tol. The reference is the CPU path so that a defect shared by every precision of the device
// path (its optimizer, say) shows up too. fused selects the device run's residual + dropout +
// LayerNorm path; the CPU reference runs ATen's unfused operations. attn selects the device run's
// attention kernel (see forAttention).
func CheckCurve(b *cgo.Backend, preset string, dev cgo.Device, dt cgo.DType, fused cgo.Fusion, attn cgo.Attention, steps int, tol float64) (*CurveCheck, error) {
	mc, err := model.Preset(preset)
	if err != nil {
		return nil, err
	}
	w, name := forAttention(Workload{Train: true, Count: 8, MinLen: 16, MaxLen: 64}, preset+fused.Suffix(), attn)
	bs, _ := batches(w, mc.VocabSize, steps, 3)
	// a learnable signal: the chosen side of every pair starts with token 7
	for _, bt := range bs {
		for p := 0; p < len(bt.Pairs); p += 2 {
			bt.Tokens[bt.CuSeqlens[bt.Pairs[p]]] = 7
		}
	}
	curve := func(where cgo.Device, d cgo.DType, f cgo.Fusion, a cgo.Attention) ([]float64, error) {
		return lossCurve(b, mc, cgo.ModelOptions{Device: where, ComputeDType: d, Seed: 11, FusedKernels: f, Attention: a}, bs)
	}
	ref, err := curve(cgo.CPU, cgo.F32, cgo.FusionOff, cgo.AttentionDefault)
	if err != nil {
		return nil, err
	}
	got, err := curve(dev, dt, fused, attn)
	if err != nil {
		return nil, err
	}
	c := &CurveCheck{Model: name, DType: dtypeName(dt), F32: ref, Other: got}
	for i := range ref {
		c.MaxDiff = math.Max(c.MaxDiff, math.Abs(ref[i]-got[i]))
	}
	c.OK = c.MaxDiff <= tol
	return c, nil
}

// GraphCheck compares scoring through captured CUDA graphs with the eager forward of the same
// weights, over batches whose shapes repeat (so that budgets are captured and then replayed) and
// alternate (so that graphs sharing one memory pool are replayed in turn).
type GraphCheck struct {
	Model     string  `json:"model"`
	Batches   int     `json:"batches"`
	MaxRelErr float64 `json:"max_rel_err"`
	Tolerance float64 `json:"tolerance"`
	OK        bool    `json:"ok"`
}

// CheckGraphs scores the same batches with graphs on and off (in dt, on dev) for a small encoder
// and a small decoder preset: as they come, after the head's weights are written, and after an
// optimizer step, so that a graph still reading the old weights shows. Graphs apply to CUDA
// bf16/f16 only; elsewhere both sides are eager.
// Each of rounds rounds scores one batch of each of 4 shapes. fused selects both models' residual +
// dropout + LayerNorm path (the encoder's).
func CheckGraphs(b *cgo.Backend, dev cgo.Device, dt cgo.DType, fused cgo.Fusion, rounds int) ([]GraphCheck, error) {
	var out []GraphCheck
	presets := []string{"bert-mini", "tiny-llama"}
	if fused != cgo.FusionDefault {
		presets = presets[:1] // decoders have no LayerNorm to fuse
	}
	for _, preset := range presets {
		c, err := checkGraphs(b, preset, dev, dt, fused, rounds)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", preset, err)
		}
		out = append(out, *c)
	}
	return out, nil
}

func checkGraphs(b *cgo.Backend, preset string, dev cgo.Device, dt cgo.DType, fused cgo.Fusion, rounds int) (*GraphCheck, error) {
	mc, err := model.Preset(preset)
	if err != nil {
		return nil, err
	}
	var models [2]*cgo.Model // with graphs, without
	for i := range models {
		m, err := b.NewModel(mc.Backend(), cgo.ModelOptions{Device: dev, ComputeDType: dt, Seed: 21, NoCUDAGraphs: i == 1, FusedKernels: fused})
		if err != nil {
			return nil, err
		}
		defer m.Close()
		models[i] = m
	}
	var bs []*cgo.Batch
	shapes := []Workload{
		{Count: 1, MinLen: 256, MaxLen: 256}, {Count: 7, MinLen: 10, MaxLen: 200},
		{Count: 33, MinLen: 1, MaxLen: 120}, {Count: 2, MinLen: 400, MaxLen: 512},
	}
	for round := 0; round < rounds; round++ {
		for i, w := range shapes {
			bt, _ := batches(w, mc.VocabSize, 1, uint64(100*round+i))
			bs = append(bs, bt[0])
		}
	}
	c := &GraphCheck{Model: preset + fused.Suffix(), Tolerance: 1e-3}
	compare := func() error {
		for _, bt := range bs {
			want, err := models[1].Score(bt)
			if err != nil {
				return err
			}
			got, err := models[0].Score(bt)
			if err != nil {
				return err
			}
			for i := range want {
				c.MaxRelErr = math.Max(c.MaxRelErr, math.Abs(float64(got[i]-want[i]))/math.Max(1, math.Abs(float64(want[i]))))
			}
			c.Batches++
		}
		return nil
	}
	if err := compare(); err != nil {
		return nil, err
	}
	head := map[cgo.Family]string{cgo.Encoder: "classifier.weight", cgo.Decoder: "score.weight"}[mc.Family()]
	w := make([]float32, mc.HiddenSize)
	for i := range w {
		w[i] = float32(i%7-3) * 0.05
	}
	for _, m := range models {
		if err := m.WriteTensor(head, w); err != nil {
			return nil, err
		}
	}
	if err := compare(); err != nil {
		return nil, err
	}
	train, _ := batches(Workload{Train: true, Count: 4, MinLen: 16, MaxLen: 64}, mc.VocabSize, 1, 9)
	for _, m := range models {
		tr, err := m.NewTrainer(cgo.TrainConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1})
		if err != nil {
			return nil, err
		}
		_, err = tr.Accumulate(train[0], nil)
		if err == nil {
			_, err = tr.Step()
		}
		tr.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := compare(); err != nil {
		return nil, err
	}
	c.OK = c.MaxRelErr <= c.Tolerance
	return c, nil
}

// CheckpointCheck compares training with and without activation checkpointing on dev, with
// dropout on: the recomputed layers must draw the same dropout masks as the first pass.
type CheckpointCheck struct {
	Model   string  `json:"model"`
	DType   string  `json:"dtype"`
	Steps   int     `json:"steps"`
	MaxDiff float64 `json:"max_abs_loss_diff"`
	OK      bool    `json:"ok"`
}

// CheckCheckpointing trains bert-mini with dropout 0.1 (attention dropout 0.125 with cuDNN's
// attention) for steps steps twice from the same seed.
// fused selects the residual + dropout + LayerNorm path, whose masks are drawn differently.
// attn selects the attention kernel (see forAttention); with cuDNN's, its dropout is what the
// recomputation must draw again.
func CheckCheckpointing(b *cgo.Backend, dev cgo.Device, dt cgo.DType, fused cgo.Fusion, attn cgo.Attention, steps int) (*CheckpointCheck, error) {
	mc, err := model.Preset("bert-mini")
	if err != nil {
		return nil, err
	}
	mc.HiddenDropout, mc.AttentionDropout = 0.1, 0.1
	if attn == cgo.AttentionCuDNN {
		// cuDNN draws attention dropout in steps of 1/16 and the backend refuses 0.1.
		mc.AttentionDropout = 0.125
	}
	w, name := forAttention(Workload{Train: true, Count: 8, MinLen: 16, MaxLen: 128}, "bert-mini"+fused.Suffix(), attn)
	bs, _ := batches(w, mc.VocabSize, steps, 5)
	curve := func(ckpt bool) ([]float64, error) {
		return lossCurve(b, mc, cgo.ModelOptions{Device: dev, ComputeDType: dt, Seed: 13, GradCheckpointing: ckpt, FusedKernels: fused,
			Attention: attn}, bs)
	}
	plain, err := curve(false)
	if err != nil {
		return nil, err
	}
	ck, err := curve(true)
	if err != nil {
		return nil, err
	}
	c := &CheckpointCheck{Model: name, DType: dtypeName(dt), Steps: steps}
	for i := range plain {
		c.MaxDiff = math.Max(c.MaxDiff, math.Abs(plain[i]-ck[i]))
	}
	// Bitwise equality is not promised on a GPU (atomics in some backward kernels), but a
	// different dropout mask moves the loss by far more than this.
	c.OK = c.MaxDiff <= 2e-3
	return c, nil
}
