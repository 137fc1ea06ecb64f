// y = LayerNorm(residual + dropout(x)) as one operation with its own backward: the block that ends
// both halves of every post-LayerNorm encoder layer. Unfused, ATen draws a mask (on CPU one
// Bernoulli draw per element), applies it, adds, and normalizes, each a pass over the activations
// with an intermediate kept for backward. Fused, forward reads x and residual once and backward
// reads dy and the saved sum once; the mask is a hash of a per-call key (add_norm.h), recomputed
// instead of stored. CUDA runs the kernels of add_norm.cu; CPU runs the loops below.
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "add_norm.h"
#include "internal.h"

#ifdef ARMAP_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace armap {

namespace {

// What one call needs besides its tensors.
struct Call {
  int64_t rows = 0, hidden = 0;
  uint32_t threshold = 0;  // dropout_threshold(p); 0 = no dropout
  float scale = 1.f;       // 1 / (1 - p)
  float eps = 0.f;
  at::Tensor key;          // int64 [1] on the model's device; empty or undefined without dropout

  uint64_t host_key() const { return threshold ? (uint64_t)key.item<int64_t>() : 0; }
  const uint64_t* device_key() const {
    return threshold ? reinterpret_cast<const uint64_t*>(key.data_ptr<int64_t>()) : nullptr;
  }
};

// Each row's dropout multipliers (0 or 1 / (1 - p)): the hash in a scalar loop of its own, so that
// the arithmetic loops that use them vectorize.
void row_mask(const Call& c, uint64_t key, int64_t off, float* mk) {
  int64_t i = 0;
  if (off & 1) {  // a row that starts with the odd half of a pair (odd hidden sizes)
    mk[0] = dropout_keep(key, (uint64_t)off, c.threshold) ? c.scale : 0.f;
    i = 1;
  }
  for (; i + 1 < c.hidden; i += 2) {
    const uint64_t bits = dropout_bits(key, (uint64_t)(off + i) >> 1);
    mk[i] = dropout_kept(bits, false, c.threshold) ? c.scale : 0.f;
    mk[i + 1] = dropout_kept(bits, true, c.threshold) ? c.scale : 0.f;
  }
  if (i < c.hidden) mk[i] = dropout_keep(key, (uint64_t)(off + i), c.threshold) ? c.scale : 0.f;
}

template <typename T>
void forward_cpu(const Call& c, const T* x, const T* res, const float* gamma, const float* beta, T* h_out, T* y,
                 float* mean_out, float* rstd_out) {
  const int64_t H = c.hidden;
  const uint64_t key = c.host_key();
  at::parallel_for(0, c.rows, std::max<int64_t>(1, 32768 / H), [&](int64_t r0, int64_t r1) {
    std::vector<float> vbuf(H), mbuf(H, 1.f);
    float* v = vbuf.data();
    float* mk = mbuf.data();
    for (int64_t r = r0; r < r1; r++) {
      const int64_t off = r * H;
      const T* xr = x + off;
      const T* rr = res + off;
      if (c.threshold) row_mask(c, key, off, mk);
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < H; i++) {
        // The sum as stored in T, as the CUDA kernel normalizes it (and backward reads it).
        v[i] = static_cast<float>(static_cast<T>(static_cast<float>(rr[i]) + static_cast<float>(xr[i]) * mk[i]));
        sum += v[i];
      }
      if (h_out) {
        for (int64_t i = 0; i < H; i++) h_out[off + i] = static_cast<T>(v[i]);
      }
      const float mean = sum / (float)H;
      float sq = 0;
#pragma omp simd reduction(+ : sq)
      for (int64_t i = 0; i < H; i++) sq += (v[i] - mean) * (v[i] - mean);
      const float rstd = 1.f / std::sqrt(sq / (float)H + c.eps);
      T* yr = y + off;
#pragma omp simd
      for (int64_t i = 0; i < H; i++) yr[i] = static_cast<T>((v[i] - mean) * rstd * gamma[i] + beta[i]);
      if (mean_out) {
        mean_out[r] = mean;
        rstd_out[r] = rstd;
      }
    }
  });
}

