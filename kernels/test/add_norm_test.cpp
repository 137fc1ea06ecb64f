// Checks the fused residual + dropout + LayerNorm (kernels/src/add_norm.cpp) against the unfused
// form computed by ATen's autograd in float64 with the same mask, rebuilt here from the call's key.
// Run as `add_norm_test cpu` (built by make test) or `add_norm_test cuda` (built by
// scripts/build_cuda.sh; the CUDA kernels of add_norm.cu). Exits 1 when a check fails.
// `add_norm_test cpu|cuda bench` times the fused op against the unfused one instead.
// It also checks bias_linear (bias_linear.cpp, whose CUDA bias gradient is colsum.cu), the other
// kernel the fused switch turns on, against ATen's linear in float64.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "../src/add_norm.h"
#include "../src/colsum.h"
#include "../src/internal.h"

#ifdef ARMAP_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#endif

using namespace armap;

namespace {

struct Case {
  at::ScalarType dtype;
  int64_t rows, hidden;
  double p;
  double tol;         // on y and on every gradient, relative to the reference's largest magnitude
  bool cuda_fusable;  // whether the CUDA kernels take the shape (the CPU path takes every shape)
};

// A model that holds just what the fused op reads: the switch, eps and the dropout generator.
Model make_model(at::Device dev) {
  Model m;
  m.fused_add_norm = true;
  m.device = dev;
  m.cfg.norm_eps = 1e-12f;
  m.gen = at::make_generator<at::CPUGeneratorImpl>(7);
#ifdef ARMAP_CUDA
  if (dev.is_cuda()) {
    m.gen = at::cuda::detail::getDefaultCUDAGenerator(dev.index());
    m.gen.set_current_seed(7);
  }
#endif
  return m;
}

double rel_err(const at::Tensor& got, const at::Tensor& want) {
  auto w = want.to(at::kDouble).cpu();
  auto g = got.to(at::kDouble).cpu();
  return (g - w).abs().max().item<double>() / std::max(1e-12, w.abs().max().item<double>());
}

// A fresh leaf that collects its own gradient (.to() may return its input itself).
at::Tensor leaf(const at::Tensor& t) { return t.detach().clone().requires_grad_(true); }

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) failures++;
}

