// The C entry points of armap.h: argument checks, the exception guard, and host <-> tensor copies.
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <new>
#include <sstream>
#include <thread>

#include "internal.h"

#ifdef ARMAP_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "add_norm.h"
#include "colsum.h"
#endif

struct armap_model {
  armap::Model* m;
};
struct armap_trainer {
  armap::Trainer* t;
};

namespace armap {

namespace {

void set_error(armap_error* err, const std::string& msg) {
  if (!err) return;
  // Only the first line: c10 messages carry a backtrace and source locations after it.
  std::string first = msg.substr(0, msg.find('\n'));
  std::snprintf(err->msg, sizeof(err->msg), "%s", first.c_str());
}

// The intra-op thread count asked for with armap_set_num_threads (0 until then). libtorch keeps
// it per OS thread (OpenMP's nthreads ICV): a thread that ran libtorch before the call would keep
// the count it started with, and a caller such as the Go runtime moves calls between OS threads.
// Every entry point brings its thread up to date first, so that the count asked for holds on all
// of them, and with it the rounding of BLAS products and reductions, which depends on it.
std::atomic<int32_t> wanted_threads{0};

void sync_threads() {
  thread_local int32_t applied = 0;
  const int32_t n = wanted_threads.load(std::memory_order_relaxed);
  if (n > 0 && n != applied) {
    at::set_num_threads(n);
    applied = n;
  }
}

template <class F>
armap_status guard(armap_error* err, F&& f) {
  if (err) err->msg[0] = 0;
  try {
    sync_threads();
    f();
    return ARMAP_OK;
  } catch (const Error& e) {
    set_error(err, e.what());
    return e.code;
  } catch (const c10::OutOfMemoryError& e) {
    set_error(err, std::string("out of memory: ") + e.what_without_backtrace());
    return ARMAP_ERR_OUT_OF_MEMORY;
  } catch (const c10::Error& e) {
    set_error(err, e.what_without_backtrace());
    return ARMAP_ERR_INTERNAL;
  } catch (const std::bad_alloc&) {
    set_error(err, "out of host memory");
    return ARMAP_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_error(err, e.what());
    return ARMAP_ERR_INTERNAL;
  } catch (...) {
    set_error(err, "unknown C++ exception");
    return ARMAP_ERR_INTERNAL;
  }
}

void need_ptr(const void* p, const char* what) {
  if (!p) invalid(std::string(what) + " is NULL");
}

Model& model_of(armap_model* h) {
  if (!h || !h->m) invalid("model handle is NULL or freed");
  return *h->m;
}

Trainer& trainer_of(armap_trainer* h) {
  if (!h || !h->t) invalid("trainer handle is NULL or freed");
  return *h->t;
}

void fill_info(const std::string& name, const at::Tensor& t, bool trainable, bool decay, armap_tensor_info* out) {
  std::memset(out, 0, sizeof(*out));
  std::snprintf(out->name, sizeof(out->name), "%s", name.c_str());
  out->ndim = (int32_t)t.dim();
  for (int64_t i = 0; i < t.dim() && i < 8; i++) out->shape[i] = t.size(i);
  out->numel = t.numel();
  out->trainable = trainable;
  out->decay = decay;
}

void read_tensor(const std::string& name, const at::Tensor& t, int32_t dtype, void* dst, int64_t numel) {
  need_ptr(dst, "destination buffer");
  if (numel != t.numel())
    invalid("tensor " + name + " has " + std::to_string(t.numel()) + " elements " + shape_str(t.sizes()) +
            ", buffer holds " + std::to_string(numel));
  auto host = t.detach().to(at::kCPU, to_scalar_type(dtype)).contiguous();
  std::memcpy(dst, host.data_ptr(), host.nbytes());
}

void write_tensor(const std::string& name, at::Tensor& t, int32_t dtype, const void* src, int64_t numel) {
  need_ptr(src, "source buffer");
  if (numel != t.numel())
    invalid("tensor " + name + " has " + std::to_string(t.numel()) + " elements " + shape_str(t.sizes()) +
            ", buffer holds " + std::to_string(numel));
  auto host = at::from_blob(const_cast<void*>(src), t.sizes(), at::TensorOptions().dtype(to_scalar_type(dtype)));
  if (host.is_floating_point() && !at::isfinite(host).all().item<bool>())
    invalid("tensor " + name + " holds NaN or infinite values");
  c10::NoGradGuard ng;
  t.copy_(host);
}

}  // namespace

at::ScalarType to_scalar_type(int32_t dtype) {
  switch (dtype) {
    case ARMAP_DTYPE_F32: return at::kFloat;
    case ARMAP_DTYPE_F16: return at::kHalf;
    case ARMAP_DTYPE_BF16: return at::kBFloat16;
    case ARMAP_DTYPE_U8: return at::kByte;
  }
  invalid("unknown dtype " + std::to_string(dtype));
}

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); i++) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