// dgamma and dbeta may be null (frozen norm weights: LoRA).
template <typename T>
void backward_cpu(const Call& c, const T* dy, const T* h, const float* gamma, const float* mean, const float* rstd,
                  T* dres, T* dx, float* dgamma, float* dbeta) {
  const bool params = dgamma != nullptr;
  const int64_t H = c.hidden;
  const uint64_t key = c.host_key();
  // Row chunks with their own partial dgamma/dbeta, summed in a fixed order afterwards: the result
  // does not depend on how the threads were scheduled.
  const int64_t chunks = std::min<int64_t>(c.rows, std::max<int64_t>(1, at::get_num_threads() * 4));
  std::vector<float> parts(params ? (size_t)(chunks * 2 * H) : 0, 0.f);
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    std::vector<float> xbuf(H), gbuf(H), mbuf(H, 1.f);
    float* xh = xbuf.data();
    float* g = gbuf.data();
    float* mk = mbuf.data();
    for (int64_t ch = c0; ch < c1; ch++) {
      float* pg = params ? parts.data() + ch * 2 * H : nullptr;
      float* pb = params ? pg + H : nullptr;
      const int64_t r0 = c.rows * ch / chunks, r1 = c.rows * (ch + 1) / chunks;
      for (int64_t r = r0; r < r1; r++) {
        const int64_t off = r * H;
        const T* dyr = dy + off;
        const T* hr = h + off;
        const float mu = mean[r], rs = rstd[r];
        float s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
        for (int64_t i = 0; i < H; i++) {
          const float d = static_cast<float>(dyr[i]);
          xh[i] = (static_cast<float>(hr[i]) - mu) * rs;
          g[i] = d * gamma[i];
          s1 += g[i];
          s2 += g[i] * xh[i];
        }
        if (params) {
#pragma omp simd
          for (int64_t i = 0; i < H; i++) {
            const float d = static_cast<float>(dyr[i]);
            pg[i] += d * xh[i];
            pb[i] += d;
          }
        }
        const float m1 = s1 / (float)H, m2 = s2 / (float)H;
        T* dr = dres + off;
#pragma omp simd
        for (int64_t i = 0; i < H; i++) dr[i] = static_cast<T>(rs * (g[i] - m1 - xh[i] * m2));
        if (dx) {
          row_mask(c, key, off, mk);
          T* dxr = dx + off;
#pragma omp simd
          for (int64_t i = 0; i < H; i++) dxr[i] = static_cast<T>(rs * (g[i] - m1 - xh[i] * m2) * mk[i]);
        }
      }
    }
  });
  for (int64_t i = 0; params && i < H; i++) {
    double sg = 0, sb = 0;
    for (int64_t ch = 0; ch < chunks; ch++) {
      sg += parts[ch * 2 * H + i];
      sb += parts[ch * 2 * H + H + i];
    }
    dgamma[i] = (float)sg;
    dbeta[i] = (float)sb;
  }
}

struct Outputs {
  at::Tensor y, h, mean, rstd;
};

