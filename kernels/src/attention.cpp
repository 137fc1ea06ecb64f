// Attention over packed variable-length sequences, and activation checkpointing.
//
// CUDA (PyTorch >= 2): flash attention with cu_seqlens on bf16/f16, no padding at all.
// CPU (and CUDA float32): sequences of equal length are attended together as one batch; a
// sequence never sees another one and no token is padded.
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>

#include <cmath>
#include <map>

#include "internal.h"

namespace armap {

namespace {

// q: [n, L, H, D], k/v: [n, L, Hkv, D] -> [n, L, H * D]
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal, double dropout,
                  at::Generator* gen) {
  const int64_t n = q.size(0), L = q.size(1), H = q.size(2), D = q.size(3), Hkv = k.size(2);
  const int64_t rep = H / Hkv;
  const double scale = 1.0 / std::sqrt((double)D);
  at::Tensor s, vh;
  if (rep == 1) {
    auto qh = q.permute({0, 2, 1, 3});                    // [n, H, L, D]
    auto kh = k.permute({0, 2, 3, 1});                    // [n, H, D, L]
    vh = v.permute({0, 2, 1, 3});                         // [n, H, L, D]
    s = at::matmul(qh, kh) * scale;                       // [n, H, L, L]
  } else {
    // Grouped-query attention: the rep query heads that share a key/value head are stacked along
    // the row axis, so one matmul per kv head serves all of them without copying k and v.
    auto qh = q.reshape({n, L, Hkv, rep, D}).permute({0, 2, 3, 1, 4}).reshape({n, Hkv, rep * L, D});
    auto kh = k.permute({0, 2, 3, 1});                    // [n, Hkv, D, L]
    vh = v.permute({0, 2, 1, 3});                         // [n, Hkv, L, D]
    s = (at::matmul(qh, kh) * scale).view({n, Hkv, rep, L, L});
  }
  if (causal) {
    auto mask = at::ones({L, L}, at::TensorOptions().dtype(at::kBool).device(q.device())).triu(1);
    s = s.masked_fill(mask, -std::numeric_limits<float>::infinity());
  }
  auto pr = at::softmax(s.to(at::kFloat), -1).to(q.scalar_type());
  if (dropout > 0) {
    auto keep = at::empty_like(pr).bernoulli_(1.0 - dropout, *gen);
    pr = pr * keep / (1.0 - dropout);
  }
  at::Tensor o;
  if (rep == 1) {
    o = at::matmul(pr, vh).permute({0, 2, 1, 3});         // [n, L, H, D]
  } else {
    o = at::matmul(pr.reshape({n, Hkv, rep * L, L}), vh)  // [n, Hkv, rep*L, D]
            .view({n, Hkv, rep, L, D})
            .permute({0, 3, 1, 2, 4});                    // [n, L, Hkv, rep, D]
  }
  return o.reshape({n, L, H * D});
}

}  // namespace

bool cudnn_dropout_exact(double p) { return p * 16.0 == std::floor(p * 16.0); }

at::Tensor varlen_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const Packed& p,
                            bool causal, double dropout, at::Generator* gen, bool cudnn) {
  const int64_t T = q.size(0), H = q.size(1), D = q.size(2);
#if defined(ARMAP_CUDA) && TORCH_VERSION_MAJOR >= 2
  // The same condition as Model::uses_flash (q is in the compute dtype).
  if (q.is_cuda() && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf) && D <= 256 &&
      D % 8 == 0) {
    // The caller decided with cudnn_attention_now (one length, shapes cuDNN takes) and the model
    // was checked at creation (dtype, head_dim up to 128).
    if (cudnn) return cudnn_attention(q, k, v, p.num_seqs(), causal, dropout);
    const int64_t rep = H / k.size(1);
    auto kk = rep > 1 ? k.repeat_interleave(rep, 1) : k;
    auto vv = rep > 1 ? v.repeat_interleave(rep, 1) : v;
    auto out = at::_flash_attention_forward(q, kk, vv, p.cu, p.cu, p.max_len, p.max_len, dropout, causal, false);
    return std::get<0>(out).reshape({T, H * D});
  }
