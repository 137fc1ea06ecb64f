package cgo

/*
#include <stdlib.h>
#include "armap.h"
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// Family is the model architecture family.
type Family int

const (
	Encoder Family = C.ARMAP_FAMILY_ENCODER // BERT-style
	Decoder Family = C.ARMAP_FAMILY_DECODER // Llama-style
)

func (f Family) String() string {
	switch f {
	case Encoder:
		return "encoder"
	case Decoder:
		return "decoder"
	}
	return fmt.Sprintf("family(%d)", int(f))
}

// DType is a host buffer element type.
type DType int32

const (
	F32  DType = C.ARMAP_DTYPE_F32
	F16  DType = C.ARMAP_DTYPE_F16
	BF16 DType = C.ARMAP_DTYPE_BF16
	U8   DType = C.ARMAP_DTYPE_U8
)

// Size is the element size in bytes.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 1
}

// Device selects where a model lives.
type Device int32

const (
	CPU  Device = C.ARMAP_DEVICE_CPU
	CUDA Device = C.ARMAP_DEVICE_CUDA
)

// LoRA target bits.
const (
	LoRAQ    = C.ARMAP_LORA_Q
	LoRAK    = C.ARMAP_LORA_K
	LoRAV    = C.ARMAP_LORA_V
	LoRAO    = C.ARMAP_LORA_O
	LoRAGate = C.ARMAP_LORA_GATE
	LoRAUp   = C.ARMAP_LORA_UP
	LoRADown = C.ARMAP_LORA_DOWN
)

// ModelConfig is the architecture (armap_model_config). Zero fields take the backend's defaults.
type ModelConfig struct {
	Family           Family
	VocabSize        int
	HiddenSize       int
	NumLayers        int
	NumHeads         int
	NumKVHeads       int
	HeadDim          int
	IntermediateSize int
	MaxPositions     int
	TypeVocabSize    int
	QKVBias          bool
	OBias            bool
	MLPBias          bool
	NumLabels        int
	NormEps          float32
	RopeTheta        float32
	HiddenDropout    float32
	AttentionDropout float32
	InitStd          float32
}

// ModelOptions is the runtime placement (armap_model_options).
type ModelOptions struct {
	Device            Device
	DeviceIndex       int
	ComputeDType      DType
	GradCheckpointing bool
	Seed              uint64
	LoRARank          int
	LoRAAlpha         float32
	LoRATargets       int
	// NoCUDAGraphs makes every CUDA scoring call run the eager forward instead of replaying a
	// captured graph (for comparisons, or if a driver misbehaves under capture).
	NoCUDAGraphs bool
	// FusedKernels selects the encoder's fused kernels: residual + dropout + LayerNorm (one pass
	// forward and backward, its own dropout mask) and, in training, the linear layers' own backward
	// (bias gradients as column sums, GELU's backward fused with one). FusionDefault leaves it to
	// the backend, which turns them on (measured faster on CPU and on an H100).
	FusedKernels Fusion
	// Attention picks the CUDA bf16/f16 attention kernel (training, and scoring outside captured
	// graphs); AttentionDefault is flash attention over the packed sequences.
	Attention Attention
}

// Attention is a CUDA attention kernel.
type Attention int32

const (
	// AttentionDefault lets the backend choose (flash attention).
	AttentionDefault Attention = 0
	// AttentionFlash is flash attention over the packed sequences (cu_seqlens, no padding).
	AttentionFlash Attention = 1
	// AttentionCuDNN runs cuDNN's fused attention on batches whose sequences all have one length,
	// viewed as a dense [n, L] block, and flash attention on the others. A backend built without
	// it (PyTorch < 2.5, or a source that did not compile) refuses it.
	AttentionCuDNN Attention = 2
)

// ParseAttention reads a config value: auto, flash or cudnn.
func ParseAttention(s string) (Attention, error) {
	switch s {
	case "", "auto":
		return AttentionDefault, nil
	case "flash":
		return AttentionFlash, nil
	case "cudnn":
		return AttentionCuDNN, nil
	}
	return AttentionDefault, fmt.Errorf("%q: want auto, flash or cudnn", s)
}

// String is the config value that ParseAttention reads back.
func (a Attention) String() string {
	switch a {
	case AttentionFlash:
		return "flash"
	case AttentionCuDNN:
		return "cudnn"
	}
	return "auto"
}

// Fusion turns an optional fused path on or off, or leaves the choice to the backend.
type Fusion int32

const (
	// FusionDefault lets the backend choose (on where the fused path has been measured).
	FusionDefault Fusion = 0
	// FusionOn asks for the fused path; a model whose shape it does not take is refused.
	FusionOn Fusion = 1
	// FusionOff runs the unfused operations.
	FusionOff Fusion = -1
	// FusionNorm keeps the fused residual + dropout + LayerNorm and runs the linear layers through
	// ATen's autograd (to tell the two apart in a benchmark, or to step around the linear layers'
	// own backward). Shapes as for FusionOn.
	FusionNorm Fusion = 2
)

// ParseFusion reads a config value: auto, on, off or norm (a YAML boolean arrives as 1/0 or
// true/false).
func ParseFusion(s string) (Fusion, error) {
	switch s {
	case "", "auto":
		return FusionDefault, nil
	case "on", "true", "1":
		return FusionOn, nil
	case "off", "false", "0":
		return FusionOff, nil
	case "norm":
		return FusionNorm, nil
	}
	return FusionDefault, fmt.Errorf("%q: want auto, on, off or norm", s)
}

// String is the config value that ParseFusion reads back.
func (f Fusion) String() string {
	switch f {
	case FusionOn:
		return "on"
	case FusionOff:
		return "off"
	case FusionNorm:
		return "norm"
	}
	return "auto"
}

// Suffix marks a name (a check, a benchmark row) when f forces the fused path on or off.
func (f Fusion) Suffix() string {
	switch f {
	case FusionOn:
		return "+fused"
	case FusionOff:
		return "+unfused"
	case FusionNorm:
		return "+normonly"
	}
	return ""
}

// TensorInfo describes one named tensor.
type TensorInfo struct {
	Name      string
	Shape     []int64
	Numel     int64
	Trainable bool
	Decay     bool
}

func b2i(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}

func (c ModelConfig) toC() C.armap_model_config {
	return C.armap_model_config{
		family: C.int32_t(c.Family), vocab_size: C.int32_t(c.VocabSize), hidden_size: C.int32_t(c.HiddenSize),
		num_layers: C.int32_t(c.NumLayers), num_heads: C.int32_t(c.NumHeads), num_kv_heads: C.int32_t(c.NumKVHeads),
		head_dim: C.int32_t(c.HeadDim), intermediate_size: C.int32_t(c.IntermediateSize),
		max_positions: C.int32_t(c.MaxPositions), type_vocab_size: C.int32_t(c.TypeVocabSize),
		qkv_bias: b2i(c.QKVBias), o_bias: b2i(c.OBias), mlp_bias: b2i(c.MLPBias), num_labels: C.int32_t(c.NumLabels),
		norm_eps: C.float(c.NormEps), rope_theta: C.float(c.RopeTheta), hidden_dropout: C.float(c.HiddenDropout),
		attention_dropout: C.float(c.AttentionDropout), init_std: C.float(c.InitStd),
	}
}

// Model is a reward model in the backend. Calls on one Model are serialized; Close frees it.
type Model struct {
	b   *Backend
	mu  sync.Mutex
	h   *C.armap_model
	cfg ModelConfig
	opt ModelOptions
	// live trainers: the native trainer points into the model, so Close frees them first.
	trainers map[*Trainer]struct{}
}

// NewModel creates a model with from-scratch weights (deterministic in opt.Seed).
func (b *Backend) NewModel(cfg ModelConfig, opt ModelOptions) (*Model, error) {
	if err := b.ready(); err != nil {
		return nil, err
	}
	cc := cfg.toC()
	co := C.armap_model_options{
		device: C.int32_t(opt.Device), device_index: C.int32_t(opt.DeviceIndex), compute_dtype: C.int32_t(opt.ComputeDType),
		grad_checkpointing: b2i(opt.GradCheckpointing), seed: C.uint64_t(opt.Seed), lora_rank: C.int32_t(opt.LoRARank),
		lora_alpha: C.float(opt.LoRAAlpha), lora_targets: C.int32_t(opt.LoRATargets), cuda_graphs: -b2i(opt.NoCUDAGraphs),
		fused_kernels: C.int32_t(opt.FusedKernels), attention: C.int32_t(opt.Attention),
	}
	var h *C.armap_model
	var e C.armap_error
	if err := check("armap_model_create", C.call_model_create(b.fns, &cc, &co, &h, &e), &e); err != nil {
		return nil, err
	}
	return &Model{b: b, h: h, cfg: cfg, opt: opt}, nil
}

// Config is the architecture the model was created with.
func (m *Model) Config() ModelConfig { return m.cfg }

// Options is the runtime placement the model was created with.
func (m *Model) Options() ModelOptions { return m.opt }

// Close frees the native model and any trainer still open on it. It is safe to call twice.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for t := range m.trainers {
		t.freeLocked()
	}
	if m.h != nil {
		C.call_model_free(m.b.fns, m.h)
		m.h = nil
	}
	return nil
}

func (m *Model) lock() error {
	m.mu.Lock()
	if m.h == nil {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Tensors lists the model's parameters in a stable order.
func (m *Model) Tensors() ([]TensorInfo, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var n, numel C.int64_t
	var e C.armap_error
	if err := check("armap_model_num_tensors", C.call_model_num_tensors(m.b.fns, m.h, &n, &numel, &e), &e); err != nil {
		return nil, err
	}
	out := make([]TensorInfo, 0, int(n))
	for i := 0; i < int(n); i++ {
		var ti C.armap_tensor_info
		if err := check("armap_model_tensor_info", C.call_model_tensor_info(m.b.fns, m.h, C.int64_t(i), &ti, &e), &e); err != nil {
			return nil, err
		}
		out = append(out, tensorInfo(&ti))
	}
	return out, nil
}

func tensorInfo(ti *C.armap_tensor_info) TensorInfo {
	t := TensorInfo{Name: C.GoString(&ti.name[0]), Numel: int64(ti.numel), Trainable: ti.trainable != 0, Decay: ti.decay != 0}
	for i := 0; i < int(ti.ndim); i++ {
		t.Shape = append(t.Shape, int64(ti.shape[i]))
	}
	return t
}

// NumParams is the total number of parameter elements.
func (m *Model) NumParams() (int64, error) {
	if err := m.lock(); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	var n, numel C.int64_t
	var e C.armap_error
	err := check("armap_model_num_tensors", C.call_model_num_tensors(m.b.fns, m.h, &n, &numel, &e), &e)
	return int64(numel), err
}

// ReadTensor copies a named parameter into dst (float32).
func (m *Model) ReadTensor(name string, dst []float32) error {
	return m.ReadTensorRaw(name, F32, f32bytes(dst))
}

// WriteTensor sets a named parameter from src (float32).
func (m *Model) WriteTensor(name string, src []float32) error {
	return m.WriteTensorRaw(name, F32, f32bytes(src))
}

// ReadTensorRaw copies a parameter into dst as dtype elements; len(dst) must be numel*size.
func (m *Model) ReadTensorRaw(name string, dtype DType, dst []byte) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return rawIO("armap_model_read_tensor", name, dtype, dst, func(cn *C.char, p unsafe.Pointer, numel C.int64_t, e *C.armap_error) C.armap_status {
		return C.call_model_read_tensor(m.b.fns, m.h, cn, C.int32_t(dtype), p, numel, e)
	})
}

// WriteTensorRaw sets a parameter from src holding dtype elements.
func (m *Model) WriteTensorRaw(name string, dtype DType, src []byte) error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return rawIO("armap_model_write_tensor", name, dtype, src, func(cn *C.char, p unsafe.Pointer, numel C.int64_t, e *C.armap_error) C.armap_status {
		return C.call_model_write_tensor(m.b.fns, m.h, cn, C.int32_t(dtype), p, numel, e)
	})
}

func rawIO(op, name string, dtype DType, buf []byte, call func(*C.char, unsafe.Pointer, C.int64_t, *C.armap_error) C.armap_status) error {
	if len(buf)%dtype.Size() != 0 {
		return fmt.Errorf("%s %s: buffer of %d bytes is not a whole number of %d-byte elements", op, name, len(buf), dtype.Size())
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	var e C.armap_error
	return check(op, call(cn, p, C.int64_t(len(buf)/dtype.Size()), &e), &e)
}

func f32bytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*4)
}

// MergeLoRA folds LoRA adapters into the base weights.
func (m *Model) MergeLoRA() error {
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	var e C.armap_error
	return check("armap_model_merge_lora", C.call_model_merge_lora(m.b.fns, m.h, &e), &e)
}

// Batch is a packed micro-batch: sequences back to back in Tokens, delimited by CuSeqlens
// (len = sequences + 1). Pairs, Margins and LossWeight are used only for training.
type Batch struct {
	Tokens     []int32
	CuSeqlens  []int32
	Pairs      []int32 // (chosen, rejected) sequence indices, flattened
	Margins    []float32
	LossWeight float32
}

// NumSeqs is the number of sequences in the batch.
func (b *Batch) NumSeqs() int { return max(len(b.CuSeqlens)-1, 0) }

func (b *Batch) validateShape() error {
	if len(b.CuSeqlens) < 2 {
		return fmt.Errorf("batch: cu_seqlens needs at least 2 entries, has %d", len(b.CuSeqlens))
	}
	if len(b.Tokens) == 0 {
		return fmt.Errorf("batch: no tokens")
	}
	if len(b.Pairs)%2 != 0 {
		return fmt.Errorf("batch: pairs has an odd number of indices (%d)", len(b.Pairs))
	}
	if b.Margins != nil && len(b.Margins) != len(b.Pairs)/2 {
		return fmt.Errorf("batch: %d margins for %d pairs", len(b.Margins), len(b.Pairs)/2)
	}
	if len(b.Tokens) > math.MaxInt32 {
		return fmt.Errorf("batch: %d tokens is too many", len(b.Tokens))
	}
	// Checked here as well as in the backend: offsets that do not increase up to len(Tokens)
	// would make it read past the tokens.
	if b.CuSeqlens[0] != 0 {
		return invalidBatch("cu_seqlens[0] must be 0, got %d", b.CuSeqlens[0])
	}
	n := len(b.CuSeqlens) - 1
	if int(b.CuSeqlens[n]) != len(b.Tokens) {
		return invalidBatch("cu_seqlens[%d] = %d does not equal num_tokens %d", n, b.CuSeqlens[n], len(b.Tokens))
	}
	for i := 1; i <= n; i++ {
		if b.CuSeqlens[i] <= b.CuSeqlens[i-1] {
			return invalidBatch("sequence %d is empty (cu_seqlens must increase: [%d] = %d, [%d] = %d)",
				i-1, i-1, b.CuSeqlens[i-1], i, b.CuSeqlens[i])
		}
	}
	return nil
}

// invalidBatch is a batch refused on the Go side, with the status the backend gives the same.
func invalidBatch(format string, args ...any) error {
	return &Error{Op: "batch", Status: StatusInvalidArgument, Msg: fmt.Sprintf(format, args...)}
}

// Score returns one reward per sequence (no autograd).
func (m *Model) Score(b *Batch) ([]float32, error) {
	if err := b.validateShape(); err != nil {
		return nil, err
	}
	out := make([]float32, b.NumSeqs())
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var e C.armap_error
	st := C.call_model_score(m.b.fns, m.h, (*C.int32_t)(&b.Tokens[0]), C.int64_t(len(b.Tokens)),
		(*C.int32_t)(&b.CuSeqlens[0]), C.int32_t(b.NumSeqs()), (*C.float)(&out[0]), &e)
	if err := check("armap_model_score", st, &e); err != nil {
		return nil, err
	}
	return out, nil
}

// RNGState returns the dropout generator's state.
func (m *Model) RNGState() ([]byte, error) {
	if err := m.lock(); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var n C.int64_t
	var e C.armap_error
	if err := check("armap_model_rng_state", C.call_model_rng_state(m.b.fns, m.h, nil, 0, &n, &e), &e); err != nil {
		return nil, err
	}
	buf := make([]byte, int(n))
	if n == 0 {
		return buf, nil
	}
	err := check("armap_model_rng_state", C.call_model_rng_state(m.b.fns, m.h, (*C.uint8_t)(&buf[0]), n, &n, &e), &e)
	return buf, err
}

// SetRNGState restores a state from RNGState.
func (m *Model) SetRNGState(st []byte) error {
	if len(st) == 0 {
		return fmt.Errorf("armap_model_set_rng_state: empty state")
	}
	if err := m.lock(); err != nil {
		return err
	}
	defer m.mu.Unlock()
	var e C.armap_error
	return check("armap_model_set_rng_state", C.call_model_set_rng_state(m.b.fns, m.h, (*C.uint8_t)(&st[0]), C.int64_t(len(st)), &e), &e)
}
