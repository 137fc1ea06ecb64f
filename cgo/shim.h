// C side of the Go binding: resolves the ABI's entry points with dlsym and calls them through
// function pointers (cgo cannot call a C function pointer directly). Batches are assembled here,
// on the C stack, so that no Go memory ever holds a pointer handed to C.
#ifndef ARMAP_SHIM_H
#define ARMAP_SHIM_H

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "armap.h"

#define ARMAP_FNS(X)                                                                                        \
  X(int32_t, abi_version, (void))                                                                           \
  X(armap_status, get_backend_info, (armap_backend_info*, armap_error*))                                    \
  X(armap_status, set_num_threads, (int32_t, armap_error*))                                                 \
  X(armap_status, model_create, (const armap_model_config*, const armap_model_options*, armap_model**,     \
                                 armap_error*))                                                             \
  X(void, model_free, (armap_model*))                                                                       \
  X(armap_status, model_num_tensors, (const armap_model*, int64_t*, int64_t*, armap_error*))               \
  X(armap_status, model_tensor_info, (const armap_model*, int64_t, armap_tensor_info*, armap_error*))      \
  X(armap_status, model_read_tensor, (armap_model*, const char*, int32_t, void*, int64_t, armap_error*))   \
  X(armap_status, model_write_tensor, (armap_model*, const char*, int32_t, const void*, int64_t,           \
                                       armap_error*))                                                       \
  X(armap_status, model_merge_lora, (armap_model*, armap_error*))                                           \
  X(armap_status, model_score, (armap_model*, const armap_batch*, float*, armap_error*))                   \
  X(armap_status, model_rng_state, (armap_model*, uint8_t*, int64_t, int64_t*, armap_error*))              \
  X(armap_status, model_set_rng_state, (armap_model*, const uint8_t*, int64_t, armap_error*))              \
  X(armap_status, trainer_create, (armap_model*, const armap_train_config*, armap_trainer**, armap_error*)) \
  X(void, trainer_free, (armap_trainer*))                                                                   \
  X(armap_status, trainer_accumulate, (armap_trainer*, const armap_batch*, float*, armap_batch_stats*,     \
                                       armap_error*))                                                       \
  X(armap_status, trainer_step, (armap_trainer*, armap_step_stats*, armap_error*))                         \
  X(armap_status, trainer_train_step, (armap_trainer*, const armap_batch*, int32_t, armap_batch_stats*,     \
                                       armap_step_stats*, armap_error*))                                    \
  X(armap_status, trainer_launch_step, (armap_trainer*, const armap_batch*, int32_t, armap_error*))         \
  X(armap_status, trainer_finish_step, (armap_trainer*, armap_batch_stats*, int32_t, armap_step_stats*,     \
                                        armap_error*))                                                      \
  X(armap_status, trainer_zero_grad, (armap_trainer*, armap_error*))                                        \
  X(armap_status, trainer_num_tensors, (const armap_trainer*, int64_t*, armap_error*))                     \
  X(armap_status, trainer_tensor_info, (const armap_trainer*, int64_t, armap_tensor_info*, armap_error*))  \
  X(armap_status, trainer_read_tensor, (armap_trainer*, const char*, int32_t, void*, int64_t,              \
                                        armap_error*))                                                      \
  X(armap_status, trainer_write_tensor, (armap_trainer*, const char*, int32_t, const void*, int64_t,       \
                                         armap_error*))                                                     \
  X(armap_status, trainer_get_step, (const armap_trainer*, int64_t*, armap_error*))                        \
  X(armap_status, trainer_set_step, (armap_trainer*, int64_t, armap_error*))                               \
  X(armap_status, profile_start, (int32_t, armap_error*))                                                   \
  X(armap_status, profile_stop, (const char*, armap_error*))

#define ARMAP_FIELD(ret, name, args) ret(*name) args;
typedef struct {
  ARMAP_FNS(ARMAP_FIELD)
} armap_fns;
#undef ARMAP_FIELD

// armap_load opens the library and resolves every entry point; on failure it writes why.
static inline int armap_load(const char* path, armap_fns* f, char* err, int errlen) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(err, errlen, "%s", dlerror());
    return 1;
  }
