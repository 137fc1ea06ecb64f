// The encoder's linear layers while training with the fused kernels on (internal.h): autograd
// functions of their own, because what autograd does around a linear layer in bf16 costs whole
// passes over the activations that a bert-base step cannot afford (bench/NOTES.md):
// - the cast of each float32 master weight is part of the function, so its gradient comes back in
//   float32 from the product itself instead of through a bf16 gradient and a cast kernel;
// - the bias gradient is a column sum of our own (colsum.cu) instead of ATen's sum over the rows;
// - GELU's backward is fused with the intermediate layer's bias gradient;
// - q/k/v are one product forward, and backward uses their three gradients as they come instead
//   of concatenating them first;
// - a residual branch's gradient is added to x's inside the product that computes x's, instead of
//   by autograd in a separate pass (pass_input).
#include <torch/csrc/autograd/custom_function.h>

#include "colsum.h"
#include "internal.h"

#ifdef ARMAP_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace armap {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#ifdef ARMAP_CUDA
// The CUDA path of the column sums of a contiguous [rows, cols] matrix, whose rows run produces:
// colsum.cu's partial sums per row chunk, then their sum in a fixed order. False when the kernels
// do not take the matrix.
template <typename Run>
bool cuda_colsum(const at::Tensor& like, int64_t rows, int64_t cols, at::Tensor* out, Run run) {
  const int32_t dt = abi_dtype(like.scalar_type());
  if (!like.is_cuda() || dt < 0 || !cuda::colsum_supported(dt, cols)) return false;
  c10::cuda::CUDAGuard guard(like.device());
  const int chunks = cuda::colsum_chunks(rows, cols, dt, like.device().index());
  if (chunks <= 0) return false;
  auto f32 = like.options().dtype(at::kFloat);
  auto parts = at::empty({chunks, cols}, f32);
  *out = at::empty({cols}, f32);
  auto stream = c10::cuda::getCurrentCUDAStream().stream();
  check_cuda(run(dt, parts.data_ptr<float>(), chunks, stream), "linear: CUDA column sums");
  check_cuda(cuda::colsum_finish(parts.data_ptr<float>(), chunks, cols, out->data_ptr<float>(), stream),
             "linear: CUDA column sums (finish)");
  return true;
}
#endif

// Sum over the rows of a [rows, cols] gradient, in float32.
at::Tensor sum_rows(const at::Tensor& g) {
#ifdef ARMAP_CUDA
  if (g.is_cuda() && g.is_contiguous() && aligned16(g)) {
    at::Tensor out;
    const int64_t rows = g.size(0), cols = g.size(1);
    if (cuda_colsum(g, rows, cols, &out, [&](int32_t dt, float* parts, int chunks, void* stream) {
          return cuda::colsum(dt, g.data_ptr(), rows, cols, parts, chunks, stream);
        })) {
      return out;
    }
  }
#endif
  return g.sum(0, false, at::kFloat);
}

// GELU's backward (erf form) for da [rows, cols] at the pre-activation h, and, when bias is set,
// the float32 column sums of the result (the intermediate layer's bias gradient).
at::Tensor gelu_backward(const at::Tensor& da, const at::Tensor& h, at::Tensor* bias) {
  RECORD_FUNCTION("armap::gelu_backward", std::vector<c10::IValue>());
#ifdef ARMAP_CUDA
  if (bias && da.is_cuda() && da.is_contiguous() && h.is_contiguous() && da.scalar_type() == h.scalar_type() &&
      aligned16(da) && aligned16(h)) {
    auto dh = at::empty_like(h, at::MemoryFormat::Contiguous);
    const int64_t rows = h.size(0), cols = h.size(1);
    if (cuda_colsum(h, rows, cols, bias, [&](int32_t dt, float* parts, int chunks, void* stream) {
          return cuda::gelu_backward_colsum(dt, da.data_ptr(), h.data_ptr(), dh.data_ptr(), rows, cols, parts, chunks,
                                            stream);
        })) {
      return dh;
    }
  }
#endif
  auto dh = at::gelu_backward(da, h);
  if (bias) *bias = sum_rows(dh.contiguous());
  return dh;
}

// A parameter's gradient dy^T x ([out, in]) in the parameter's dtype. On CUDA a bf16/f16 product
// writes float32 directly (cuBLAS accumulates in float32 either way), which saves a rounding and
// the cast kernel that autograd would run after it.
at::Tensor weight_grad(const at::Tensor& dy, const at::Tensor& x, at::ScalarType master) {
#if defined(ARMAP_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 9))
  if (dy.is_cuda() && master == at::kFloat && dy.scalar_type() == x.scalar_type() &&
      (dy.scalar_type() == at::kBFloat16 || dy.scalar_type() == at::kHalf)) {
    return at::mm(dy.t(), x, at::kFloat);
  }
#endif
  return dy.t().mm(x).to(master);
}