#endif
  const int64_t n = p.num_seqs();
  if (n == 1) {
    return attend(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), causal, dropout, gen).view({T, H * D});
  }
  std::map<int64_t, std::vector<int64_t>> groups;  // length -> sequences
  for (int64_t i = 0; i < n; i++) groups[p.cu_host[i + 1] - p.cu_host[i]].push_back(i);
  std::vector<at::Tensor> parts;
  std::vector<int64_t> rows;  // token row of every output row of cat(parts)
  rows.reserve(T);
  auto idx_opts = at::TensorOptions().dtype(at::kLong);
  for (auto& [L, seqs] : groups) {
    std::vector<int64_t> r;
    r.reserve(seqs.size() * L);
    for (auto i : seqs)
      for (int64_t j = 0; j < L; j++) r.push_back(p.cu_host[i] + j);
    const int64_t m = (int64_t)seqs.size();
    at::Tensor qi, ki, vi;
    if (m == 1) {
      qi = q.narrow(0, r[0], L);
      ki = k.narrow(0, r[0], L);
      vi = v.narrow(0, r[0], L);
    } else {
      auto idx = at::tensor(r, idx_opts).to(q.device());
      qi = q.index_select(0, idx);
      ki = k.index_select(0, idx);
      vi = v.index_select(0, idx);
    }
    auto o = attend(qi.view({m, L, H, D}), ki.view({m, L, k.size(1), D}), vi.view({m, L, v.size(1), D}), causal,
                    dropout, gen);
    parts.push_back(o.view({m * L, H * D}));
    rows.insert(rows.end(), r.begin(), r.end());
  }
  auto cat = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
  bool identity = true;
  for (int64_t j = 0; j < T && identity; j++) identity = rows[j] == j;
  if (identity) return cat;
  std::vector<int64_t> inv(T);
  for (int64_t j = 0; j < T; j++) inv[rows[j]] = j;
  return cat.index_select(0, at::tensor(inv, idx_opts).to(q.device()));
}

namespace {

struct LayerHolder : torch::CustomClassHolder {
  std::function<at::Tensor(const at::Tensor&)> fn;
  at::Generator* gen = nullptr;
  at::Tensor rng_before;
};

// Reentrant checkpointing (as torch.utils.checkpoint with use_reentrant=True): forward without
// keeping activations; backward recomputes the layer with autograd on and backpropagates through
// it, which also accumulates the parameters' gradients.
struct Checkpoint : torch::autograd::Function<Checkpoint> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, at::Tensor x,
                                                c10::intrusive_ptr<LayerHolder> h) {
    if (h->gen) h->rng_before = h->gen->get_state();
    at::Tensor y;
    {
      c10::NoGradGuard ng;
      y = h->fn(x);
    }
    ctx->save_for_backward({x});
    ctx->saved_data["layer"] = c10::IValue::make_capsule(h);
    return {y};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    auto h = c10::static_intrusive_pointer_cast<LayerHolder>(ctx->saved_data["layer"].toCapsule());
    at::Tensor rng_now;
    if (h->gen) {
      rng_now = h->gen->get_state();
      h->gen->set_state(h->rng_before);
    }
    at::Tensor y;
    {
      c10::AutoGradMode on(true);
      y = h->fn(x);
    }
    if (h->gen) h->gen->set_state(rng_now);
    torch::autograd::backward({y}, {grads[0]});
    return {x.grad(), at::Tensor()};
  }
};

}  // namespace

at::Tensor checkpointed(const std::function<at::Tensor(const at::Tensor&)>& fn, const at::Tensor& x,
                        at::Generator* gen) {
  auto h = c10::make_intrusive<LayerHolder>();
  h->fn = fn;
  h->gen = gen;
  return Checkpoint::apply(x, h)[0];
}

}  // namespace armap
