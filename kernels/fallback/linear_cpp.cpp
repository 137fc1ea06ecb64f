// Stands in for kernels/src/linear.cpp where it does not compile against the host's PyTorch (see
// README.md here): the same three functions as ATen's own operations under ATen's autograd, so
// training with the fused kernels keeps the LayerNorm kernels and loses only the linear layers'
// own backward. The casts a caller made are not used: they are copies outside autograd, and the
// gradients must reach the float32 masters through the cast here.
#include "../src/internal.h"

namespace armap {

namespace {

std::vector<at::Tensor> with_input(std::vector<at::Tensor> out, const at::Tensor& x, bool pass_input) {
  if (pass_input) out.push_back(x);
  return out;
}

}  // namespace

bool linear_functions_built() { return false; }

at::Tensor bias_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, at::ScalarType dtype,
                       const Casts&) {
  return at::linear(x, w.to(dtype), b.to(dtype));
}

std::vector<at::Tensor> bias_linear_gelu(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                                         at::ScalarType dtype, bool pass_input, const Casts&) {
  return with_input({at::gelu(at::linear(x, w.to(dtype), b.to(dtype)))}, x, pass_input);
}

std::vector<at::Tensor> bias_linear_split(const at::Tensor& x, at::TensorList w, at::TensorList b, at::ScalarType dtype,
                                          bool pass_input, const Casts&, bool) {
  if (w.empty() || w.size() != b.size()) invalid("bias_linear_split: one bias per weight, at least one");
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < w.size(); i++) out.push_back(at::linear(x, w[i].to(dtype), b[i].to(dtype)));
  return with_input(std::move(out), x, pass_input);
}

}  // namespace armap
