// Pairwise (Bradley-Terry) training: loss, gradient accumulation, clipping, AdamW and the
// learning-rate schedule. AdamW is written out (rather than torch::optim) so that its state is
// plain named tensors the host saves as safetensors, and its arithmetic matches
// torch.optim.AdamW step for step.
#include <torch/version.h>

#include <cmath>
#include <cstring>
#include <optional>

#include "internal.h"

#ifdef ARMAP_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace armap {

#ifdef ARMAP_CUDA
struct StepEvent {
  at::cuda::CUDAEvent event;
};
#else
struct StepEvent {};
#endif

Trainer* create_trainer(Model* m, const armap_train_config& cfg) {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) invalid("train config: " + what);
  };
  need(cfg.lr > 0 && std::isfinite(cfg.lr), "lr must be a positive number");
  need(cfg.beta1 >= 0 && cfg.beta1 < 1, "beta1 must be in [0, 1)");
  need(cfg.beta2 >= 0 && cfg.beta2 < 1, "beta2 must be in [0, 1)");
  need(cfg.eps > 0, "eps must be > 0");
  need(cfg.weight_decay >= 0, "weight_decay must be >= 0");
  need(cfg.schedule >= ARMAP_SCHEDULE_CONSTANT && cfg.schedule <= ARMAP_SCHEDULE_COSINE,
       "schedule must be constant, linear or cosine");
  need(cfg.warmup_steps >= 0, "warmup_steps must be >= 0");
  need(cfg.schedule == ARMAP_SCHEDULE_CONSTANT || cfg.total_steps > 0,
       "total_steps must be > 0 for a linear or cosine schedule");
  need(cfg.min_lr_ratio >= 0 && cfg.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]");
  need(cfg.center_rewards_coefficient >= 0, "center_rewards_coefficient must be >= 0");
  if (m->cudnn_attention && !cudnn_dropout_exact(m->cfg.attention_dropout)) {
    fail(ARMAP_ERR_UNSUPPORTED, "attention: cudnn draws attention dropout in steps of 1/16, and this model's is " +
                                    c10::str(m->cfg.attention_dropout) +
                                    ": train with attention: flash, or an attention dropout that is a multiple of 0.0625");
  }

  auto t = std::make_unique<Trainer>();
  t->m = m;
  t->cfg = cfg;
  for (size_t i = 0; i < m->params.size(); i++) {
    if (!m->params[i].trainable) continue;
    t->trainable.push_back(i);
    t->exp_avg.push_back(at::zeros_like(m->params[i].t, at::MemoryFormat::Contiguous).detach());
    t->exp_avg_sq.push_back(at::zeros_like(m->params[i].t, at::MemoryFormat::Contiguous).detach());
  }
  return t.release();
}

// The multiplier HF's schedulers (get_*_schedule_with_warmup, LambdaLR) apply at optimizer step s
// (0-based): note that, as there, the first warmup step runs at lr 0.
double Trainer::lr_at(int64_t s) const {
  const double w = (double)cfg.warmup_steps;
  if (s < cfg.warmup_steps) return cfg.lr * (double)s / std::max(1.0, w);
  double f = 1.0;
  if (cfg.schedule != ARMAP_SCHEDULE_CONSTANT) {
    const double progress = ((double)s - w) / std::max(1.0, (double)cfg.total_steps - w);
    if (cfg.schedule == ARMAP_SCHEDULE_LINEAR) {
      f = std::max(0.0, 1.0 - progress);
    } else {
      f = std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress))));
    }
    f = cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * f;
  }
  return cfg.lr * f;
}

namespace {

// h: the loss, then every pair's difference (forward_backward's result, read back as float or,
// within a whole step, as double).
template <typename T>
void fill_batch_stats(const T* h, int64_t pairs, int64_t tokens, armap_batch_stats* out) {
  if (!out) return;
  int32_t correct = 0;
  double msum = 0;
  for (int64_t i = 0; i < pairs; i++) {
    correct += h[i + 1] > 0;
    msum += h[i + 1];
  }
  out->loss = h[0];
  out->correct = correct;
  out->margin_sum = msum;
  out->tokens = tokens;
}

// Runs f for micro-batch i of a step of n, naming the micro-batch when a step has several (the
// error from check_batch names the sequence and token).
template <typename F>
decltype(auto) in_micro(int32_t i, int32_t n, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    if (n == 1) throw;
    fail(e.code, "micro-batch " + std::to_string(i) + ": " + e.what());
  }
}

}  // namespace

