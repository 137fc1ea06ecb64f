// Shared declarations of the backend's translation units. Only ATen is included (not
// torch/torch.h): the models are written functionally on tensors, which keeps each file's compile
// time and memory down.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
// Every file that tests TORCH_VERSION_* gets the macros from here: without this header an
// `#if TORCH_VERSION_MAJOR >= 2` is silently false.
#include <torch/version.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "armap.h"

namespace armap {

// Error carries an ABI status code; everything thrown inside the backend is either this or a
// c10/std exception that the entry-point guard maps to ARMAP_ERR_INTERNAL.
struct Error : std::runtime_error {
  armap_status code;
  Error(armap_status c, const std::string& msg) : std::runtime_error(msg), code(c) {}
};
[[noreturn]] inline void fail(armap_status c, const std::string& msg) { throw Error(c, msg); }
[[noreturn]] inline void invalid(const std::string& msg) { fail(ARMAP_ERR_INVALID_ARGUMENT, msg); }

// A dense layer with an optional LoRA adapter: y = x W^T + b + scale * (x A^T) B^T.
struct Linear {
  at::Tensor w, b;
  at::Tensor lora_a, lora_b;
  double lora_scale = 0;
};

struct Param {
  std::string name;
  at::Tensor t;
  bool trainable;
  bool decay;
};

struct EncoderLayer {
  Linear q, k, v, o, fi, fo;
  at::Tensor ln1_w, ln1_b, ln2_w, ln2_b;
};

struct DecoderLayer {
  Linear q, k, v, o, gate, up, down;
  at::Tensor in_norm, post_norm;
};

// A validated micro-batch on the model's device.
struct Packed {
  at::Tensor tokens;               // int64 [T]
  at::Tensor positions;            // int64 [T], restarting at 0 in every sequence
  at::Tensor first, last;          // int64 [n]: index of each sequence's first / last token
  at::Tensor cu;                   // int32 [n + 1] on the device (varlen kernels)
  std::vector<int64_t> cu_host;    // the same offsets on the host
  int64_t max_len = 0;
  int64_t num_seqs() const { return (int64_t)cu_host.size() - 1; }
};

struct ScoreGraphs;  // captured CUDA graphs of the scoring forward (score_graph.cpp)

struct Model {
  armap_model_config cfg{};
  armap_model_options opt{};
  at::Device device = at::kCPU;
  at::ScalarType compute = at::kFloat;
  int64_t head_dim = 0;

  std::vector<Param> params;
  std::unordered_map<std::string, size_t> index;

  // encoder (BERT)
  at::Tensor word, pos, type, emb_ln_w, emb_ln_b;
  std::vector<EncoderLayer> enc;
  Linear pooler, classifier;
  // decoder (Llama / Qwen2 / Mistral)
  at::Tensor embed, final_norm;
  std::vector<DecoderLayer> dec;
  Linear score;
  at::Tensor rope_cos, rope_sin;   // float32 [max_positions, head_dim]

  at::Generator gen;               // dropout randomness, on the model's device

  // Scoring reuses the compute-dtype copies of the weights instead of casting every weight on
  // every call (a cast per weight is most of the launches of a small batch). Keyed by the
  // parameter's TensorImpl; emptied by weights_changed().
  std::unordered_map<const void*, at::Tensor> cast_cache;
  // Concatenated compute-dtype weights and biases of fused projections (the encoder's q/k/v), keyed
  // by the first layer of the group.
  std::unordered_map<const void*, std::pair<at::Tensor, at::Tensor>> fused_cache;
  // Training the encoder in bf16/f16 with the fused kernels: the compute-dtype copies of the linear
  // layers' weights and biases for this step, cast together at the start of the forward (keyed by
  // Linear; the q/k/v group by its first layer, concatenated). Emptied by weights_changed().
  std::unordered_map<const void*, std::pair<at::Tensor, at::Tensor>> train_casts;
  bool use_cast_cache = false;     // set for the duration of a scoring forward
  std::shared_ptr<ScoreGraphs> graphs;
  bool graphs_failed = false;      // a capture failed: eager from then on
  bool fused_kernels = false;      // add_norm.cpp for residual + dropout + LayerNorm
  bool fused_linear = false;       // and linear.cpp for the linear layers' backward (training)
  bool cudnn_attention = false;    // batches of one length through cuDNN's attention (CUDA)

