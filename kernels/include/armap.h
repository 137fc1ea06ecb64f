/*
 * armap.h: the C ABI of armap's compute backend (libarmap_cpu.so, libarmap_cuda.so).
 *
 * Rules every entry point follows:
 *  - Plain C: opaque handles, plain structs, explicit *_free. Nothing is freed behind the caller.
 *  - Every call that can fail returns an armap_status and, on failure, writes a one-line message
 *    into the caller's armap_error. No C++ exception and no abort crosses this boundary.
 *  - Work is coarse-grained: one call scores or trains on a whole packed micro-batch. Sequences
 *    are packed back to back in one int32 token buffer and delimited by cu_seqlens
 *    (num_seqs + 1 offsets, cu_seqlens[0] = 0, cu_seqlens[num_seqs] = num_tokens). There is no
 *    padding anywhere in this interface.
 *  - Parameters carry their HuggingFace names (bert.encoder.layer.0.attention.self.query.weight,
 *    model.layers.0.self_attn.q_proj.weight, score.weight, ...) so checkpoints move both ways.
 *  - A handle may be used from one thread at a time; the Go binding serializes calls per model.
 */
#ifndef ARMAP_H
#define ARMAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct or a signature below changes; the Go binding refuses a mismatch. */
#define ARMAP_ABI_VERSION 7

/* The library is built with hidden visibility; only these entry points are exported. */
#if defined(__GNUC__)
#define ARMAP_API __attribute__((visibility("default")))
#else
#define ARMAP_API
#endif

typedef enum {
  ARMAP_OK = 0,
  ARMAP_ERR_INVALID_ARGUMENT = 1, /* bad config, shapes, token ids, lengths, pair indices */
  ARMAP_ERR_NOT_FOUND = 2,        /* unknown parameter or state name */
  ARMAP_ERR_OUT_OF_MEMORY = 3,
  ARMAP_ERR_UNSUPPORTED = 4,      /* not available in this build (CUDA on the CPU backend, ...) */
  ARMAP_ERR_INTERNAL = 5          /* any other libtorch error; the message says which */
} armap_status;

#define ARMAP_ERROR_LEN 1024
typedef struct {
  char msg[ARMAP_ERROR_LEN];
} armap_error;

typedef enum { ARMAP_FAMILY_ENCODER = 1, ARMAP_FAMILY_DECODER = 2 } armap_family;
typedef enum { ARMAP_DTYPE_F32 = 0, ARMAP_DTYPE_F16 = 1, ARMAP_DTYPE_BF16 = 2, ARMAP_DTYPE_U8 = 3 } armap_dtype;
typedef enum { ARMAP_DEVICE_CPU = 0, ARMAP_DEVICE_CUDA = 1 } armap_device;
typedef enum { ARMAP_SCHEDULE_CONSTANT = 0, ARMAP_SCHEDULE_LINEAR = 1, ARMAP_SCHEDULE_COSINE = 2 } armap_schedule;

/* LoRA target bits (decoder: q,k,v,o,gate,up,down; encoder: query,key,value,attention output,
 * intermediate, output dense). */
enum {
  ARMAP_LORA_Q = 1 << 0, ARMAP_LORA_K = 1 << 1, ARMAP_LORA_V = 1 << 2, ARMAP_LORA_O = 1 << 3,
  ARMAP_LORA_GATE = 1 << 4, ARMAP_LORA_UP = 1 << 5, ARMAP_LORA_DOWN = 1 << 6
};

/* Architecture: what config.json describes. Zero fields take the documented defaults. */
typedef struct {
  int32_t family;            /* armap_family */
  int32_t vocab_size;
  int32_t hidden_size;
  int32_t num_layers;
  int32_t num_heads;
  int32_t num_kv_heads;      /* decoder grouped-query attention; 0 = num_heads */
  int32_t head_dim;          /* 0 = hidden_size / num_heads */
  int32_t intermediate_size;
  int32_t max_positions;     /* longest sequence accepted (learned positions / RoPE table) */
  int32_t type_vocab_size;   /* encoder token types; 0 = 2 */
  int32_t qkv_bias;          /* decoder: bias on q/k/v projections (Qwen2) */
  int32_t o_bias;            /* decoder: bias on the attention output projection */
  int32_t mlp_bias;          /* decoder: bias on gate/up/down */
  int32_t num_labels;        /* 0 = 1 (a scalar reward) */
  float norm_eps;            /* 0 = 1e-12 (encoder LayerNorm) / 1e-6 (decoder RMSNorm) */
  float rope_theta;          /* decoder; 0 = 10000 */
  float hidden_dropout;      /* applied only while training */
  float attention_dropout;
  float init_std;            /* from-scratch init: normal(0, init_std); 0 = 0.02 */
} armap_model_config;

