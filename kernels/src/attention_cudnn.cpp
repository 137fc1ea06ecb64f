// cuDNN's fused attention for batches whose sequences all have one length (T1, T2, S1 and S4's
// shapes), as an alternative to flash attention over the packed sequences: on Hopper cuDNN runs
// kernels written for the chip, where PyTorch's flash attention is the Ampere one. Such a batch is
// a dense [n, L] block, so q/k/v are viewed as [n, H, L, D] without a copy or any padding.
// A source of its own, with kernels/fallback/attention_cudnn_cpp.cpp standing in where it does not
// compile against the host's PyTorch.
#include "internal.h"

namespace armap {

bool cudnn_attention_built() {
#if defined(ARMAP_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5))
  return true;
#else
  return false;
#endif
}

at::Tensor cudnn_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t n, bool causal,
                           double dropout) {
#if defined(ARMAP_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5))
  if (!cudnn_dropout_exact(dropout)) {
    invalid("cudnn attention: dropout " + c10::str(dropout) +
            " is not a multiple of 1/16, the resolution cuDNN draws at (use flash attention)");
  }
  const int64_t T = q.size(0), H = q.size(1), D = q.size(2), L = T / n;
  const int64_t rep = H / k.size(1);
  // [T, H, D] with rows grouped by sequence -> [n, H, L, D] as strides only.
  auto dense = [&](const at::Tensor& t) {
    auto u = rep > 1 && t.size(1) != H ? t.repeat_interleave(rep, 1) : t;
    return u.view({n, L, H, D}).transpose(1, 2);
  };
  // The log-sum-exp is what backward needs. A forward without autograd skips it, except with
  // dropout: a checkpointed layer's first pass (autograd off) and its recomputation (on) then run
  // the same cuDNN graph, so that they surely draw the same mask.
  const bool lse = dropout > 0 ||
                   (at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad()));
  auto out = at::_scaled_dot_product_cudnn_attention(dense(q), dense(k), dense(v), ::std::nullopt, lse, dropout, causal,
                                                     false, ::std::nullopt);
  return std::get<0>(out).transpose(1, 2).reshape({T, H * D});
#else
  invalid("cudnn attention: not built into this backend");
#endif
}

}  // namespace armap