HostBatch check_batch(const Model& m, const armap_batch& b, bool need_pairs) {
  need_ptr(b.tokens, "batch tokens");
  need_ptr(b.cu_seqlens, "batch cu_seqlens");
  if (b.num_seqs < 1) invalid("batch has no sequences");
  if (b.num_tokens < 1) invalid("batch has no tokens");
  const int32_t* cu = b.cu_seqlens;
  if (cu[0] != 0) invalid("cu_seqlens[0] must be 0, got " + std::to_string(cu[0]));
  if (cu[b.num_seqs] != b.num_tokens)
    invalid("cu_seqlens[" + std::to_string(b.num_seqs) + "] = " + std::to_string(cu[b.num_seqs]) +
            " does not equal num_tokens " + std::to_string(b.num_tokens));
  HostBatch h;
  h.cu.resize(b.num_seqs + 1);
  h.tokens.resize(b.num_tokens);
  h.positions.resize(b.num_tokens);
  h.first.resize(b.num_seqs);
  h.last.resize(b.num_seqs);
  for (int32_t i = 0; i < b.num_seqs; i++) {
    const int64_t s = cu[i], e = cu[i + 1], len = e - s;
    if (len < 1) invalid("sequence " + std::to_string(i) + " is empty (cu_seqlens must increase)");
    // Before anything is read: an offset past the end would read and write out of bounds.
    if (e > b.num_tokens)
      invalid("cu_seqlens[" + std::to_string(i + 1) + "] = " + std::to_string(e) + " is past num_tokens " +
              std::to_string(b.num_tokens));
    if (len > m.cfg.max_positions)
      invalid("sequence " + std::to_string(i) + " has " + std::to_string(len) + " tokens, more than max_positions " +
              std::to_string(m.cfg.max_positions));
    h.cu[i] = s;
    h.max_len = std::max(h.max_len, len);
    h.first[i] = s;
    h.last[i] = e - 1;
    for (int64_t j = s; j < e; j++) {
      const int32_t id = b.tokens[j];
      if (id < 0 || id >= m.cfg.vocab_size)
        invalid("token id " + std::to_string(id) + " at position " + std::to_string(j - s) + " of sequence " +
                std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(m.cfg.vocab_size) + ")");
      h.tokens[j] = id;
      h.positions[j] = j - s;
    }
  }
  h.cu[b.num_seqs] = b.num_tokens;
  if (need_pairs) {
    need_ptr(b.pairs, "batch pairs");
    if (b.num_pairs < 1) invalid("training batch has no pairs");
    for (int32_t i = 0; i < 2 * b.num_pairs; i++) {
      if (b.pairs[i] < 0 || b.pairs[i] >= b.num_seqs)
        invalid("pair " + std::to_string(i / 2) + " refers to sequence " + std::to_string(b.pairs[i]) +
                ", batch has " + std::to_string(b.num_seqs));
    }
    if (!(b.loss_weight > 0) || !std::isfinite(b.loss_weight))
      invalid("loss_weight must be a positive number, got " + std::to_string(b.loss_weight));
  }
  return h;
}

Packed pack_batch(const Model& m, const armap_batch& b, bool need_pairs) { return upload(m, check_batch(m, b, need_pairs)); }

at::Tensor to_device(const Model& m, const at::Tensor& host) {
  if (m.device.is_cpu()) return host;
  auto pinned = at::empty(host.sizes(), host.options().pinned_memory(true));
  pinned.copy_(host);
  return pinned.to(m.device, /*non_blocking=*/true);
}