/* Runtime: where and how the model runs. Not part of the checkpoint's architecture. */
typedef struct {
  int32_t device;             /* armap_device */
  int32_t device_index;
  int32_t compute_dtype;      /* ARMAP_DTYPE_F32, or BF16/F16 autocast with float32 master weights */
  int32_t grad_checkpointing; /* recompute each layer in backward to save activation memory */
  uint64_t seed;              /* from-scratch init and dropout */
  int32_t lora_rank;          /* 0 = full fine-tuning */
  float lora_alpha;
  int32_t lora_targets;       /* ARMAP_LORA_* bits; 0 = q|v */
  int32_t cuda_graphs;        /* CUDA bf16/f16 scoring replays captured graphs at bucketed token
                                 budgets: 0 = on, -1 = off (eager every call) */
  int32_t fused_kernels;      /* encoder's fused kernels: residual + dropout + LayerNorm as one operation
                                 with its own backward, and (training) the linear layers' own backward
                                 (bias gradients as column sums, GELU's backward fused with one):
                                 0 = default (on), 1 = on (a CUDA width the kernels do not take is
                                 refused), 2 = the LayerNorm kernels only (linear layers through
                                 ATen's autograd; widths as for 1), -1 = off (ATen's operations only) */
  int32_t attention;          /* CUDA bf16/f16 attention: 0 = default (flash attention over the packed
                                 sequences), 1 = flash, 2 = cuDNN's attention for a batch whose
                                 sequences all have one length, training or scoring outside a
                                 captured graph (flash for the others; a backend without it refuses 2) */
} armap_model_options;

typedef struct {
  char name[256];
  int32_t ndim;
  int64_t shape[8];
  int64_t numel;
  int32_t trainable;   /* receives gradients */
  int32_t decay;       /* AdamW applies weight decay (not norms, not biases) */
} armap_tensor_info;

/* One packed micro-batch. */
typedef struct {
  const int32_t* tokens;
  int64_t num_tokens;
  const int32_t* cu_seqlens; /* num_seqs + 1 entries */
  int32_t num_seqs;
  const int32_t* pairs;      /* training: 2 * num_pairs sequence indices, (chosen, rejected) ... */
  int32_t num_pairs;
  const float* margins;      /* NULL or num_pairs margins: loss -logsigmoid(rc - rr - margin) */
  float loss_weight;         /* this micro-batch's share of the step's mean loss (pairs / step pairs) */
} armap_batch;

typedef struct {
  double lr;
  double beta1, beta2, eps;
  double weight_decay;
  int32_t decay_all;          /* 1: decay every parameter (torch.optim.AdamW(model.parameters())) */
  double max_grad_norm;       /* <= 0: no clipping */
  int32_t schedule;           /* armap_schedule */
  int64_t warmup_steps;
  int64_t total_steps;        /* schedule length (linear/cosine) */
  double min_lr_ratio;        /* floor of the decayed schedule, as a fraction of lr */
  double center_rewards_coefficient; /* adds coef * mean((rc + rr)^2), as TRL */
} armap_train_config;

typedef struct {
  double loss;          /* mean pairwise loss of this micro-batch (before loss_weight) */
  int32_t correct;      /* pairs with r_chosen > r_rejected */
  double margin_sum;    /* sum of r_chosen - r_rejected */
  int64_t tokens;
} armap_batch_stats;

typedef struct {
  int64_t step;         /* optimizer steps taken so far, this one included */
  double lr;            /* learning rate used by this step */
  double grad_norm;     /* total 2-norm of the gradient before clipping */
} armap_step_stats;

typedef struct {
  char torch_version[32];
  char backend[32];        /* "cpu" or "cuda" */
  int32_t cuda_available;
  int32_t cuda_device_count;
  char device_name[128];   /* first CUDA device, or the CPU */
  int32_t num_threads;     /* intra-op threads */
  int32_t abi_version;
  char features[160];      /* the optional parts built in, space-separated: fused_linear, cudnn_attention,
                              add_norm_kernels, colsum_kernels, profiler; a CUDA build lacks the ones
                              whose source fell back to kernels/fallback/ */
} armap_backend_info;

typedef struct armap_model armap_model;
typedef struct armap_trainer armap_trainer;

ARMAP_API int32_t armap_abi_version(void);
ARMAP_API armap_status armap_get_backend_info(armap_backend_info* out, armap_error* err);
/* libtorch's intra-op thread count for every later call, from whichever OS thread it comes (libtorch
 * keeps the count per thread: each entry point brings its thread up to date). armap_backend_info's
 * num_threads is the count of the calling thread. */
ARMAP_API armap_status armap_set_num_threads(int32_t n, armap_error* err);

/* Models. A model is created with from-scratch weights; the host may then overwrite any named
 * parameter (armap_model_write_tensor) to load a checkpoint. */
ARMAP_API armap_status armap_model_create(const armap_model_config* cfg, const armap_model_options* opt,
                                armap_model** out, armap_error* err);
ARMAP_API void armap_model_free(armap_model* m);
ARMAP_API armap_status armap_model_num_tensors(const armap_model* m, int64_t* count, int64_t* numel, armap_error* err);
ARMAP_API armap_status armap_model_tensor_info(const armap_model* m, int64_t index, armap_tensor_info* out, armap_error* err);
/* Copy a named parameter to or from host memory, converting to/from dtype; numel must match. */
ARMAP_API armap_status armap_model_read_tensor(armap_model* m, const char* name, int32_t dtype, void* dst, int64_t numel,
                                     armap_error* err);