// x's gradient: the sum over the products dy_i W_i (each [rows, in] from dy_i [rows, out_i] and
// W_i [out_i, in]), plus the passed-on input's gradient `res` when there is one. The first product
// accumulates into res itself (a GEMM with beta = 1), which the caller owns (see pass_input in
// internal.h); a res of another shape, dtype or layout is added out of place.
at::Tensor input_grad(const std::vector<std::pair<at::Tensor, at::Tensor>>& products, const at::Tensor& res,
                      int64_t rows, int64_t in, at::ScalarType dtype) {
  at::Tensor dx;
  const bool into_res = res.defined() && res.is_contiguous() && res.numel() == rows * in &&
                        res.scalar_type() == dtype;
  if (into_res) dx = res.view({rows, in});
  for (const auto& [dy, w] : products) {
    if (!dy.defined()) continue;
    if (dx.defined()) {
      dx.addmm_(dy, w);
    } else {
      dx = dy.mm(w);
    }
  }
  if (res.defined() && !into_res) dx = dx.defined() ? dx + res.reshape({rows, in}) : res.reshape({rows, in});
  return dx;
}

// The gradient arriving for output i as a [rows, cols] matrix (undefined when none arrived).
at::Tensor grad2d(const variable_list& grads, size_t i, int64_t cols) {
  if (i >= grads.size() || !grads[i].defined()) return at::Tensor();
  return grads[i].reshape({-1, cols});
}

// The weight and bias in the compute dtype: the caller's casts when it made them, else cast here.
// The masters' dtypes are kept for the gradients (master_dtype).
std::pair<at::Tensor, at::Tensor> compute_params(AutogradContext* ctx, const at::Tensor& w, const at::Tensor& b,
                                                 const Casts& casts, at::ScalarType dtype) {
  ctx->saved_data["w"] = (int64_t)w.scalar_type();
  ctx->saved_data["b"] = (int64_t)b.scalar_type();
  return {casts.w.defined() ? casts.w : w.to(dtype), casts.b.defined() ? casts.b : b.to(dtype)};
}

// The dtype of the master weight ("w") or bias ("b") that compute_params saw.
at::ScalarType master_dtype(AutogradContext* ctx, const char* which) {
  return (at::ScalarType)ctx->saved_data[which].toInt();
}