  // Rewards [num_seqs, num_labels] in float32. train enables dropout.
  at::Tensor forward(const Packed& p, bool train);
  Param& param(const std::string& name);
  // Drops everything derived from the weights (cast copies, captured graphs that point at them).
  // Every path that writes a parameter calls it.
  void weights_changed();
  // Turns the weight cache on for one scoring forward (or a capture of one).
  struct ScoringScope {
    Model& m;
    explicit ScoringScope(Model& m) : m(m) { m.use_cast_cache = true; }
    ~ScoringScope() { m.use_cast_cache = false; }
  };
  // Marks the forwards of a graph capture (score_graph.cpp): the graph is replayed for batches of
  // other lengths, so nothing may be chosen by this batch's lengths (cuDNN's attention).
  bool capturing = false;
  struct CaptureScope {
    Model& m;
    explicit CaptureScope(Model& m) : m(m) { m.capturing = true; }
    ~CaptureScope() { m.capturing = false; }
  };
  // Whether attention runs as packed flash attention (CUDA, PyTorch >= 2, bf16/f16): the only
  // path whose work does not depend on the host-side sequence lengths, so it can be captured.
  bool uses_flash() const;
};

// Builds a model with from-scratch weights (deterministic in opt.seed, independent of device).
Model* create_model(const armap_model_config& cfg, const armap_model_options& opt);
// Folds LoRA adapters into the base weights.
void merge_lora(Model& m);

// A validated batch on the host: the index arrays that Packed holds on the device.
struct HostBatch {
  std::vector<int64_t> tokens, positions, first, last;
  std::vector<int64_t> cu;         // num_seqs + 1 offsets
  int64_t max_len = 0;
};
// Checks a batch against the model (ids, lengths, pairs); names the sequence and position of a
// bad token.
HostBatch check_batch(const Model& m, const armap_batch& b, bool need_pairs);
// Moves a checked batch to the device.
Packed upload(const Model& m, const HostBatch& h);
// check_batch, then upload.
Packed pack_batch(const Model& m, const armap_batch& b, bool need_pairs);
// A host tensor on the model's device. On CUDA through pinned memory and an asynchronous copy:
// a copy from pageable memory first waits for the stream to drain, and a step that waits leaves
// the GPU idle while the host queues the next kernels.
at::Tensor to_device(const Model& m, const at::Tensor& host);

// Orders CUDA graph captures against training: a capture marks the device's default generator
// (which CUDA dropout draws from) as capturing for the whole process.
std::shared_mutex& cuda_rng_mutex();

// Scores through a captured CUDA graph of the forward at the batch's token budget, padding the
// batch with filler sequences up to it. Returns false, having done nothing, when graphs do not
// apply (CPU, float32, a large batch, graphs off); the caller then runs the eager forward.
bool score_with_graph(Model& m, const HostBatch& hb, float* scores);

// Multi-head attention over packed sequences. q: [T, H, D]; k, v: [T, Hkv, D]. Returns [T, H * D].
// cudnn: on CUDA in bf16/f16, run cuDNN's attention instead of flash attention; the caller passes it
// only for a batch whose sequences all have one length that cuDNN takes, and never inside a graph
// capture, which must not depend on the lengths (model.cpp's cudnn_attention_now).
at::Tensor varlen_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const Packed& p,
                            bool causal, double dropout, at::Generator* gen, bool cudnn = false);
// attention_cudnn.cpp: whether this backend has cuDNN's attention (a CUDA build against PyTorch >= 2.5),
// and that attention over n sequences of equal length packed in q/k/v's rows, as varlen_attention.
bool cudnn_attention_built();
// Whether cuDNN's attention applies dropout p as asked: it draws at a resolution of 1/16, so other
// probabilities would silently become a neighbouring multiple (PyTorch does not route them to
// cuDNN either; pytorch#174245). BERT's 0.1 is not one.
bool cudnn_dropout_exact(double p);
at::Tensor cudnn_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t n, bool causal,
                           double dropout);

// LayerNorm(residual + dropout(x, p)) over the last dimension as one operation with its own
// backward (add_norm.cpp), when the model enables it and the device takes the shape: x and residual
// of one dtype and shape, float32 norm weight and bias (on CUDA also contiguous and 16-byte aligned). The caller runs the unfused form otherwise.
bool add_norm_fusable(const Model& m, const at::Tensor& x, const at::Tensor& residual, const at::Tensor& w,
                      const at::Tensor& b);
at::Tensor fused_add_norm(Model& m, const at::Tensor& x, const at::Tensor& residual, const at::Tensor& w,
                          const at::Tensor& b, double p);

// The encoder's linear layers for training with the fused kernels on (linear.cpp): autograd
// functions of their own that take the float32 master weight and bias, cast them to dtype, and
// return their gradients in float32 from the products themselves; bias gradients are column sums
// (colsum.cu on CUDA).
//
// pass_input: the function also returns x itself, as its last output. The gradient that arrives
// for it is added to x's inside the product that computes x's gradient (a GEMM with beta = 1),
// instead of by autograd in a separate pass over the activations; that gradient tensor is written
// in place. Pass it on only to fused_add_norm's residual: the add_norm backward hands over a fresh
// tensor, whose one other possible reader (the same tensor as x's gradient when there is no
// dropout) is upstream of this function's other outputs, so it has run by then.
//
// Casts: the weight and bias already cast to dtype (for a split, concatenated), when the caller
// cast them all at once (Model::forward); undefined, the function casts them itself.
struct Casts {
  at::Tensor w, b;
};
// false in kernels/fallback/linear_cpp.cpp (ATen's operations in their place)
bool linear_functions_built();
// x W^T + b.
at::Tensor bias_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::ScalarType dtype,
                       const Casts& casts = {});
