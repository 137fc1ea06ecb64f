package cgo

/*
#include <stdlib.h>
#include "armap.h"
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Schedule is the learning-rate schedule after warmup.
type Schedule int32

const (
	ScheduleConstant Schedule = C.ARMAP_SCHEDULE_CONSTANT
	ScheduleLinear   Schedule = C.ARMAP_SCHEDULE_LINEAR
	ScheduleCosine   Schedule = C.ARMAP_SCHEDULE_COSINE
)

// ParseSchedule maps "constant", "linear" or "cosine" to a Schedule.
func ParseSchedule(s string) (Schedule, error) {
	switch s {
	case "constant":
		return ScheduleConstant, nil
	case "linear":
		return ScheduleLinear, nil
	case "cosine":
		return ScheduleCosine, nil
	}
	return 0, fmt.Errorf("unknown lr schedule %q (want constant, linear or cosine)", s)
}

// TrainConfig is the optimizer and loss configuration (armap_train_config).
type TrainConfig struct {
	LR                       float64
	Beta1, Beta2, Eps        float64
	WeightDecay              float64
	DecayAll                 bool // decay norms and biases too (torch.optim.AdamW(model.parameters()))
	MaxGradNorm              float64
	Schedule                 Schedule
	WarmupSteps              int64
	TotalSteps               int64
	MinLRRatio               float64
	CenterRewardsCoefficient float64
}

// BatchStats is what one micro-batch's forward+backward reports.
type BatchStats struct {
	Loss      float64 // mean pairwise loss of the micro-batch
	Correct   int     // pairs with r_chosen > r_rejected
	MarginSum float64 // sum over pairs of r_chosen - r_rejected
	Tokens    int64
}

// StepStats is what one optimizer step reports.
type StepStats struct {
	Step     int64
	LR       float64
	GradNorm float64 // before clipping
}

// Trainer owns the optimizer state of a Model. It shares the model's lock.
type Trainer struct {
	m *Model
	h *C.armap_trainer
	// The micro-batch counts of launched, unfinished steps, oldest first (guarded by m.mu).
	pending []int
}

// NewTrainer creates an AdamW trainer over the model's trainable parameters.
func (m *Model) NewTrainer(cfg TrainConfig) (*Trainer, error) {
	cc := C.armap_train_config{
		lr: C.double(cfg.LR), beta1: C.double(cfg.Beta1), beta2: C.double(cfg.Beta2), eps: C.double(cfg.Eps),
		weight_decay: C.double(cfg.WeightDecay), decay_all: b2i(cfg.DecayAll), max_grad_norm: C.double(cfg.MaxGradNorm),
		schedule: C.int32_t(cfg.Schedule), warmup_steps: C.int64_t(cfg.WarmupSteps), total_steps: C.int64_t(cfg.TotalSteps),
		min_lr_ratio: C.double(cfg.MinLRRatio), center_rewards_coefficient: C.double(cfg.CenterRewardsCoefficient),
	}
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var h *C.armap_trainer
	var e C.armap_error
	if err := check("armap_trainer_create", C.call_trainer_create(m.b.fns, m.h, &cc, &h, &e), &e); err != nil {
		return nil, err
	}
	t := &Trainer{m: m, h: h}
	if m.trainers == nil {
		m.trainers = map[*Trainer]struct{}{}
	}
	m.trainers[t] = struct{}{}
	return t, nil
}

// lock takes the model's lock and checks that both handles are alive.
func (t *Trainer) lock() error {
	if err := t.m.lock(); err != nil {
		return err
	}
	if t.h == nil {
		t.m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Close frees the optimizer state (not the model). Closing the model closes its trainers too.
func (t *Trainer) Close() error {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.freeLocked()
	return nil
}

func (t *Trainer) freeLocked() {
	if t.h != nil {
		C.call_trainer_free(t.m.b.fns, t.h)
		t.h = nil
	}
	t.pending = nil // freed with the trainer: no result will come
	delete(t.m.trainers, t)
}

// Accumulate runs forward and backward on one micro-batch of pairs; gradients add up until Step.
// rewards, when not nil, receives one score per sequence.
func (t *Trainer) Accumulate(b *Batch, rewards []float32) (BatchStats, error) {
	if err := b.validateTraining(); err != nil {
		return BatchStats{}, err
	}
	if rewards != nil && len(rewards) < b.NumSeqs() {
		return BatchStats{}, fmt.Errorf("batch: rewards buffer holds %d, batch has %d sequences", len(rewards), b.NumSeqs())
	}
	if err := t.lock(); err != nil {
		return BatchStats{}, err
	}
	defer t.m.mu.Unlock()
	var margins *C.float
	if len(b.Margins) > 0 {
		margins = (*C.float)(&b.Margins[0])
	}
	var rw *C.float
	if rewards != nil {
		rw = (*C.float)(&rewards[0])
	}
	var st C.armap_batch_stats
	var e C.armap_error
	rc := C.call_trainer_accumulate(t.m.b.fns, t.h, (*C.int32_t)(&b.Tokens[0]), C.int64_t(len(b.Tokens)),
		(*C.int32_t)(&b.CuSeqlens[0]), C.int32_t(b.NumSeqs()), (*C.int32_t)(&b.Pairs[0]), C.int32_t(len(b.Pairs)/2),
		margins, C.float(b.LossWeight), rw, &st, &e)
	if err := check("armap_trainer_accumulate", rc, &e); err != nil {
		return BatchStats{}, err
	}
	return batchStats(st), nil
}

// validateTraining is validateShape plus what a training batch needs besides: pairs.
func (b *Batch) validateTraining() error {
	if err := b.validateShape(); err != nil {
		return err
	}
	if len(b.Pairs) == 0 {
		return fmt.Errorf("batch: training needs at least one pair")
	}
	return nil
}

func batchStats(st C.armap_batch_stats) BatchStats {
	return BatchStats{Loss: float64(st.loss), Correct: int(st.correct), MarginSum: float64(st.margin_sum), Tokens: int64(st.tokens)}
}

func stepStats(st C.armap_step_stats) StepStats {
	return StepStats{Step: int64(st.step), LR: float64(st.lr), GradNorm: float64(st.grad_norm)}
}

// Step clips, applies AdamW, advances the schedule and zeroes the gradients.
func (t *Trainer) Step() (StepStats, error) {
	if err := t.lock(); err != nil {
		return StepStats{}, err
	}
	defer t.m.mu.Unlock()
	var st C.armap_step_stats
	var e C.armap_error
	if err := check("armap_trainer_step", C.call_trainer_step(t.m.b.fns, t.h, &st, &e), &e); err != nil {
		return StepStats{}, err
	}
	return stepStats(st), nil
}

// TrainStep is a whole optimizer step: Accumulate over micro, then Step, with one batch stat per
// micro-batch. On CUDA the backend queues every kernel of the step before it reads anything back,
// so the GPU does not wait for the host between micro-batches or before the update (Accumulate
// and Step each wait for the GPU). On failure the gradients are zeroed.
func (t *Trainer) TrainStep(micro []*Batch) ([]BatchStats, StepStats, error) {
	if err := validateMicro(micro); err != nil {
		return nil, StepStats{}, err
	}
	if err := t.lock(); err != nil {
		return nil, StepStats{}, err
	}
	defer t.m.mu.Unlock()
	stats := make([]C.armap_batch_stats, len(micro))
	var st C.armap_step_stats
	var e C.armap_error
	rc, err := withDescriptors(micro, func(cb *C.armap_batch, n C.int32_t) C.armap_status {
		return C.call_trainer_train_step(t.m.b.fns, t.h, cb, n, &stats[0], &st, &e)
	})
	if err != nil {
		return nil, StepStats{}, err
	}
	if err := check("armap_trainer_train_step", rc, &e); err != nil {
		return nil, StepStats{}, err
	}
	return convertStats(stats), stepStats(st), nil
}

// MaxPendingSteps is how many launched steps the backend holds before one is finished.
const MaxPendingSteps = C.ARMAP_MAX_PENDING_STEPS

// LaunchStep queues a whole optimizer step like TrainStep but returns without its results, which
// FinishStep reads back, oldest step first. Launching the next step before finishing the last
// lets the host validate, upload and queue it while the GPU runs the previous one, instead of the
// GPU waiting for the host between steps. At most MaxPendingSteps are pending, and Accumulate, Step,
// TrainStep, tensor writes and SetStep fail while any is. A bad batch fails here; a non-finite
// gradient norm fails FinishStep on CUDA (where a step launched after it has still run) and
// LaunchStep on CPU, where the step runs inside this call.
func (t *Trainer) LaunchStep(micro []*Batch) error {
	if err := validateMicro(micro); err != nil {
		return err
	}
	if err := t.lock(); err != nil {
		return err
	}
	defer t.m.mu.Unlock()
	var e C.armap_error
	rc, err := withDescriptors(micro, func(cb *C.armap_batch, n C.int32_t) C.armap_status {
		return C.call_trainer_launch_step(t.m.b.fns, t.h, cb, n, &e)
	})
	if err != nil {
		return err
	}
	if err := check("armap_trainer_launch_step", rc, &e); err != nil {
		return err
	}
	t.pending = append(t.pending, len(micro))
	return nil
}

// FinishStep waits for the oldest launched step and returns its results as TrainStep would.
func (t *Trainer) FinishStep() ([]BatchStats, StepStats, error) {
	if err := t.lock(); err != nil {
		return nil, StepStats{}, err
	}
	defer t.m.mu.Unlock()
	if len(t.pending) == 0 {
		return nil, StepStats{}, fmt.Errorf("finish step: no launched step is pending")
	}
	n := t.pending[0]
	t.pending = t.pending[1:]
	stats := make([]C.armap_batch_stats, n)
	var st C.armap_step_stats
	var e C.armap_error
	rc := C.call_trainer_finish_step(t.m.b.fns, t.h, &stats[0], C.int32_t(n), &st, &e)
	if err := check("armap_trainer_finish_step", rc, &e); err != nil {
		return nil, StepStats{}, err
	}
	return convertStats(stats), stepStats(st), nil
}

// Pending is the number of launched steps not finished yet.
func (t *Trainer) Pending() int {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return len(t.pending)
}

func validateMicro(micro []*Batch) error {
	if len(micro) == 0 {
		return fmt.Errorf("train step: no micro-batches")
	}
	for i, b := range micro {
		if err := b.validateTraining(); err != nil {
			return fmt.Errorf("micro-batch %d: %w", i, err)
		}
	}
	return nil
}

// withDescriptors calls f with micro's batch descriptors. They live in C memory and point at
// pinned Go slices: cgo allows Go pointers in C memory only while they are pinned, here for the
// duration of f (the backend copies what it keeps).
func withDescriptors(micro []*Batch, f func(cb *C.armap_batch, n C.int32_t) C.armap_status) (C.armap_status, error) {
	var pin runtime.Pinner
	defer pin.Unpin()
	n := len(micro)
	cb := (*C.armap_batch)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof(C.armap_batch{}))))
	if cb == nil {
		return 0, fmt.Errorf("train step: out of memory for %d batch descriptors", n)
	}
	defer C.free(unsafe.Pointer(cb))
	descs := unsafe.Slice(cb, n)
	for i, b := range micro {
		pin.Pin(&b.Tokens[0])
		pin.Pin(&b.CuSeqlens[0])
		pin.Pin(&b.Pairs[0])
		d := &descs[i]
		d.tokens = (*C.int32_t)(&b.Tokens[0])
		d.num_tokens = C.int64_t(len(b.Tokens))
		d.cu_seqlens = (*C.int32_t)(&b.CuSeqlens[0])
		d.num_seqs = C.int32_t(b.NumSeqs())
		d.pairs = (*C.int32_t)(&b.Pairs[0])
		d.num_pairs = C.int32_t(len(b.Pairs) / 2)
		if len(b.Margins) > 0 {
			pin.Pin(&b.Margins[0])
			d.margins = (*C.float)(&b.Margins[0])
		}
		d.loss_weight = C.float(b.LossWeight)
	}
	return f(cb, C.int32_t(n)), nil
}

func convertStats(stats []C.armap_batch_stats) []BatchStats {
	out := make([]BatchStats, len(stats))
	for i, s := range stats {
		out[i] = batchStats(s)
	}
	return out
}

// ZeroGrad drops accumulated gradients (after a failed micro-batch, say).
func (t *Trainer) ZeroGrad() error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.m.mu.Unlock()
	var e C.armap_error
	return check("armap_trainer_zero_grad", C.call_trainer_zero_grad(t.m.b.fns, t.h, &e), &e)
}

// Tensors lists the optimizer state tensors ("exp_avg.<param>", "exp_avg_sq.<param>").
func (t *Trainer) Tensors() ([]TensorInfo, error) {
	if err := t.lock(); err != nil {
		return nil, err
	}
	defer t.m.mu.Unlock()
	var n C.int64_t
	var e C.armap_error
	if err := check("armap_trainer_num_tensors", C.call_trainer_num_tensors(t.m.b.fns, t.h, &n, &e), &e); err != nil {
		return nil, err
	}
	out := make([]TensorInfo, 0, int(n))
	for i := 0; i < int(n); i++ {
		var ti C.armap_tensor_info
		if err := check("armap_trainer_tensor_info", C.call_trainer_tensor_info(t.m.b.fns, t.h, C.int64_t(i), &ti, &e), &e); err != nil {
			return nil, err
		}
		out = append(out, tensorInfo(&ti))
	}
	return out, nil
}

// ReadTensor copies an optimizer tensor into dst.
func (t *Trainer) ReadTensor(name string, dst []float32) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.m.mu.Unlock()
	return rawIO("armap_trainer_read_tensor", name, F32, f32bytes(dst), func(cn *C.char, p unsafe.Pointer, numel C.int64_t, e *C.armap_error) C.armap_status {
		return C.call_trainer_read_tensor(t.m.b.fns, t.h, cn, C.int32_t(F32), p, numel, e)
	})
}

// WriteTensor sets an optimizer tensor from src.
func (t *Trainer) WriteTensor(name string, src []float32) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.m.mu.Unlock()
	return rawIO("armap_trainer_write_tensor", name, F32, f32bytes(src), func(cn *C.char, p unsafe.Pointer, numel C.int64_t, e *C.armap_error) C.armap_status {
		return C.call_trainer_write_tensor(t.m.b.fns, t.h, cn, C.int32_t(F32), p, numel, e)
	})
}

// StepCount is the number of optimizer steps taken (the schedule position).
func (t *Trainer) StepCount() (int64, error) {
	if err := t.lock(); err != nil {
		return 0, err
	}
	defer t.m.mu.Unlock()
	var s C.int64_t
	var e C.armap_error
	err := check("armap_trainer_get_step", C.call_trainer_get_step(t.m.b.fns, t.h, &s, &e), &e)
	return int64(s), err
}

// SetStepCount restores the schedule position (on resume).
func (t *Trainer) SetStepCount(s int64) error {
	if err := t.lock(); err != nil {
		return err
	}
	defer t.m.mu.Unlock()
	var e C.armap_error
	return check("armap_trainer_set_step", C.call_trainer_set_step(t.m.b.fns, t.h, C.int64_t(s), &e), &e)
}