void run(const Case& c, at::Device dev) {
  Model m = make_model(dev);
  auto cpu_gen = at::make_generator<at::CPUGeneratorImpl>(11);
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  // Inputs with a large mean, where a one-pass variance would lose precision.
  auto x0 = at::randn({c.rows, c.hidden}, cpu_gen, f32) + 3.0;
  auto r0 = at::randn({c.rows, c.hidden}, cpu_gen, f32);
  auto w0 = at::randn({c.hidden}, cpu_gen, f32) * 0.5 + 1.0;
  auto b0 = at::randn({c.hidden}, cpu_gen, f32) * 0.1;
  auto dy0 = at::randn({c.rows, c.hidden}, cpu_gen, f32);

  auto x = leaf(x0.to(dev).to(c.dtype));
  auto r = leaf(r0.to(dev).to(c.dtype));
  auto w = leaf(w0.to(dev));
  auto b = leaf(b0.to(dev));
  char name[160];
  std::snprintf(name, sizeof(name), "%s %s rows=%lld hidden=%lld p=%.2f", dev.is_cpu() ? "cpu" : "cuda",
                c10::toString(c.dtype), (long long)c.rows, (long long)c.hidden, c.p);
  const bool fusable = add_norm_fusable(m, x, r, w, b);
  const bool want = dev.is_cpu() || c.cuda_fusable;
  if (fusable != want) {
    expect(false, std::string(name) + (fusable ? ": fusable, expected refused" : ": refused, expected fusable"));
    return;
  }
  if (!fusable) {
    expect(true, std::string(name) + ": refused on CUDA, as expected (the unfused path runs)");
    return;
  }

  auto state = m.gen.get_state();
  auto y = fused_add_norm(m, x, r, w, b, c.p);
  torch::autograd::backward({y}, {dy0.to(dev).to(c.dtype)});

  // The same key, drawn again from the rewound generator, gives the reference's mask.
  m.gen.set_state(state);
  at::Tensor mask = at::ones({c.rows, c.hidden}, at::kDouble);
  double scale = 1;
  if (c.p > 0) {
    const uint64_t key = (uint64_t)at::empty({1}, at::TensorOptions().dtype(at::kLong).device(dev))
                             .random_(m.gen)
                             .item<int64_t>();
    const uint32_t thr = dropout_threshold(c.p);
    auto acc = mask.accessor<double, 2>();
    for (int64_t i = 0; i < c.rows; i++) {
      for (int64_t j = 0; j < c.hidden; j++) acc[i][j] = dropout_keep(key, (uint64_t)(i * c.hidden + j), thr);
    }
    scale = 1.0 / (1.0 - c.p);
    const double dropped = 1.0 - mask.mean().item<double>();
    // Within four standard deviations of a binomial draw over the tensor's elements.
    const double sd = std::sqrt(c.p * (1 - c.p) / (double)(c.rows * c.hidden));
    expect(std::abs(dropped - c.p) < 4 * sd, std::string(name) + ": dropped fraction " + std::to_string(dropped));
  }

  // Reference in float64 from the same rounded inputs. The sum is rounded to the dtype, as the
  // fused op normalizes it in the dtype.
  auto xd = leaf(x.cpu().to(at::kDouble));
  auto rd = leaf(r.cpu().to(at::kDouble));
  auto wd = leaf(w0.to(at::kDouble));
  auto bd = leaf(b0.to(at::kDouble));
  auto hsum = rd + xd * mask * scale;
  // Rounding as a straight-through step: the value of the stored sum, the gradient of the exact one.
  auto hr = hsum + (hsum.detach().to(c.dtype).to(at::kDouble) - hsum.detach());
  auto yd = at::layer_norm(hr, {c.hidden}, wd, bd, 1e-12);
  torch::autograd::backward({yd}, {dy0.to(c.dtype).to(at::kDouble)});

  struct {
    const char* what;
    at::Tensor got, want;
  } checks[] = {
      {"y", y.detach(), yd.detach()},
      {"dx", x.grad(), xd.grad()},
      {"dresidual", r.grad(), rd.grad()},
      {"dgamma", w.grad(), wd.grad()},
      {"dbeta", b.grad(), bd.grad()},
  };
  for (auto& k : checks) {
    const double e = rel_err(k.got, k.want);
    char line[256];
    std::snprintf(line, sizeof(line), "%s: %s max rel err %.2e (tol %.0e)", name, k.what, e, c.tol);
    expect(e <= c.tol, line);
  }

  // Without gradients (scoring), the same output from the path that saves nothing.
  {
    c10::NoGradGuard ng;
    m.gen.set_state(state);
    auto y2 = fused_add_norm(m, x.detach(), r.detach(), w.detach(), b.detach(), c.p);
    expect(at::equal(y2, y.detach()), std::string(name) + ": no-grad forward equals the autograd forward");
  }
}