// keep: also return the sum and the row statistics that backward needs.
Outputs run_forward(const Call& c, const at::Tensor& x, const at::Tensor& res, const at::Tensor& w,
                    const at::Tensor& b, bool keep) {
  Outputs o;
  o.y = at::empty_like(x);
  if (keep) {
    o.h = at::empty_like(x);
    auto f32 = x.options().dtype(at::kFloat);
    o.mean = at::empty({c.rows}, f32);
    o.rstd = at::empty({c.rows}, f32);
  }
  auto fptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
  if (x.is_cuda()) {
#ifdef ARMAP_CUDA
    auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; };
    c10::cuda::CUDAGuard guard(x.device());
    check_cuda(cuda::add_norm_forward(abi_dtype(x.scalar_type()), x.data_ptr(), res.data_ptr(), w.data_ptr<float>(),
                                      b.data_ptr<float>(), c.rows, c.hidden, c.threshold, c.scale, c.device_key(),
                                      c.eps, ptr(o.h), o.y.data_ptr(), fptr(o.mean), fptr(o.rstd),
                                      c10::cuda::getCurrentCUDAStream().stream()),
               "add_norm: CUDA forward");
#else
    fail(ARMAP_ERR_UNSUPPORTED, "add_norm: CUDA tensor in a CPU-only backend");
#endif
    return o;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "add_norm_forward", [&] {
    auto tp = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
    forward_cpu<scalar_t>(c, x.data_ptr<scalar_t>(), res.data_ptr<scalar_t>(), w.data_ptr<float>(),
                          b.data_ptr<float>(), tp(o.h), o.y.data_ptr<scalar_t>(), fptr(o.mean), fptr(o.rstd));
  });
  return o;
}

// Returns {dx, d_residual, dgamma, dbeta}; dx is d_residual itself when there is no dropout, and
// dgamma/dbeta are undefined without params (frozen norm weights).
std::vector<at::Tensor> run_backward(const Call& c, const at::Tensor& dy, const at::Tensor& h, const at::Tensor& w,
                                     const at::Tensor& mean, const at::Tensor& rstd, bool params) {
  RECORD_FUNCTION("armap::add_norm_backward", std::vector<c10::IValue>());
  auto dres = at::empty_like(h);
  auto dx = c.threshold ? at::empty_like(h) : at::Tensor();
  auto f32 = h.options().dtype(at::kFloat);
  at::Tensor dgamma, dbeta;
  if (h.is_cuda()) {
#ifdef ARMAP_CUDA
    c10::cuda::CUDAGuard guard(h.device());
    const int32_t dt = abi_dtype(h.scalar_type());
    const int blocks = cuda::add_norm_backward_blocks(dt, c.hidden, c.rows, h.device().index());
    if (blocks <= 0) fail(ARMAP_ERR_INTERNAL, "add_norm: no CUDA launch configuration for backward");
    auto parts = params ? at::empty({2, blocks, c.hidden}, f32) : at::Tensor();
    auto part = [&](int i) { return params ? parts[i].data_ptr<float>() : nullptr; };
    check_cuda(cuda::add_norm_backward(dt, dy.data_ptr(), h.data_ptr(), w.data_ptr<float>(),
                                       mean.data_ptr<float>(), rstd.data_ptr<float>(), c.rows, c.hidden, c.threshold,
                                       c.scale, c.device_key(), dres.data_ptr(), dx.defined() ? dx.data_ptr() : nullptr,
                                       part(0), part(1), blocks,
                                       c10::cuda::getCurrentCUDAStream().stream()),
               "add_norm: CUDA backward");
    if (params) {
      auto sums = parts.sum(1);  // one launch for both
      dgamma = sums[0];
      dbeta = sums[1];
    }
#else
    fail(ARMAP_ERR_UNSUPPORTED, "add_norm: CUDA tensor in a CPU-only backend");
#endif
  } else {
    if (params) {
      dgamma = at::empty({c.hidden}, f32);
      dbeta = at::empty({c.hidden}, f32);
    }
    auto fp = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, h.scalar_type(), "add_norm_backward", [&] {
      backward_cpu<scalar_t>(c, dy.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), w.data_ptr<float>(),
                             mean.data_ptr<float>(), rstd.data_ptr<float>(), dres.data_ptr<scalar_t>(),
                             dx.defined() ? dx.data_ptr<scalar_t>() : nullptr, fp(dgamma), fp(dbeta));
    });
  }
  return {dx.defined() ? dx : dres, dres, dgamma, dbeta};
}