Packed upload(const Model& m, const HostBatch& h) {
  Packed p;
  p.cu_host = h.cu;
  p.max_len = h.max_len;
  // One host buffer and one copy for all index tensors (pinned and asynchronous on CUDA).
  const int64_t T = (int64_t)h.tokens.size(), n = (int64_t)h.first.size();
  auto opts = at::TensorOptions().dtype(at::kLong);
#ifdef ARMAP_CUDA
  if (m.device.is_cuda()) opts = opts.pinned_memory(true);
#endif
  auto host = at::empty({2 * T + 2 * n}, opts);
  int64_t* d = host.data_ptr<int64_t>();
  std::copy(h.tokens.begin(), h.tokens.end(), d);
  std::copy(h.positions.begin(), h.positions.end(), d + T);
  std::copy(h.first.begin(), h.first.end(), d + 2 * T);
  std::copy(h.last.begin(), h.last.end(), d + 2 * T + n);
  auto dev = m.device.is_cpu() ? host : host.to(m.device, /*non_blocking=*/true);
  p.tokens = dev.narrow(0, 0, T);
  p.positions = dev.narrow(0, T, T);
  p.first = dev.narrow(0, 2 * T, n);
  p.last = dev.narrow(0, 2 * T + n, n);
  std::vector<int32_t> cu32(h.cu.begin(), h.cu.end());
  p.cu = to_device(m, at::tensor(cu32, at::TensorOptions().dtype(at::kInt)));
  return p;
}

// Optimizer tensors are listed as all exp_avg.* first, then all exp_avg_sq.*.
std::pair<std::string, at::Tensor*> trainer_tensor(Trainer& t, int64_t index) {
  const int64_t n = (int64_t)t.trainable.size();
  if (index < 0 || index >= 2 * n) fail(ARMAP_ERR_NOT_FOUND, "optimizer tensor index out of range");
  auto& name = t.m->params[t.trainable[index % n]].name;
  if (index < n) return {"exp_avg." + name, &t.exp_avg[index]};
  return {"exp_avg_sq." + name, &t.exp_avg_sq[index - n]};
}
std::pair<std::string, at::Tensor*> trainer_tensor(Trainer& t, const std::string& name) {
  const int64_t n = (int64_t)t.trainable.size();
  for (int64_t i = 0; i < 2 * n; i++) {
    auto e = trainer_tensor(t, i);
    if (e.first == name) return e;
  }
  fail(ARMAP_ERR_NOT_FOUND, "no optimizer tensor named " + name);
}

}  // namespace armap

using namespace armap;