#define ARMAP_RESOLVE(ret, name, args)                                                      \
  *(void**)(&f->name) = dlsym(h, "armap_" #name);                                           \
  if (!f->name) {                                                                           \
    snprintf(err, errlen, "symbol armap_%s missing: the library is not an armap backend " \
             "or is older than this binary", #name);                                        \
    return 2;                                                                               \
  }
  ARMAP_FNS(ARMAP_RESOLVE)
#undef ARMAP_RESOLVE
  return 0;
}

static inline int32_t call_abi_version(armap_fns* f) { return f->abi_version(); }
static inline armap_status call_get_backend_info(armap_fns* f, armap_backend_info* o, armap_error* e) {
  return f->get_backend_info(o, e);
}
static inline armap_status call_set_num_threads(armap_fns* f, int32_t n, armap_error* e) {
  return f->set_num_threads(n, e);
}
static inline armap_status call_profile_start(armap_fns* f, int32_t cuda, armap_error* e) {
  return f->profile_start(cuda, e);
}
static inline armap_status call_profile_stop(armap_fns* f, const char* path, armap_error* e) {
  return f->profile_stop(path, e);
}
static inline armap_status call_model_create(armap_fns* f, const armap_model_config* c, const armap_model_options* o,
                                             armap_model** out, armap_error* e) {
  return f->model_create(c, o, out, e);
}
static inline void call_model_free(armap_fns* f, armap_model* m) { f->model_free(m); }
static inline armap_status call_model_num_tensors(armap_fns* f, armap_model* m, int64_t* n, int64_t* numel,
                                                  armap_error* e) {
  return f->model_num_tensors(m, n, numel, e);
}
static inline armap_status call_model_tensor_info(armap_fns* f, armap_model* m, int64_t i, armap_tensor_info* o,
                                                  armap_error* e) {
  return f->model_tensor_info(m, i, o, e);
}
static inline armap_status call_model_read_tensor(armap_fns* f, armap_model* m, const char* n, int32_t dt, void* d,
                                                  int64_t numel, armap_error* e) {
  return f->model_read_tensor(m, n, dt, d, numel, e);
}
static inline armap_status call_model_write_tensor(armap_fns* f, armap_model* m, const char* n, int32_t dt,
                                                   const void* s, int64_t numel, armap_error* e) {
  return f->model_write_tensor(m, n, dt, s, numel, e);
}
static inline armap_status call_model_merge_lora(armap_fns* f, armap_model* m, armap_error* e) {
  return f->model_merge_lora(m, e);
}
static inline armap_status call_model_score(armap_fns* f, armap_model* m, const int32_t* tokens, int64_t num_tokens,
                                            const int32_t* cu, int32_t num_seqs, float* scores, armap_error* e) {
  armap_batch b;
  memset(&b, 0, sizeof(b));
  b.tokens = tokens;
  b.num_tokens = num_tokens;
  b.cu_seqlens = cu;
  b.num_seqs = num_seqs;
  return f->model_score(m, &b, scores, e);
}
static inline armap_status call_model_rng_state(armap_fns* f, armap_model* m, uint8_t* buf, int64_t cap, int64_t* len,
                                                armap_error* e) {
  return f->model_rng_state(m, buf, cap, len, e);
}
static inline armap_status call_model_set_rng_state(armap_fns* f, armap_model* m, const uint8_t* buf, int64_t len,
                                                    armap_error* e) {
  return f->model_set_rng_state(m, buf, len, e);
}
static inline armap_status call_trainer_create(armap_fns* f, armap_model* m, const armap_train_config* c,
                                               armap_trainer** out, armap_error* e) {
  return f->trainer_create(m, c, out, e);
}
static inline void call_trainer_free(armap_fns* f, armap_trainer* t) { f->trainer_free(t); }
static inline armap_status call_trainer_accumulate(armap_fns* f, armap_trainer* t, const int32_t* tokens,
                                                   int64_t num_tokens, const int32_t* cu, int32_t num_seqs,
                                                   const int32_t* pairs, int32_t num_pairs, const float* margins,
                                                   float loss_weight, float* rewards, armap_batch_stats* out,
                                                   armap_error* e) {
  armap_batch b;
  memset(&b, 0, sizeof(b));
  b.tokens = tokens;
  b.num_tokens = num_tokens;
  b.cu_seqlens = cu;
  b.num_seqs = num_seqs;
  b.pairs = pairs;
  b.num_pairs = num_pairs;
  b.margins = margins;
  b.loss_weight = loss_weight;
  return f->trainer_accumulate(t, &b, rewards, out, e);
}
static inline armap_status call_trainer_step(armap_fns* f, armap_trainer* t, armap_step_stats* o, armap_error* e) {
  return f->trainer_step(t, o, e);
}
static inline armap_status call_trainer_train_step(armap_fns* f, armap_trainer* t, const armap_batch* b, int32_t n,
                                                   armap_batch_stats* stats, armap_step_stats* o, armap_error* e) {
  return f->trainer_train_step(t, b, n, stats, o, e);
}
static inline armap_status call_trainer_launch_step(armap_fns* f, armap_trainer* t, const armap_batch* b, int32_t n,
                                                    armap_error* e) {
  return f->trainer_launch_step(t, b, n, e);
}
static inline armap_status call_trainer_finish_step(armap_fns* f, armap_trainer* t, armap_batch_stats* stats,
                                                    int32_t n, armap_step_stats* o, armap_error* e) {
  return f->trainer_finish_step(t, stats, n, o, e);
}
static inline armap_status call_trainer_zero_grad(armap_fns* f, armap_trainer* t, armap_error* e) {
  return f->trainer_zero_grad(t, e);
}
static inline armap_status call_trainer_num_tensors(armap_fns* f, armap_trainer* t, int64_t* n, armap_error* e) {
  return f->trainer_num_tensors(t, n, e);
}
static inline armap_status call_trainer_tensor_info(armap_fns* f, armap_trainer* t, int64_t i, armap_tensor_info* o,
                                                    armap_error* e) {
  return f->trainer_tensor_info(t, i, o, e);
}
static inline armap_status call_trainer_read_tensor(armap_fns* f, armap_trainer* t, const char* n, int32_t dt,
                                                    void* d, int64_t numel, armap_error* e) {
  return f->trainer_read_tensor(t, n, dt, d, numel, e);
}
static inline armap_status call_trainer_write_tensor(armap_fns* f, armap_trainer* t, const char* n, int32_t dt,
                                                     const void* s, int64_t numel, armap_error* e) {
  return f->trainer_write_tensor(t, n, dt, s, numel, e);
}
static inline armap_status call_trainer_get_step(armap_fns* f, armap_trainer* t, int64_t* s, armap_error* e) {
  return f->trainer_get_step(t, s, e);
}
static inline armap_status call_trainer_set_step(armap_fns* f, armap_trainer* t, int64_t s, armap_error* e) {
  return f->trainer_set_step(t, s, e);
}

#endif