// x W^T + b.
struct BiasLinear : torch::autograd::Function<BiasLinear> {
  // casts is not a tensor argument, so autograd does not take its (undefined or gradient-free)
  // tensors for inputs.
  static variable_list forward(AutogradContext* ctx, at::Tensor x, at::Tensor w, at::Tensor b, Casts casts,
                               at::ScalarType dtype) {
    ctx->set_materialize_grads(false);
    auto [wc, bc] = compute_params(ctx, w, b, casts, dtype);
    ctx->save_for_backward({x, wc});
    return {at::linear(x, wc, bc)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &x = s[0], &wc = s[1];
    const int64_t out = wc.size(0), in = wc.size(1);
    auto dy = grad2d(grads, 0, out);
    if (!dy.defined()) return variable_list(5);
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = dy.mm(wc).view(x.sizes());
    if (ctx->needs_input_grad(1)) {
      dw = weight_grad(dy, x.reshape({-1, in}), master_dtype(ctx, "w"));
    }
    if (ctx->needs_input_grad(2)) db = sum_rows(dy.contiguous()).to(master_dtype(ctx, "b"));
    return {dx, dw, db, at::Tensor(), at::Tensor()};
  }
};

// gelu(x W^T + b), and x itself with pass_input.
struct LinearGelu : torch::autograd::Function<LinearGelu> {
  static variable_list forward(AutogradContext* ctx, at::Tensor x, at::Tensor w, at::Tensor b, Casts casts,
                               at::ScalarType dtype, bool pass_input) {
    ctx->set_materialize_grads(false);
    auto [wc, bc] = compute_params(ctx, w, b, casts, dtype);
    auto h = at::linear(x, wc, bc);
    ctx->save_for_backward({x, wc, h});
    auto a = at::gelu(h);
    if (pass_input) return {a, x};
    return {a};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &x = s[0], &wc = s[1], &h = s[2];
    const int64_t out = wc.size(0), in = wc.size(1), rows = x.numel() / in;
    auto da = grad2d(grads, 0, out);
    const at::Tensor res = grads.size() > 1 ? grads[1] : at::Tensor();
    at::Tensor dh, dx, dw, db;
    if (da.defined()) dh = gelu_backward(da.contiguous(), h.reshape({-1, out}), ctx->needs_input_grad(2) ? &db : nullptr);
    if (ctx->needs_input_grad(0) && (dh.defined() || res.defined())) {
      dx = input_grad({{dh, wc}}, res, rows, in, wc.scalar_type()).view(x.sizes());
    }
    if (dh.defined() && ctx->needs_input_grad(1)) {
      dw = weight_grad(dh, x.reshape({-1, in}), master_dtype(ctx, "w"));
    }
    if (db.defined()) db = db.to(master_dtype(ctx, "b"));
    return {dx, dw, db, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// [x W_1^T + b_1, ..., x W_n^T + b_n] as one product (or, separate, as n products with contiguous
// outputs), and x itself with pass_input.
struct SplitLinear : torch::autograd::Function<SplitLinear> {
  static variable_list forward(AutogradContext* ctx, at::Tensor x, at::TensorList ws, at::TensorList bs, Casts casts,
                               at::ScalarType dtype, bool pass_input, bool separate) {
    ctx->set_materialize_grads(false);
    std::vector<int64_t> sizes;
    int64_t total = 0;
    for (const auto& w : ws) {
      sizes.push_back(w.size(0));
      total += w.size(0);
    }
    at::Tensor wc, bc;
    if (casts.w.defined() && casts.b.defined() && casts.w.size(0) == total && casts.b.size(0) == total) {
      wc = casts.w;
      bc = casts.b;
    } else {
      // The casts write straight into the concatenated weight and bias.
      wc = at::empty({total, ws[0].size(1)}, ws[0].options().dtype(dtype));
      bc = at::empty({total}, bs[0].options().dtype(dtype));
      int64_t off = 0;
      for (size_t i = 0; i < ws.size(); i++) {
        wc.narrow(0, off, sizes[i]).copy_(ws[i]);
        bc.narrow(0, off, sizes[i]).copy_(bs[i]);
        off += sizes[i];
      }
    }
    ctx->save_for_backward({x, wc});
    ctx->saved_data["sizes"] = sizes;
    ctx->saved_data["w"] = (int64_t)ws[0].scalar_type();  // as compute_params records them
    ctx->saved_data["b"] = (int64_t)bs[0].scalar_type();
    ctx->saved_data["pass"] = pass_input;
    std::vector<at::Tensor> out;
    if (separate) {
      int64_t off = 0;
      for (auto n : sizes) {
        out.push_back(at::linear(x, wc.narrow(0, off, n), bc.narrow(0, off, n)));
        off += n;
      }
    } else {
      out = at::split_with_sizes(at::linear(x, wc, bc), sizes, -1);
    }
    if (pass_input) out.push_back(x);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const auto &x = s[0], &wc = s[1];
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    const size_t n = sizes.size();
    const int64_t in = wc.size(1), rows = x.numel() / in;
    const at::Tensor res = ctx->saved_data["pass"].toBool() && grads.size() > n ? grads[n] : at::Tensor();
    std::vector<std::pair<at::Tensor, at::Tensor>> products;
    std::vector<at::Tensor> dys;
    int64_t off = 0;
    for (size_t i = 0; i < n; i++) {
      dys.push_back(grad2d(grads, i, sizes[i]));
      products.emplace_back(dys.back(), wc.narrow(0, off, sizes[i]));
      off += sizes[i];
    }
    // Inputs as autograd counts them: x, each weight, each bias, casts, dtype, pass_input, separate.
    variable_list out(1 + 2 * n + 4);
    bool any = res.defined();
    for (const auto& dy : dys) any = any || dy.defined();
    if (ctx->needs_input_grad(0) && any) out[0] = input_grad(products, res, rows, in, wc.scalar_type()).view(x.sizes());
    const auto wt = master_dtype(ctx, "w"), bt = master_dtype(ctx, "b");
    auto x2 = x.reshape({-1, in});
    for (size_t i = 0; i < n; i++) {
      if (!dys[i].defined()) continue;  // that output was not used: no gradient
      if (ctx->needs_input_grad(1 + i)) out[1 + i] = weight_grad(dys[i], x2, wt);
      if (ctx->needs_input_grad(1 + n + i)) out[1 + n + i] = sum_rows(dys[i].contiguous()).to(bt);
    }
    return out;
  }
};

}  // namespace

bool linear_functions_built() { return true; }

at::Tensor bias_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::ScalarType dtype,
                       const Casts& c) {
  return BiasLinear::apply(x, w, b, c, dtype)[0];
}

std::vector<at::Tensor> bias_linear_gelu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                                         at::ScalarType dtype, bool pass_input, const Casts& c) {
  return LinearGelu::apply(x, w, b, c, dtype, pass_input);
}

std::vector<at::Tensor> bias_linear_split(const at::Tensor& x, at::TensorList w, at::TensorList b, at::ScalarType dtype,
                                          bool pass_input, const Casts& c, bool separate) {
  if (w.empty() || w.size() != b.size()) invalid("bias_linear_split: one bias per weight, at least one");
  return SplitLinear::apply(x, w, b, c, dtype, pass_input, separate);
}

}  // namespace armap