extern "C" {

int32_t armap_abi_version(void) { return ARMAP_ABI_VERSION; }

armap_status armap_get_backend_info(armap_backend_info* out, armap_error* err) {
  return guard(err, [&] {
    need_ptr(out, "info");
    std::memset(out, 0, sizeof(*out));
    std::snprintf(out->torch_version, sizeof(out->torch_version), "%s", TORCH_VERSION);
    out->abi_version = ARMAP_ABI_VERSION;
    out->num_threads = at::get_num_threads();
    std::string features;
    auto feature = [&](bool on, const char* name) {
      if (!on) return;
      if (!features.empty()) features += ' ';
      features += name;
    };
    feature(linear_functions_built(), "fused_linear");
    feature(cudnn_attention_built(), "cudnn_attention");
#ifdef ARMAP_CUDA
    // The fallbacks of add_norm.cu and colsum.cu take no shape at all.
    feature(cuda::add_norm_supported(ARMAP_DTYPE_BF16, 768), "add_norm_kernels");
    feature(cuda::colsum_supported(ARMAP_DTYPE_BF16, 768), "colsum_kernels");
#else
    feature(true, "add_norm_kernels");  // the CPU form of add_norm.cpp
#endif
    feature(profiler_built(), "profiler");
    std::snprintf(out->features, sizeof(out->features), "%s", features.c_str());
#ifdef ARMAP_CUDA
    std::snprintf(out->backend, sizeof(out->backend), "cuda");
    out->cuda_available = at::cuda::is_available();
    out->cuda_device_count = (int32_t)at::cuda::device_count();
    if (out->cuda_device_count > 0) {
      auto* prop = at::cuda::getDeviceProperties(0);
      std::snprintf(out->device_name, sizeof(out->device_name), "%s", prop->name);
    }
#else
    std::snprintf(out->backend, sizeof(out->backend), "cpu");
    std::snprintf(out->device_name, sizeof(out->device_name), "cpu (%u hardware threads)",
                  std::thread::hardware_concurrency());
#endif
  });
}

armap_status armap_set_num_threads(int32_t n, armap_error* err) {
  return guard(err, [&] {
    if (n < 1) invalid("thread count must be >= 1, got " + std::to_string(n));
    wanted_threads.store(n, std::memory_order_relaxed);
    sync_threads();
  });
}

armap_status armap_profile_start(int32_t cuda, armap_error* err) {
  return guard(err, [&] { profile_start(cuda != 0); });
}

armap_status armap_profile_stop(const char* path, armap_error* err) {
  return guard(err, [&] { profile_stop(path ? path : ""); });
}

armap_status armap_model_create(const armap_model_config* cfg, const armap_model_options* opt, armap_model** out,
                                armap_error* err) {
  return guard(err, [&] {
    need_ptr(cfg, "model config");
    need_ptr(opt, "model options");
    need_ptr(out, "output handle");
    *out = nullptr;
    std::unique_ptr<Model> m(create_model(*cfg, *opt));
    *out = new armap_model{m.release()};
  });
}

void armap_model_free(armap_model* h) {
  if (!h) return;
  try {
    delete h->m;
  } catch (...) {
  }
  delete h;
}

armap_status armap_model_num_tensors(const armap_model* h, int64_t* count, int64_t* numel, armap_error* err) {
  return guard(err, [&] {
    auto& m = model_of(const_cast<armap_model*>(h));
    int64_t total = 0;
    for (auto& p : m.params) total += p.t.numel();
    if (count) *count = (int64_t)m.params.size();
    if (numel) *numel = total;
  });
}

armap_status armap_model_tensor_info(const armap_model* h, int64_t index, armap_tensor_info* out, armap_error* err) {
  return guard(err, [&] {
    auto& m = model_of(const_cast<armap_model*>(h));
    need_ptr(out, "tensor info");
    if (index < 0 || index >= (int64_t)m.params.size())
      fail(ARMAP_ERR_NOT_FOUND, "tensor index " + std::to_string(index) + " out of range");
    auto& p = m.params[index];
    fill_info(p.name, p.t, p.trainable, p.decay, out);
  });
}

armap_status armap_model_read_tensor(armap_model* h, const char* name, int32_t dtype, void* dst, int64_t numel,
                                     armap_error* err) {
  return guard(err, [&] {
    need_ptr(name, "tensor name");
    auto& p = model_of(h).param(name);
    read_tensor(p.name, p.t, dtype, dst, numel);
  });
}

armap_status armap_model_write_tensor(armap_model* h, const char* name, int32_t dtype, const void* src, int64_t numel,
                                      armap_error* err) {
  return guard(err, [&] {
    need_ptr(name, "tensor name");
    auto& m = model_of(h);
    auto& p = m.param(name);
    write_tensor(p.name, p.t, dtype, src, numel);
    m.weights_changed();
  });
}

armap_status armap_model_merge_lora(armap_model* h, armap_error* err) {
  return guard(err, [&] { merge_lora(model_of(h)); });
}

armap_status armap_model_score(armap_model* h, const armap_batch* b, float* scores, armap_error* err) {
  return guard(err, [&] {
    auto& m = model_of(h);
    need_ptr(b, "batch");
    need_ptr(scores, "scores buffer");
    c10::InferenceMode im;
    HostBatch hb = check_batch(m, *b, false);
#ifdef ARMAP_CUDA
    if (score_with_graph(m, hb, scores)) return;
#endif
    Packed p = upload(m, hb);
    Model::ScoringScope scoring(m);
    // The reward is the first label: exactly num_seqs floats, whatever num_labels is.
    auto r = m.forward(p, false).select(1, 0).to(at::kCPU).contiguous();
    std::memcpy(scores, r.data_ptr<float>(), r.nbytes());
  });
}

armap_status armap_model_rng_state(armap_model* h, uint8_t* buf, int64_t cap, int64_t* len, armap_error* err) {
  return guard(err, [&] {
    auto& m = model_of(h);
    need_ptr(len, "length");
    auto st = m.gen.get_state().contiguous();
    *len = st.numel();
    if (!buf) return;
    if (cap < st.numel()) invalid("rng state needs " + std::to_string(st.numel()) + " bytes");
    std::memcpy(buf, st.data_ptr<uint8_t>(), st.numel());
  });
}

armap_status armap_model_set_rng_state(armap_model* h, const uint8_t* buf, int64_t len, armap_error* err) {
  return guard(err, [&] {
    auto& m = model_of(h);
    need_ptr(buf, "rng state");
    auto cur = m.gen.get_state();
    if (len != cur.numel())
      invalid("rng state has " + std::to_string(len) + " bytes, this generator's has " + std::to_string(cur.numel()));
    auto st = at::from_blob(const_cast<uint8_t*>(buf), {len}, at::kByte).clone();
    m.gen.set_state(st);
  });
}

armap_status armap_trainer_create(armap_model* mh, const armap_train_config* cfg, armap_trainer** out,
                                  armap_error* err) {
  return guard(err, [&] {
    need_ptr(cfg, "train config");
    need_ptr(out, "output handle");
    *out = nullptr;
    std::unique_ptr<Trainer> t(create_trainer(&model_of(mh), *cfg));
    *out = new armap_trainer{t.release()};
  });
}

void armap_trainer_free(armap_trainer* h) {
  if (!h) return;
  try {
    if (h->t) h->t->zero_grad();
    delete h->t;
  } catch (...) {
  }
  delete h;
}

armap_status armap_trainer_accumulate(armap_trainer* h, const armap_batch* b, float* rewards, armap_batch_stats* out,
                                      armap_error* err) {
  auto st = guard(err, [&] {
    need_ptr(b, "batch");
    trainer_of(h).need_idle("accumulate");
    trainer_of(h).accumulate(*b, rewards, out);
  });
  return st;
}

armap_status armap_trainer_train_step(armap_trainer* h, const armap_batch* batches, int32_t n,
                                      armap_batch_stats* stats, armap_step_stats* out, armap_error* err) {
  return guard(err, [&] {
    need_ptr(batches, "batches");
    trainer_of(h).need_idle("train step");
    trainer_of(h).train_step(batches, n, stats, out);
  });
}

armap_status armap_trainer_launch_step(armap_trainer* h, const armap_batch* batches, int32_t n, armap_error* err) {
  return guard(err, [&] {
    need_ptr(batches, "batches");
    trainer_of(h).launch_step(batches, n);
  });
}

armap_status armap_trainer_finish_step(armap_trainer* h, armap_batch_stats* stats, int32_t n, armap_step_stats* out,
                                       armap_error* err) {
  return guard(err, [&] { trainer_of(h).finish_step(stats, n, out); });
}

armap_status armap_trainer_step(armap_trainer* h, armap_step_stats* out, armap_error* err) {
  return guard(err, [&] {
    trainer_of(h).need_idle("step");
    trainer_of(h).update(out);
  });
}

armap_status armap_trainer_zero_grad(armap_trainer* h, armap_error* err) {
  return guard(err, [&] { trainer_of(h).zero_grad(); });
}

armap_status armap_trainer_num_tensors(const armap_trainer* h, int64_t* count, armap_error* err) {
  return guard(err, [&] {
    need_ptr(count, "count");
    *count = 2 * (int64_t)trainer_of(const_cast<armap_trainer*>(h)).trainable.size();
  });
}


armap_status armap_trainer_tensor_info(const armap_trainer* h, int64_t index, armap_tensor_info* out,
                                       armap_error* err) {
  return guard(err, [&] {
    need_ptr(out, "tensor info");
    auto e = trainer_tensor(trainer_of(const_cast<armap_trainer*>(h)), index);
    fill_info(e.first, *e.second, false, false, out);
  });
}

armap_status armap_trainer_read_tensor(armap_trainer* h, const char* name, int32_t dtype, void* dst, int64_t numel,
                                       armap_error* err) {
  return guard(err, [&] {
    need_ptr(name, "tensor name");
    auto e = trainer_tensor(trainer_of(h), name);
    read_tensor(e.first, *e.second, dtype, dst, numel);
  });
}

armap_status armap_trainer_write_tensor(armap_trainer* h, const char* name, int32_t dtype, const void* src,
                                        int64_t numel, armap_error* err) {
  return guard(err, [&] {
    need_ptr(name, "tensor name");
    trainer_of(h).need_idle("write optimizer tensor");
    auto e = trainer_tensor(trainer_of(h), name);
    write_tensor(e.first, *e.second, dtype, src, numel);
  });
}

armap_status armap_trainer_get_step(const armap_trainer* h, int64_t* step, armap_error* err) {
  return guard(err, [&] {
    need_ptr(step, "step");
    *step = trainer_of(const_cast<armap_trainer*>(h)).step;
  });
}

armap_status armap_trainer_set_step(armap_trainer* h, int64_t step, armap_error* err) {
  return guard(err, [&] {
    if (step < 0) invalid("step must be >= 0");
    trainer_of(h).need_idle("set step");
    trainer_of(h).step = step;
  });
}

}  // extern "C"