// bias_linear's output and its three gradients against ATen's linear on the same (rounded) inputs; on CUDA also colsum.cu alone against a float64 sum, and whether it takes the
// width.
void run_bias_linear(at::Device dev, at::ScalarType dt, int64_t rows, int64_t in, int64_t out, double tol) {
  auto opt = at::TensorOptions().device(dev);
  auto x = leaf(at::randn({rows, in}, opt).to(dt));
  auto w = leaf(at::randn({out, in}, opt).to(dt));
  auto b = leaf(at::randn({out}, opt).to(dt));
  auto dy = at::randn({rows, out}, opt).to(dt);
  auto y = bias_linear(x, w, b);
  torch::autograd::backward({y}, {dy});
  // The reference in float64, except for half types on CPU: libtorch 1.13's CPU bf16 products lose
  // precision of their own (1e-1 against float64 at K = 768), so there it is ATen's linear in the
  // same dtype, which must agree with ours.
  const auto rt = dev.is_cpu() && dt != at::kFloat ? dt : at::kDouble;
  auto x64 = leaf(x.detach().to(rt)), w64 = leaf(w.detach().to(rt)), b64 = leaf(b.detach().to(rt));
  auto y64 = at::linear(x64, w64, b64);
  torch::autograd::backward({y64}, {dy.to(rt)});
  char name[160];
  std::snprintf(name, sizeof(name), "%s bias_linear %s rows=%lld in=%lld out=%lld", dev.is_cpu() ? "cpu" : "cuda",
                c10::toString(dt), (long long)rows, (long long)in, (long long)out);
  const std::pair<const char*, std::pair<at::Tensor, at::Tensor>> checks[] = {
      {"y", {y, y64}}, {"dx", {x.grad(), x64.grad()}}, {"dw", {w.grad(), w64.grad()}}, {"db", {b.grad(), b64.grad()}}};
  for (const auto& [what, t] : checks) {
    const bool defined = t.first.defined();
    const double e = defined ? rel_err(t.first, t.second) : 1e9;
    char msg[256];
    std::snprintf(msg, sizeof(msg), "%s: %s max rel err %.2e (tol %.0e)", name, what, e, tol);
    expect(defined && e <= tol, msg);
  }
#ifdef ARMAP_CUDA
  if (dev.is_cuda()) {
    const int32_t adt = abi_dtype(dt);
    const bool want = out % (dt == at::kFloat ? 4 : 8) == 0;
    const bool takes = cuda::colsum_supported(adt, out);
    expect(takes == want, std::string(name) + ": colsum " + (want ? "takes" : "refuses") + " this width");
    if (takes) {
      const int chunks = cuda::colsum_chunks(rows, out, adt, dev.index());
      auto parts = at::empty({std::max(chunks, 1), out}, opt.dtype(at::kFloat));
      const int rc = chunks > 0 ? cuda::colsum(adt, dy.data_ptr(), rows, out, parts.data_ptr<float>(), chunks,
                                               c10::cuda::getCurrentCUDAStream().stream())
                                : -1;
      const double e = rc == 0 ? rel_err(parts.sum(0), dy.to(at::kDouble).sum(0)) : 1e9;
      char msg[256];
      std::snprintf(msg, sizeof(msg), "%s: colsum over %d chunks (rc %d) max rel err %.2e (tol 1e-05)", name, chunks,
                    rc, e);
      expect(rc == 0 && e <= 1e-5, msg);
    }
  }
#endif
}

void sync(at::Device dev) {
#ifdef ARMAP_CUDA
  if (dev.is_cuda()) c10::cuda::device_synchronize();
#endif
}