at::Tensor Trainer::forward_backward(const armap_batch& b, at::Tensor* rewards) {
  Packed p = pack_batch(*m, b, true);
  // Scoring between steps (evaluation) leaves bf16 weight copies and graph pools behind; free
  // them before the activations of a training step need the memory.
  m->weights_changed();
  std::shared_lock<std::shared_mutex> rng_lock(cuda_rng_mutex(), std::defer_lock);
  if (m->device.is_cuda()) rng_lock.lock();
  const int64_t np = b.num_pairs;
  auto pairs = to_device(*m, at::from_blob(const_cast<int32_t*>(b.pairs), {np, 2}, at::kInt).to(at::kLong));
  at::Tensor mg;
  if (b.margins) mg = to_device(*m, at::from_blob(const_cast<float*>(b.margins), {np}, at::kFloat));
  auto r = m->forward(p, true).select(1, 0);  // [n]
  auto rc = r.index_select(0, pairs.select(1, 0));
  auto rr = r.index_select(0, pairs.select(1, 1));
  auto diff = rc - rr;
  auto z = mg.defined() ? diff - mg : diff;
  auto loss = -at::log_sigmoid(z).mean();
  if (cfg.center_rewards_coefficient > 0) {
    loss = loss + cfg.center_rewards_coefficient * (rc + rr).pow(2).mean();
  }
  (loss * (double)b.loss_weight).backward();
  if (rewards) *rewards = r.detach();
  return at::cat({loss.detach().reshape({1}).to(at::kFloat), diff.detach().to(at::kFloat)});
}

void Trainer::accumulate(const armap_batch& b, float* rewards, armap_batch_stats* out) {
  at::Tensor r;
  auto dev = forward_backward(b, rewards ? &r : nullptr);
  // One device-to-host copy (one synchronization) for the loss and every pair's difference.
  auto host = dev.to(at::kCPU).contiguous();
  fill_batch_stats(host.data_ptr<float>(), b.num_pairs, b.num_tokens, out);
  if (rewards) {
    auto rc_host = r.to(at::kCPU).contiguous();  // float32: forward's rewards
    std::memcpy(rewards, rc_host.data_ptr<float>(), sizeof(float) * rc_host.numel());
  }
}

void Trainer::train_step(const armap_batch* batches, int32_t n, armap_batch_stats* stats, armap_step_stats* out) {
  if (n <= 0) invalid("train step: needs at least one micro-batch, got " + std::to_string(n));
  try {
    if (!m->device.is_cuda()) {
      for (int32_t i = 0; i < n; i++) {
        in_micro(i, n, [&] { accumulate(batches[i], nullptr, stats ? &stats[i] : nullptr); });
      }
      update(out);
      return;
    }
    auto p = queue_step(batches, n);
    complete_step(p, stats, out);
  } catch (...) {
    zero_grad();
    throw;
  }
}

// CUDA: everything is queued before anything is read back, so the host runs ahead of the GPU for
// the whole step; the results come back through an asynchronous copy into pinned memory, marked
// done by an event rather than by draining the stream, so that a step queued after this one does
// not delay reading this one's.
Trainer::Pending Trainer::queue_step(const armap_batch* batches, int32_t n) {
#ifdef ARMAP_CUDA
  Pending p;
  std::vector<at::Tensor> parts;
  for (int32_t i = 0; i < n; i++) {
    parts.push_back(in_micro(i, n, [&] { return forward_backward(batches[i], nullptr).to(at::kDouble); }));
    p.sizes.emplace_back(batches[i].num_pairs, batches[i].num_tokens);
  }
  // Everything that can fail for lack of memory happens before the update is queued, so that a
  // failed launch never leaves an update applied but not counted.
  auto micro = at::cat(parts);
  auto pinned = micro.options().device(at::kCPU).pinned_memory(true);
  p.results = at::empty(micro.sizes(), pinned);
  p.norm = at::empty({}, pinned);
  p.done = std::make_shared<StepEvent>();
  p.results.copy_(micro, /*non_blocking=*/true);
  auto total = launch_update(&p.lr);
  p.step = step;
  p.norm.copy_(total, /*non_blocking=*/true);
  p.done->event.record(c10::cuda::getCurrentCUDAStream(m->device.index()));
  return p;
#else
  (void)batches;
  (void)n;
  fail(ARMAP_ERR_UNSUPPORTED, "train step: a CUDA tensor in a CPU-only backend");
#endif
}

