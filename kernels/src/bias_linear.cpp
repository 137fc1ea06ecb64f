// A linear layer with a bias, y = x W^T + b, as an autograd function of its own. Forward is
// at::linear (one GEMM with the bias in its epilogue). Backward computes the two products that
// autograd's addmm backward would, with W's gradient in W's own [out, in] layout (autograd's is a
// transposed view that the cast back to float32 copies element by element), and the bias
// gradient through colsum.cu on CUDA: ATen's sum over the rows was the largest elementwise cost
// left in a bert-base training step (bench/NOTES.md).
#include <torch/csrc/autograd/custom_function.h>

#include "colsum.h"
#include "internal.h"

#ifdef ARMAP_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace armap {

namespace {

// Sum over the rows of a contiguous [rows, cols] gradient, in float32.
at::Tensor sum_rows(const at::Tensor& g) {
#ifdef ARMAP_CUDA
  if (g.is_cuda() && g.is_contiguous() && aligned16(g)) {
    const int32_t dt = abi_dtype(g.scalar_type());
    const int64_t rows = g.size(0), cols = g.size(1);
    if (dt >= 0 && cuda::colsum_supported(dt, cols)) {
      c10::cuda::CUDAGuard guard(g.device());
      const int chunks = cuda::colsum_chunks(rows, cols, dt, g.device().index());
      if (chunks > 0) {
        auto parts = at::empty({chunks, cols}, g.options().dtype(at::kFloat));
        check_cuda(cuda::colsum(dt, g.data_ptr(), rows, cols, parts.data_ptr<float>(), chunks,
                                c10::cuda::getCurrentCUDAStream().stream()),
                   "bias_linear: CUDA colsum");
        return parts.sum(0);
      }
    }
  }
#endif
  return g.sum(0, false, at::kFloat);
}

struct BiasLinear : torch::autograd::Function<BiasLinear> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor w,
                                                at::Tensor b) {
    ctx->save_for_backward({x, w});
    return {at::linear(x, w, b)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto s = ctx->get_saved_variables();
    const auto& x = s[0];
    const auto& w = s[1];
    const int64_t out = w.size(0), in = w.size(1);
    auto dy = grads[0].reshape({-1, out}).contiguous();
    at::Tensor dx, dw, db;
    if (ctx->needs_input_grad(0)) dx = dy.mm(w).view(x.sizes());
    if (ctx->needs_input_grad(1)) dw = dy.t().mm(x.reshape({-1, in}));
    if (ctx->needs_input_grad(2)) db = sum_rows(dy).to(grads[0].scalar_type());
    return {dx, dw, db};
  }
};

}  // namespace

at::Tensor bias_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return BiasLinear::apply(x, w, b)[0];
}

}  // namespace armap