Call make_call(const at::Tensor& x, double p, double eps, const at::Tensor& key) {
  Call c;
  c.hidden = x.size(-1);
  c.rows = x.numel() / std::max<int64_t>(1, c.hidden);
  c.threshold = p > 0 ? dropout_threshold(p) : 0;
  c.scale = p > 0 ? (float)(1.0 / (1.0 - p)) : 1.f;
  c.eps = (float)eps;
  c.key = key;
  return c;
}

struct AddNorm : torch::autograd::Function<AddNorm> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor res,
                                                at::Tensor w, at::Tensor b, double p, double eps, at::Tensor key) {
    const Call c = make_call(x, p, eps, key);
    auto o = run_forward(c, x, res, w, b, true);
    ctx->save_for_backward({o.h, w, o.mean, o.rstd, key});
    ctx->saved_data["p"] = p;
    ctx->saved_data["eps"] = eps;
    return {o.y};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto s = ctx->get_saved_variables();
    const Call c = make_call(s[0], ctx->saved_data["p"].toDouble(), ctx->saved_data["eps"].toDouble(), s[4]);
    auto dy = grads[0].contiguous();
    // The kernels read 16 bytes at a time: a gradient that is a view at an odd offset is copied.
    if (!aligned16(dy)) dy = dy.clone();
    const bool params = ctx->needs_input_grad(2) || ctx->needs_input_grad(3);
    auto g = run_backward(c, dy, s[0], s[1], s[2], s[3], params);
    return {g[0], g[1], g[2], g[3], at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool add_norm_fusable(const Model& m, const at::Tensor& x, const at::Tensor& residual, const at::Tensor& w,
                      const at::Tensor& b) {
  if (!m.fused_kernels || x.dim() < 1 || x.numel() == 0 || x.sizes() != residual.sizes() ||
      x.scalar_type() != residual.scalar_type() || abi_dtype(x.scalar_type()) < 0) {
    return false;
  }
  for (const auto* p : {&w, &b}) {
    if (!p->defined() || p->scalar_type() != at::kFloat || p->dim() != 1 || p->size(0) != x.size(-1) ||
        !p->is_contiguous() || p->device() != x.device()) {
      return false;
    }
  }
  if (!x.is_cuda()) return true;
#ifdef ARMAP_CUDA
  // 16-byte vector accesses: contiguous inputs that start on a 16-byte boundary (a view into the
  // middle of a tensor may not).
  return residual.device() == x.device() && x.is_contiguous() && residual.is_contiguous() && aligned16(x) &&
         aligned16(residual) && aligned16(w) && aligned16(b) &&
         cuda::add_norm_supported(abi_dtype(x.scalar_type()), x.size(-1));
#else
  return false;
#endif
}

at::Tensor fused_add_norm(Model& m, const at::Tensor& x, const at::Tensor& residual, const at::Tensor& w,
                          const at::Tensor& b, double p) {
  RECORD_FUNCTION("armap::add_norm", std::vector<c10::IValue>());
  auto xc = x.contiguous(), rc = residual.contiguous();
  const double eps = (double)m.cfg.norm_eps;
  const bool grad = at::GradMode::is_enabled() &&
                    (xc.requires_grad() || rc.requires_grad() || w.requires_grad() || b.requires_grad());
  // From the model's generator, so that seeding, saving and rewinding it (checkpointed recompute)
  // reproduces the mask, as it does for every other draw of the model. Without dropout there is
  // no key; autograd takes no undefined inputs, so the autograd path gets an empty tensor, and
  // scoring (no gradients, no dropout) allocates nothing.
  at::Tensor key;
  if (p > 0) {
    key = at::empty({1}, xc.options().dtype(at::kLong)).random_(m.gen);
  } else if (grad) {
    key = at::empty({0}, xc.options().dtype(at::kLong));
  }
  if (grad) return AddNorm::apply(xc, rc, w, b, p, eps, key)[0];
  return run_forward(make_call(xc, p, eps, key), xc, rc, w, b, false).y;
}

}  // namespace armap