void Trainer::complete_step(Pending& p, armap_batch_stats* stats, armap_step_stats* out) {
#ifdef ARMAP_CUDA
  p.done->event.synchronize();
#endif
  const double* h = p.results.data_ptr<double>();
  for (size_t i = 0; i < p.sizes.size(); i++) {
    if (stats) fill_batch_stats(h, p.sizes[i].first, p.sizes[i].second, &stats[i]);
    h += p.sizes[i].first + 1;
  }
  finish_update(p.norm.item<double>(), p.lr, p.step, out);
}

void Trainer::launch_step(const armap_batch* batches, int32_t n) {
  if (pending.size() >= kMaxPending) {
    invalid("launch step: " + std::to_string(pending.size()) + " launched steps are pending; finish one first");
  }
  if (n <= 0) invalid("launch step: needs at least one micro-batch, got " + std::to_string(n));
  if (!m->device.is_cuda()) {
    // The step runs here; finish_step hands over its results.
    Pending p;
    p.stats.resize(n);
    for (int32_t i = 0; i < n; i++) p.sizes.emplace_back(batches[i].num_pairs, batches[i].num_tokens);
    train_step(batches, n, p.stats.data(), &p.out);
    pending.push_back(std::move(p));
    return;
  }
  try {
    pending.push_back(queue_step(batches, n));
  } catch (...) {
    zero_grad();
    throw;
  }
}

void Trainer::finish_step(armap_batch_stats* stats, int32_t n, armap_step_stats* out) {
  if (pending.empty()) invalid("finish step: no launched step is pending");
  if (n != (int32_t)pending.front().sizes.size()) {
    invalid("finish step: the oldest launched step has " + std::to_string(pending.front().sizes.size()) +
            " micro-batches, stats has room for " + std::to_string(n));
  }
  Pending p = std::move(pending.front());
  pending.pop_front();
  if (!m->device.is_cuda()) {
    if (stats) std::copy(p.stats.begin(), p.stats.end(), stats);
    if (out) *out = p.out;
    return;
  }
  complete_step(p, stats, out);
}

void Trainer::need_idle(const char* what) const {
  if (!pending.empty()) {
    invalid(std::string(what) + ": " + std::to_string(pending.size()) +
            " launched steps are pending; finish them first");
  }
}

namespace {

std::vector<at::Tensor> grads_of(Trainer& t) {
  std::vector<at::Tensor> grads;
  grads.reserve(t.trainable.size());
  for (auto i : t.trainable) {
    auto& g = t.m->params[i].t.mutable_grad();
    if (!g.defined()) g = at::zeros_like(t.m->params[i].t);  // unused this step (e.g. absent tokens)
    grads.push_back(g);
  }
  return grads;
}

[[noreturn]] void not_finite(double total) {
  invalid("gradient norm is not finite (" + std::to_string(total) +
          "); the step was skipped: lower the learning rate or check the data");
}

}  // namespace

void Trainer::update(armap_step_stats* out) {
  if (m->device.is_cuda()) {
    double lr = 0;
    auto total = launch_update(&lr);
    finish_update(total.item<double>(), lr, step, out);
    return;
  }
  c10::NoGradGuard ng;
  auto grads = grads_of(*this);
  double total = 0;
  if (!grads.empty()) {
    std::vector<at::Tensor> norms;
    for (auto& g : grads) norms.push_back(g.norm(2));
    total = at::stack(norms).to(at::kDouble).norm(2).item<double>();
  }
  if (!std::isfinite(total)) {
    zero_grad();
    not_finite(total);
  }
  if (cfg.max_grad_norm > 0) {
    // torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) when that is below 1.
    double coef = cfg.max_grad_norm / (total + 1e-6);
    if (coef < 1.0) {
      for (auto& g : grads) g.mul_(coef);
    }
  }
  const double lr = lr_at(step);
  // Before the first write, so that an update failing halfway leaves nothing stale behind.
  m->weights_changed();
  step += 1;
  const double bc1 = 1.0 - std::pow(cfg.beta1, (double)step);
  const double bc2 = 1.0 - std::pow(cfg.beta2, (double)step);
  const double step_size = lr / bc1;
  const double bc2_sqrt = std::sqrt(bc2);
  for (size_t j = 0; j < trainable.size(); j++) {
    auto& prm = m->params[trainable[j]];
    auto w = prm.t;
    auto& g = grads[j];
    const bool decay = cfg.decay_all ? true : prm.decay;
    if (decay && cfg.weight_decay > 0) w.mul_(1.0 - lr * cfg.weight_decay);
    exp_avg[j].lerp_(g, 1.0 - cfg.beta1);
    exp_avg_sq[j].mul_(cfg.beta2).addcmul_(g, g, 1.0 - cfg.beta2);
    auto denom = (exp_avg_sq[j].sqrt() / bc2_sqrt).add_(cfg.eps);
    w.addcdiv_(exp_avg[j], denom, -step_size);
  }
  zero_grad();
  if (out) {
    out->step = step;
    out->lr = lr;
    out->grad_norm = total;
  }
}