ARMAP_API armap_status armap_model_write_tensor(armap_model* m, const char* name, int32_t dtype, const void* src,
                                      int64_t numel, armap_error* err);
/* Fold LoRA adapters into the base weights (for export); the adapters are reset to zero. */
ARMAP_API armap_status armap_model_merge_lora(armap_model* m, armap_error* err);
/* Scores (num_labels = 1: one float per sequence) without autograd. */
ARMAP_API armap_status armap_model_score(armap_model* m, const armap_batch* b, float* scores, armap_error* err);
/* Dropout RNG state, for exact resume. Call with buf = NULL to learn the size. */
ARMAP_API armap_status armap_model_rng_state(armap_model* m, uint8_t* buf, int64_t cap, int64_t* len, armap_error* err);
ARMAP_API armap_status armap_model_set_rng_state(armap_model* m, const uint8_t* buf, int64_t len, armap_error* err);

/* Training: AdamW with a warmup + decay schedule on the model's trainable parameters. */
ARMAP_API armap_status armap_trainer_create(armap_model* m, const armap_train_config* cfg, armap_trainer** out,
                                  armap_error* err);
ARMAP_API void armap_trainer_free(armap_trainer* t);
/* Forward + backward of one micro-batch of pairs; gradients accumulate until armap_trainer_step.
 * rewards, when not NULL, receives num_seqs scores. */
ARMAP_API armap_status armap_trainer_accumulate(armap_trainer* t, const armap_batch* b, float* rewards,
                                      armap_batch_stats* out, armap_error* err);
/* Clip, update, advance the schedule, zero the gradients. */
ARMAP_API armap_status armap_trainer_step(armap_trainer* t, armap_step_stats* out, armap_error* err);
/* A whole optimizer step: armap_trainer_accumulate over n micro-batches, then armap_trainer_step.
 * stats, when not NULL, receives n batch stats. On CUDA nothing is read back until every kernel of
 * the step is queued (one synchronization per step instead of one per micro-batch and one for the
 * gradient norm), and a non-finite gradient norm is detected on the device: the update is skipped
 * there and the call fails as armap_trainer_step would. On failure the gradients are zeroed. */
ARMAP_API armap_status armap_trainer_train_step(armap_trainer* t, const armap_batch* batches, int32_t n,
                                      armap_batch_stats* stats, armap_step_stats* out, armap_error* err);
/* armap_trainer_train_step in two halves, so that the host validates, uploads and queues the next
 * step while the GPU runs this one: launch_step queues a whole step and returns without its
 * results; finish_step waits for the oldest launched step and writes its n batch stats (stats may
 * be NULL; n must be that step's number of micro-batches) and its step stats. At most
 * ARMAP_MAX_PENDING_STEPS steps are pending; accumulate, step, train_step, write_tensor and
 * set_step fail while any is.
 * A bad batch fails launch_step (gradients zeroed, nothing queued). A non-finite gradient norm
 * fails finish_step on CUDA (the step was skipped on the device; a step launched after it has
 * still run, from the same weights, and takes its number) and launch_step on CPU, where the step
 * runs inside it. */
#define ARMAP_MAX_PENDING_STEPS 2
ARMAP_API armap_status armap_trainer_launch_step(armap_trainer* t, const armap_batch* batches, int32_t n,
                                       armap_error* err);
ARMAP_API armap_status armap_trainer_finish_step(armap_trainer* t, armap_batch_stats* stats, int32_t n,
                                       armap_step_stats* out, armap_error* err);
ARMAP_API armap_status armap_trainer_zero_grad(armap_trainer* t, armap_error* err);
/* Optimizer state for checkpoints: tensors named "exp_avg.<param>" and "exp_avg_sq.<param>"
 * (float32), plus the step counter. */
ARMAP_API armap_status armap_trainer_num_tensors(const armap_trainer* t, int64_t* count, armap_error* err);
ARMAP_API armap_status armap_trainer_tensor_info(const armap_trainer* t, int64_t index, armap_tensor_info* out,
                                       armap_error* err);
ARMAP_API armap_status armap_trainer_read_tensor(armap_trainer* t, const char* name, int32_t dtype, void* dst,
                                       int64_t numel, armap_error* err);
ARMAP_API armap_status armap_trainer_write_tensor(armap_trainer* t, const char* name, int32_t dtype, const void* src,
                                        int64_t numel, armap_error* err);
ARMAP_API armap_status armap_trainer_get_step(const armap_trainer* t, int64_t* step, armap_error* err);
ARMAP_API armap_status armap_trainer_set_step(armap_trainer* t, int64_t step, armap_error* err);

/* Profiling (Kineto): records the operators run on the calling thread and, with cuda = 1, every
 * CUDA kernel, until armap_profile_stop saves them as a Chrome trace (JSON) at path. One profile
 * at a time per process; start and stop are called from the same thread. */
ARMAP_API armap_status armap_profile_start(int32_t cuda, armap_error* err);
ARMAP_API armap_status armap_profile_stop(const char* path, armap_error* err);

#ifdef __cplusplus
}
#endif
#endif /* ARMAP_H */