// {gelu(x W^T + b) (exact, erf form), x with pass_input}; GELU's backward is fused with the bias gradient.
std::vector<at::Tensor> bias_linear_gelu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                                         at::ScalarType dtype, bool pass_input, const Casts& casts = {});
// {x W_1^T + b_1, ..., x W_n^T + b_n, x with pass_input} as one product (column views of its
// output); backward takes the n gradients separately instead of concatenating them. separate: n
// products with contiguous outputs instead, for a consumer that wants dense tensors (cuDNN's
// attention, whose gradients would otherwise come back in another layout and be copied).
std::vector<at::Tensor> bias_linear_split(const at::Tensor& x, at::TensorList w, at::TensorList b, at::ScalarType dtype,
                                          bool pass_input, const Casts& casts = {}, bool separate = false);

// Runs fn (one transformer layer) so that its activations are recomputed during backward instead
// of being kept, when the model asks for gradient checkpointing.
// The dropout generator is rewound for the recomputation so that it draws the same masks.
at::Tensor checkpointed(const std::function<at::Tensor(const at::Tensor&)>& fn, const at::Tensor& x,
                        at::Generator* gen);

struct StepEvent;  // train.cpp: marks a queued step's results as copied to the host (CUDA)

struct Trainer {
  // A whole step queued on the device (or, on CPU, run) and not read back yet.
  struct Pending {
    std::vector<std::pair<int64_t, int64_t>> sizes;  // each micro-batch's pairs and tokens
    double lr = 0;
    int64_t step = 0;                  // the step count with this step
    at::Tensor results;                // CUDA: pinned host copy of each micro-batch's [loss, diffs...], in flight
    at::Tensor norm;                   // CUDA: pinned host copy of the gradient norm, in flight
    std::shared_ptr<StepEvent> done;   // CUDA: recorded after that copy
    std::vector<armap_batch_stats> stats;  // CPU: the step's results
    armap_step_stats out{};
  };

  Model* m = nullptr;
  armap_train_config cfg{};
  std::vector<size_t> trainable;   // indices into m->params
  std::vector<at::Tensor> exp_avg, exp_avg_sq;
  int64_t step = 0;

  double lr_at(int64_t s) const;
  // Forward and backward of one micro-batch; returns [1 + pairs] float32 on the device (the loss,
  // then every pair's r_chosen - r_rejected) without waiting for it.
  at::Tensor forward_backward(const armap_batch& b, at::Tensor* rewards);
  void accumulate(const armap_batch& b, float* rewards, armap_batch_stats* out);
  void update(armap_step_stats* out);
  // accumulate over n micro-batches, then update; on CUDA with one synchronization in all.
  void train_step(const armap_batch* batches, int32_t n, armap_batch_stats* stats, armap_step_stats* out);
  // train_step in two halves: launch_step queues a step, finish_step reads back the oldest queued
  // one. Up to kMaxPending steps are queued, so the host prepares the next while the GPU runs one.
  static constexpr size_t kMaxPending = ARMAP_MAX_PENDING_STEPS;
  std::deque<Pending> pending;
  void launch_step(const armap_batch* batches, int32_t n);
  void finish_step(armap_batch_stats* stats, int32_t n, armap_step_stats* out);
  // Fails when a launched step is still pending: for the ABI calls that must not interleave with
  // one (the member functions themselves do not check).
  void need_idle(const char* what) const;
  Pending queue_step(const armap_batch* batches, int32_t n);  // CUDA
  void complete_step(Pending& p, armap_batch_stats* stats, armap_step_stats* out);  // CUDA
  at::Tensor launch_update(double* lr);  // CUDA; returns the gradient norm on the device
  // Reports a launched update numbered step_no; a non-finite norm takes it back (and renumbers the
  // steps launched after it) and fails.
  void finish_update(double total, double lr, int64_t step_no, armap_step_stats* out);
  void zero_grad();
};

Trainer* create_trainer(Model* m, const armap_train_config& cfg);

// Kineto profiling (profile.cpp): operators on the calling thread and, with cuda, every CUDA
// kernel, until profile_stop saves them as a Chrome trace.
void profile_start(bool cuda);
bool profiler_built();  // false in kernels/fallback/profile_cpp.cpp
void profile_stop(const std::string& path);

at::ScalarType to_scalar_type(int32_t dtype);
// The ABI dtype of a tensor's scalar type (F32, BF16, F16), or -1.
inline int32_t abi_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return ARMAP_DTYPE_F32;
    case at::kBFloat16: return ARMAP_DTYPE_BF16;
    case at::kHalf: return ARMAP_DTYPE_F16;
    default: return -1;
  }
}
// Fails with what and the code when a kernel entry point (an int cudaError_t) did not return 0.
inline void check_cuda(int rc, const std::string& what) {
  if (rc != 0) fail(ARMAP_ERR_INTERNAL, what + " failed (cudaError " + std::to_string(rc) + ")");
}
// Whether a tensor's data starts on a 16-byte boundary (the CUDA kernels' vector accesses).
inline bool aligned16(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }
std::string shape_str(at::IntArrayRef s);

}  // namespace armap