// Times forward + backward of the fused op against the unfused one the model runs otherwise
// (dropout, add, LayerNorm with weights in the activations' dtype), in one process: the ratio is
// what the fused kernels save at that shape.
void bench(at::Device dev, at::ScalarType dt, int64_t rows, int64_t hidden, double p, int iters) {
  Model m = make_model(dev);
  auto opt = at::TensorOptions().device(dev);
  auto x = at::randn({rows, hidden}, opt).to(dt).requires_grad_(true);
  auto r = at::randn({rows, hidden}, opt).to(dt).requires_grad_(true);
  auto w = at::ones({hidden}, opt).requires_grad_(true);
  auto b = at::zeros({hidden}, opt).requires_grad_(true);
  auto dy = at::randn({rows, hidden}, opt).to(dt);
  double ms[2] = {0, 0};
  for (int mode = 0; mode < 2; mode++) {
    for (int it = -2; it < iters; it++) {  // two untimed warm-up rounds
      sync(dev);
      auto t0 = std::chrono::steady_clock::now();
      at::Tensor y;
      if (mode == 0) {
        y = fused_add_norm(m, x, r, w, b, p);
      } else {
        auto d = dev.is_cuda() ? at::dropout(x, p, true) : x * at::empty_like(x).bernoulli_(1.0 - p, m.gen) / (1.0 - p);
        y = at::layer_norm(d + r, {hidden}, w.to(dt), b.to(dt), 1e-12);
      }
      torch::autograd::backward({y}, {dy});
      sync(dev);
      if (it >= 0) ms[mode] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  std::printf("bench %s %s rows=%lld hidden=%lld p=%.2f: fused %.3f ms, unfused %.3f ms (fwd+bwd), ratio %.2fx\n",
              dev.is_cpu() ? "cpu" : "cuda", c10::toString(dt), (long long)rows, (long long)hidden, p, ms[0] / iters,
              ms[1] / iters, ms[1] / ms[0]);
}

}  // namespace

int main(int argc, char** argv) {
  const bool cuda = argc > 1 && std::strcmp(argv[1], "cuda") == 0;
  at::Device dev = cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  at::set_num_threads(2);
  if (argc > 2 && std::strcmp(argv[2], "bench") == 0) {
    // bert-mini's training shape on CPU; bert-base's T1 (32 pairs x 512 tokens) and S1-sized rows on CUDA.
    if (cuda) {
      bench(dev, at::kBFloat16, 32768, 768, 0.1, 20);
      bench(dev, at::kBFloat16, 131072, 768, 0.0, 10);
    } else {
      bench(dev, at::kFloat, 4608, 256, 0.1, 10);
      bench(dev, at::kFloat, 4608, 256, 0.0, 10);
      bench(dev, at::kFloat, 8192, 768, 0.1, 5);
    }
    return 0;
  }
  // Float32 to within its resolution; bf16 to within its rounding of y and of the gradients
  // (the reference rounds only the inputs and the sum).
  const Case cases[] = {
      // float32: up to 4 vectors per lane on CUDA (512), a partial warp (40), an odd width (CPU only)
      {at::kFloat, 37, 512, 0.0, 2e-5, true}, {at::kFloat, 37, 512, 0.1, 2e-5, true},
      {at::kFloat, 5, 40, 0.3, 2e-5, true}, {at::kFloat, 3, 25, 0.1, 2e-5, false},
      {at::kFloat, 9, 768, 0.1, 2e-5, false},
      // bf16 at bert-base's width; many rows per warp in backward (5000 rows > 2 blocks x 8 warps
      // per multiprocessor); idle lanes (200 = 25 vectors); bert-large's width
      {at::kBFloat16, 37, 768, 0.0, 2e-2, true}, {at::kBFloat16, 5000, 768, 0.1, 2e-2, true},
      {at::kBFloat16, 7, 200, 0.1, 2e-2, true}, {at::kBFloat16, 300, 1024, 0.1, 2e-2, true},
      {at::kHalf, 16, 256, 0.1, 4e-3, true},
  };
  for (const auto& c : cases) run(c, dev);
  // bert-base's four bias widths at T1's row count and fewer; a width colsum refuses (classifier).
  run_bias_linear(dev, at::kBFloat16, 5000, 768, 2304, 2e-2);
  run_bias_linear(dev, at::kBFloat16, 32768, 768, 768, 2e-2);
  run_bias_linear(dev, at::kBFloat16, 33, 768, 3072, 2e-2);
  run_bias_linear(dev, at::kBFloat16, 7, 40, 1, 2e-2);
  if (cuda) run_bias_linear(dev, at::kHalf, 100, 64, 200, 4e-3);  // no f16 matrix products on CPU here
  run_bias_linear(dev, at::kFloat, 300, 36, 12, 1e-5);
  std::printf("%s: %d failed\n", argv[0], failures);
  return failures ? 1 : 0;
}