// CUDA: the whole update as queued kernels, with nothing read back. Clipping and the check for a
// non-finite gradient happen on the device, inside PyTorch's fused AdamW: grad_scale divides every
// gradient by max(1, norm / max_norm) (clip_grad_norm_'s factor), and found_inf makes the kernel
// leave parameters and moments untouched. finish_update then learns the norm and, if it was not
// finite, takes the step back and reports it.
at::Tensor Trainer::launch_update(double* lr_out) {
  c10::NoGradGuard ng;
  auto grads = grads_of(*this);
  auto dopts = at::TensorOptions().dtype(at::kDouble).device(m->device);
  if (grads.empty()) {
    *lr_out = lr_at(step);
    step += 1;
    return at::zeros({}, dopts);
  }
  // A few multi-tensor launches instead of one per tensor.
  auto total = at::stack(at::_foreach_norm(grads, 2)).to(at::kDouble).norm(2);
  const double lr = lr_at(step);
  *lr_out = lr;
  m->weights_changed();
#if defined(ARMAP_CUDA) && TORCH_VERSION_MAJOR >= 2
  auto total32 = total.to(at::kFloat);
  auto found_inf = at::logical_not(at::isfinite(total32)).to(at::kFloat);
  std::optional<at::Tensor> grad_scale;
  if (cfg.max_grad_norm > 0) grad_scale = at::clamp_min((total32 + 1e-6) / cfg.max_grad_norm, 1.0);
  // One step-count tensor per group: the kernel only reads it, and torch.optim's would hold the
  // count including this step, as the bias corrections of the CPU path use.
  auto count = at::full({}, (double)(step + 1), at::TensorOptions().dtype(at::kFloat).device(m->device));
  for (int g = 0; g < 2; g++) {
    std::vector<at::Tensor> ps, gs, m1, m2, steps;
    for (size_t j = 0; j < trainable.size(); j++) {
      auto& prm = m->params[trainable[j]];
      const bool decay = cfg.decay_all ? true : prm.decay;
      if (decay != (g == 0)) continue;
      ps.push_back(prm.t.detach());
      gs.push_back(grads[j]);
      m1.push_back(exp_avg[j]);
      m2.push_back(exp_avg_sq[j]);
      steps.push_back(count);
    }
    if (ps.empty()) continue;
    std::vector<at::Tensor> no_max_exp_avg_sqs;  // amsgrad off
    at::_fused_adamw_(ps, gs, m1, m2, no_max_exp_avg_sqs, steps, lr, cfg.beta1, cfg.beta2,
                      g == 0 ? cfg.weight_decay : 0.0, cfg.eps, false, false, grad_scale, found_inf);
  }
#else
  fail(ARMAP_ERR_UNSUPPORTED, "train step: the fused CUDA update needs PyTorch >= 2");
#endif
  step += 1;
  zero_grad();
  return total;
}

void Trainer::finish_update(double total, double lr, int64_t step_no, armap_step_stats* out) {
  if (!std::isfinite(total)) {
    // The kernel skipped it. A step launched after it has run all the same, counted (for its
    // learning rate and bias correction) as if this one had been applied; it keeps its update,
    // and takes this one's number.
    step -= 1;
    for (auto& p : pending) p.step -= 1;
    not_finite(total);
  }
  if (out) {
    out->step = step_no;
    out->lr = lr;
    out->grad_norm = total;
  }
}

void Trainer::zero_grad() {
  for (auto i : trainable) {
    auto& g = m->params[i].t.mutable_grad();
    if (g.defined()) g = at::Tensor();
  }
}

}  // namespace armap
