// Pairwise (Bradley-Terry) training: loss, gradient accumulation, clipping, AdamW and the
// learning-rate schedule. AdamW is written out (rather than torch::optim) so that its state is
// plain named tensors the host saves as safetensors, and its arithmetic matches
// torch.optim.AdamW step for step.
#include <torch/version.h>

#include <cmath>

#include "internal.h"

namespace armap {

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

void Trainer::accumulate(const armap_batch& b, float* rewards, armap_batch_stats* out) {
  Packed p = pack_batch(*m, b, true);
  // Scoring between steps (evaluation) leaves bf16 weight copies and graph pools behind; free
  // them before the activations of a training step need the memory.
  m->weights_changed();
  std::shared_lock<std::shared_mutex> rng_lock(cuda_rng_mutex(), std::defer_lock);
  if (m->device.is_cuda()) rng_lock.lock();
  // Pairs and margins go to the device before the forward is queued: a copy from pageable memory
  // waits for the stream, and after the forward it would stall the host until the GPU caught up.
  const int64_t np = b.num_pairs;
  auto pairs = at::from_blob(const_cast<int32_t*>(b.pairs), {np, 2}, at::kInt).to(at::kLong).to(m->device);
  at::Tensor mg;
  if (b.margins) mg = at::from_blob(const_cast<float*>(b.margins), {np}, at::kFloat).to(m->device);
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

  // One device-to-host copy (one synchronization) for the loss and every pair's difference.
  auto host = at::cat({loss.detach().reshape({1}).to(at::kFloat), diff.detach().to(at::kFloat)}).to(at::kCPU);
  auto ha = host.accessor<float, 1>();
  int32_t correct = 0;
  double msum = 0;
  for (int64_t i = 0; i < np; i++) {
    correct += ha[i + 1] > 0;
    msum += ha[i + 1];
  }
  if (rewards) {
    auto rc_host = r.detach().to(at::kCPU).contiguous();
    std::memcpy(rewards, rc_host.data_ptr<float>(), sizeof(float) * p.num_seqs());
  }
  if (out) {
    out->loss = ha[0];
    out->correct = correct;
    out->margin_sum = msum;
    out->tokens = b.num_tokens;
  }
}

void Trainer::update(armap_step_stats* out) {
  c10::NoGradGuard ng;
  std::vector<at::Tensor> grads;
  grads.reserve(trainable.size());
  for (auto i : trainable) {
    auto& g = m->params[i].t.mutable_grad();
    if (!g.defined()) g = at::zeros_like(m->params[i].t);  // unused this step (e.g. absent tokens)
    grads.push_back(g);
  }
  std::vector<at::Tensor> norms;
  if (m->device.is_cuda()) {
    norms = at::_foreach_norm(grads, 2);  // a few multi-tensor launches instead of one per tensor
  } else {
    for (auto& g : grads) norms.push_back(g.norm(2));
  }
  double total = norms.empty() ? 0.0 : at::stack(norms).to(at::kDouble).norm(2).item<double>();
  if (!std::isfinite(total)) {
    zero_grad();
    invalid("gradient norm is not finite (" + std::to_string(total) +
            "); the step was skipped: lower the learning rate or check the data");
  }
  if (cfg.max_grad_norm > 0) {
    // torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) when that is below 1.
    double coef = cfg.max_grad_norm / (total + 1e-6);
    if (coef < 1.0) {
      if (m->device.is_cuda()) {
        at::_foreach_mul_(grads, at::Scalar(coef));
      } else {
        for (auto& g : grads) g.mul_(coef);
      }
    }
  }
  const double lr = lr_at(step);
  // Before the first write, so that an update failing halfway leaves nothing stale behind.
  m->weights_changed();
#if defined(ARMAP_CUDA) && TORCH_VERSION_MAJOR >= 2
  if (m->device.is_cuda()) {
    // PyTorch's fused multi-tensor AdamW: one kernel launch per group instead of ~6 per tensor.
    // It only reads the step tensors (torch.optim increments them before the call), so they hold
    // the count including this step, as the bias corrections of the CPU path below use.
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
        steps.push_back(at::full({}, (double)(step + 1), at::TensorOptions().dtype(at::kFloat).device(m->device)));
      }
      if (ps.empty()) continue;
      std::vector<at::Tensor> no_max_exp_avg_sqs;  // amsgrad off
      at::_fused_adamw_(ps, gs, m1, m2, no_max_exp_avg_sqs, steps, lr, cfg.beta1, cfg.beta2, g == 0 ? cfg.weight_decay : 0.0, cfg.eps,
                        false, false);
    }
    step += 1;
    zero_grad();
    if (out) {
      out->step = step;
      out->lr = lr;
      out->grad_norm = total;
    }
    return;
  }
#endif
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

void Trainer::zero_grad() {
  for (auto i : trainable) {
    auto& g = m->params[i].t.mutable_grad();
    if (g.defined()) g = at::Tensor();
  }
}

}  // namespace armap
