// Checks the fused residual + dropout + LayerNorm (kernels/src/add_norm.cpp) against the unfused
// form computed by ATen's autograd in float64 with the same mask, rebuilt here from the call's key.
// Run as `add_norm_test cpu` (built by make test) or `add_norm_test cuda` (built by
// scripts/build_cuda.sh; the CUDA kernels of add_norm.cu). Exits 1 when a check fails.
// `add_norm_test cpu|cuda bench` times the fused op against the unfused one instead.
// It also checks linear.cpp's autograd functions (whose CUDA bias gradients and GELU backward are
// colsum.cu), the other code the fused switch turns on, against ATen's autograd in float64, and on
// CUDA flash and cuDNN attention against the CPU path in float64.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>

#include <array>
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
  m.fused_kernels = true;
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

void sync(at::Device dev) {
#ifdef ARMAP_CUDA
  if (dev.is_cuda()) c10::cuda::device_synchronize();
#endif
}

// Milliseconds per iteration of step(mode) for mode 0 (ours) and mode 1 (what it replaces), each
// after two untimed warm-up rounds; after(mode), when given, runs untimed after every iteration.
std::array<double, 2> time_modes(at::Device dev, int iters, const std::function<void(int)>& step,
                                 const std::function<void(int)>& after = nullptr) {
  std::array<double, 2> ms{0, 0};
  for (int mode = 0; mode < 2; mode++) {
    for (int it = -2; it < iters; it++) {
      sync(dev);
      auto t0 = std::chrono::steady_clock::now();
      step(mode);
      sync(dev);
      if (it >= 0) ms[mode] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (after) after(mode);
    }
  }
  return {ms[0] / iters, ms[1] / iters};
}

// Runs one check or timing so that an exception in it (a CUDA error surfaces at the next sync)
// is a FAIL line naming it, and the checks after it still run.
template <typename F>
void guarded(at::Device dev, const std::string& what, F f) {
  try {
    f();
    sync(dev);
  } catch (const std::exception& e) {
    expect(false, what + ": " + e.what());
  }
}

void run_case(const Case& c, at::Device dev) {
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

// SplitSeparate: bias_linear_split with separate products (contiguous outputs).
enum class Kind { Plain, Gelu, Split, SplitSeparate };

// The function a Kind checks, as the check lines name it (scripts/bench_gpu.sh looks for
// "bias_linear" in a FAIL line).
const char* kind_name(Kind k) {
  static const char* names[] = {"bias_linear", "bias_linear_gelu", "bias_linear_split", "bias_linear_split separate"};
  return names[(int)k];
}

// linear.cpp's functions against ATen's autograd on the same (rounded) inputs: the outputs, x's
// gradient (with the passed-on input's gradient added, pass), and each weight's and bias's gradient
// in float32. unused_last: the last output of a split gets no gradient, so neither do its weight and
// bias. On CUDA also colsum.cu alone against a float64 sum, and whether it takes the width.
void run_linear_case(at::Device dev, at::ScalarType dt, Kind kind, int64_t rows, int64_t in, std::vector<int64_t> outs,
                     bool pass, bool unused_last, double tol) {
  auto opt = at::TensorOptions().device(dev);
  auto x = leaf(at::randn({rows, in}, opt).to(dt));
  std::vector<at::Tensor> ws, bs;
  for (auto o : outs) {
    ws.push_back(leaf(at::randn({o, in}, opt) / std::sqrt((double)in)));  // keeps GELU's input near 1
    bs.push_back(leaf(at::randn({o}, opt)));
  }
  // The function under kind on (x, ws, bs), with the weights cast by the caller when wcs/bcs are
  // given (concatenated for a split).
  auto call = [&](const at::Tensor& x, const std::vector<at::Tensor>& ws, const std::vector<at::Tensor>& bs,
                  const std::vector<at::Tensor>& wcs = {}, const std::vector<at::Tensor>& bcs = {}) {
    const Casts one = wcs.empty() ? Casts{} : Casts{wcs[0], bcs[0]};
    const Casts all = wcs.empty() ? Casts{} : Casts{at::cat(wcs), at::cat(bcs)};
    switch (kind) {
      case Kind::Plain: return std::vector<at::Tensor>{bias_linear(x, ws[0], bs[0], dt, one)};
      case Kind::Gelu: return bias_linear_gelu(x, ws[0], bs[0], dt, pass, one);
      case Kind::Split: return bias_linear_split(x, ws, bs, dt, pass, all);
      case Kind::SplitSeparate: return bias_linear_split(x, ws, bs, dt, pass, all, true);
    }
    return std::vector<at::Tensor>{};
  };
  auto ys = call(x, ws, bs);
  const size_t n = outs.size();
  std::vector<at::Tensor> gys;
  for (size_t i = 0; i < n; i++) gys.push_back(at::randn({rows, outs[i]}, opt).to(dt));
  auto gres = at::randn({rows, in}, opt).to(dt);
  // Backward from every used output, and from the passed-on input with a copy of its gradient: the
  // function adds into that in place, as add_norm's backward hands over a fresh tensor.
  auto backward = [&](const std::vector<at::Tensor>& ys) {
    std::vector<at::Tensor> roots, grads;
    for (size_t i = 0; i < n; i++) {
      if (unused_last && i == n - 1) continue;
      roots.push_back(ys[i]);
      grads.push_back(gys[i]);
    }
    if (pass) {
      roots.push_back(ys.at(n));
      grads.push_back(gres.clone());
    }
    torch::autograd::backward(roots, grads);
  };
  backward(ys);

  // The reference in float64, except for half types on CPU: libtorch 1.13's CPU bf16 products lose
  // precision of their own (1e-1 against float64 at K = 768), so there it is ATen's linear in the
  // same dtype, which must agree with ours.
  const auto rt = dev.is_cpu() && dt != at::kFloat ? dt : at::kDouble;
  auto x64 = leaf(x.detach().to(rt));
  std::vector<at::Tensor> w64, b64, y64;
  for (size_t i = 0; i < n; i++) {
    w64.push_back(leaf(ws[i].detach().to(dt).to(rt)));
    b64.push_back(leaf(bs[i].detach().to(dt).to(rt)));
    auto y = at::linear(x64, w64[i], b64[i]);
    y64.push_back(kind == Kind::Gelu ? at::gelu(y) : y);
  }
  std::vector<at::Tensor> roots64, grads64;
  for (size_t i = 0; i < n; i++) {
    if (unused_last && i == n - 1) continue;
    roots64.push_back(y64[i]);
    grads64.push_back(gys[i].to(rt));
  }
  if (pass) {
    roots64.push_back(x64);
    grads64.push_back(gres.to(rt));
  }
  torch::autograd::backward(roots64, grads64);

  std::string name = std::string(dev.is_cpu() ? "cpu " : "cuda ") + kind_name(kind) + " " + c10::toString(dt) +
                     " rows=" + std::to_string(rows) + " in=" + std::to_string(in) + " out=" + std::to_string(outs[0]) +
                     (n > 1 ? "x" + std::to_string(n) : "") + (pass ? " pass_input" : "") +
                     (unused_last ? " unused_last" : "");
  auto check = [&](const std::string& what, const at::Tensor& got, const at::Tensor& want) {
    const bool defined = got.defined() && want.defined();
    const double e = defined ? rel_err(got, want) : 1e9;
    char msg[320];
    std::snprintf(msg, sizeof(msg), "%s: %s max rel err %.2e (tol %.0e)", name.c_str(), what.c_str(), e, tol);
    expect(defined && e <= tol, msg);
  };
  expect(ys.size() == n + (pass ? 1 : 0) || (kind == Kind::Plain && ys.size() == 1), name + ": number of outputs");
  for (size_t i = 0; i < n; i++) check("y" + std::to_string(i), ys[i], y64[i]);
  if (kind == Kind::SplitSeparate) {
    bool dense = true;
    for (size_t i = 0; i < n; i++) dense = dense && ys[i].is_contiguous();
    expect(dense, name + ": the outputs are contiguous tensors");
  }
  if (pass) expect(at::equal(ys.at(n).detach(), x.detach()), name + ": the passed-on input is x");
  check("dx", x.grad(), x64.grad());
  for (size_t i = 0; i < n; i++) {
    const std::string k = std::to_string(i);
    if (unused_last && i == n - 1) {
      expect(!ws[i].grad().defined() && !bs[i].grad().defined(), name + ": no gradient for an unused output's weights");
      continue;
    }
    check("dw" + k, ws[i].grad(), w64[i].grad());
    check("db" + k, bs[i].grad(), b64[i].grad());
    expect(ws[i].grad().scalar_type() == at::kFloat && bs[i].grad().scalar_type() == at::kFloat,
           name + ": float32 gradients for float32 weights");
  }
  // With the weights cast by the caller (the model casts them all at once), the same values and
  // gradients to the bit.
  if (dt != at::kFloat) {
    std::vector<at::Tensor> ws2, bs2, wcs, bcs;
    for (size_t i = 0; i < n; i++) {
      ws2.push_back(leaf(ws[i]));
      bs2.push_back(leaf(bs[i]));
      wcs.push_back(ws[i].detach().to(dt));
      bcs.push_back(bs[i].detach().to(dt));
    }
    auto x2 = leaf(x);
    auto ys2 = call(x2, ws2, bs2, wcs, bcs);
    backward(ys2);
    bool same = at::equal(x2.grad(), x.grad());
    for (size_t i = 0; i < n; i++) {
      same = same && at::equal(ys2[i], ys[i]);
      if (!(unused_last && i == n - 1)) {
        same = same && at::equal(ws2[i].grad(), ws[i].grad()) && at::equal(bs2[i].grad(), bs[i].grad());
      }
    }
    expect(same, name + ": casts made by the caller give the same values and gradients");
  }
#ifdef ARMAP_CUDA
  if (dev.is_cuda() && kind == Kind::Plain) {
    const int64_t out = outs[0];
    auto dy = gys[0];
    const int32_t adt = abi_dtype(dt);
    const bool want = out % (dt == at::kFloat ? 4 : 8) == 0;
    const bool takes = cuda::colsum_supported(adt, out);
    expect(takes == want, name + ": colsum " + (want ? "takes" : "refuses") + " this width");
    if (takes) {
      const int chunks = cuda::colsum_chunks(rows, out, adt, dev.index());
      auto parts = at::empty({std::max(chunks, 1), out}, opt.dtype(at::kFloat));
      auto sums = at::empty({out}, opt.dtype(at::kFloat));
      auto stream = c10::cuda::getCurrentCUDAStream().stream();
      int rc = chunks > 0 ? cuda::colsum(adt, dy.data_ptr(), rows, out, parts.data_ptr<float>(), chunks, stream) : -1;
      if (rc == 0) rc = cuda::colsum_finish(parts.data_ptr<float>(), chunks, out, sums.data_ptr<float>(), stream);
      const double e = rc == 0 ? rel_err(sums, dy.to(at::kDouble).sum(0)) : 1e9;
      char msg[320];
      std::snprintf(msg, sizeof(msg), "%s: colsum over %d chunks (rc %d) max rel err %.2e (tol 1e-05)", name.c_str(),
                    chunks, rc, e);
      expect(rc == 0 && e <= 1e-5, msg);
    }
  }
#endif
}

// The checks above, each guarded: an exception is a FAIL line naming it (kind_name for linear.cpp's).
void run(const Case& c, at::Device dev) {
  char what[120];
  std::snprintf(what, sizeof(what), "add_norm %s rows=%lld hidden=%lld p=%.2f", c10::toString(c.dtype), (long long)c.rows,
                (long long)c.hidden, c.p);
  guarded(dev, what, [&] { run_case(c, dev); });
}

void run_linear(at::Device dev, at::ScalarType dt, Kind kind, int64_t rows, int64_t in, std::vector<int64_t> outs,
                bool pass, bool unused_last, double tol) {
  char what[120];
  std::snprintf(what, sizeof(what), "%s %s rows=%lld in=%lld", kind_name(kind), c10::toString(dt), (long long)rows,
                (long long)in);
  guarded(dev, what, [&] { run_linear_case(dev, dt, kind, rows, in, outs, pass, unused_last, tol); });
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
  const auto ms = time_modes(dev, iters, [&](int mode) {
    at::Tensor y;
    if (mode == 0) {
      y = fused_add_norm(m, x, r, w, b, p);
    } else {
      auto d = dev.is_cuda() ? at::dropout(x, p, true) : x * at::empty_like(x).bernoulli_(1.0 - p, m.gen) / (1.0 - p);
      y = at::layer_norm(d + r, {hidden}, w.to(dt), b.to(dt), 1e-12);
    }
    torch::autograd::backward({y}, {dy});
  });
  std::printf("bench %s %s rows=%lld hidden=%lld p=%.2f: fused %.3f ms, unfused %.3f ms (fwd+bwd), ratio %.2fx\n",
              dev.is_cpu() ? "cpu" : "cuda", c10::toString(dt), (long long)rows, (long long)hidden, p, ms[0], ms[1],
              ms[1] / ms[0]);
}

// Times forward + backward of linear.cpp's functions against the ATen autograd they replace, at one
// encoder layer's shapes: the intermediate layer with GELU, q/k/v, and a plain layer. Each feeds
// its input on as a residual too (pass_input against autograd adding the two gradients), with
// float32 master weights cast in the forward, as the model trains.
void bench_linear(at::Device dev, at::ScalarType dt, int64_t rows, int64_t hidden, int64_t inter, int iters) {
  auto opt = at::TensorOptions().device(dev);
  auto x = at::randn({rows, hidden}, opt).to(dt).requires_grad_(true);
  auto gres = at::randn({rows, hidden}, opt).to(dt);
  auto param = [&](int64_t o, int64_t i) { return (at::randn({o, i}, opt) / std::sqrt((double)i)).requires_grad_(true); };
  const char* names[] = {"intermediate+gelu", "q/k/v", "plain"};
  for (int kind = 0; kind < 3; kind++) {
    const int64_t out = kind == 0 ? inter : hidden;
    const int n = kind == 1 ? 3 : 1;
    std::vector<at::Tensor> ws, bs, gys;
    for (int i = 0; i < n; i++) {
      ws.push_back(param(out, hidden));
      bs.push_back(at::randn({out}, opt).requires_grad_(true));
      gys.push_back(at::randn({rows, out}, opt).to(dt));
    }
    auto step = [&](int mode) {
      std::vector<at::Tensor> roots, grads(gys);
      if (mode == 0) {
        switch (kind) {
          case 0: roots = bias_linear_gelu(x, ws[0], bs[0], dt, true); break;
          case 1: roots = bias_linear_split(x, ws, bs, dt, true); break;
          default: roots = {bias_linear(x, ws[0], bs[0], dt), x}; break;
        }
      } else {
        std::vector<at::Tensor> wc, bc;
        for (int i = 0; i < n; i++) {
          wc.push_back(ws[i].to(dt));
          bc.push_back(bs[i].to(dt));
        }
        if (kind == 1) {
          roots = at::split_with_sizes(at::linear(x, at::cat(wc), at::cat(bc)), {out, out, out}, -1);
        } else {
          auto y = at::linear(x, wc[0], bc[0]);
          roots = {kind == 0 ? at::gelu(y) : y};
        }
        roots.push_back(x);
      }
      grads.push_back(gres.clone());
      torch::autograd::backward(roots, grads);
    };
    const auto ms = time_modes(dev, iters, step, [&](int) {
      x.mutable_grad() = at::Tensor();
      for (int i = 0; i < n; i++) {
        ws[i].mutable_grad() = at::Tensor();
        bs[i].mutable_grad() = at::Tensor();
      }
    });
    std::printf("bench %s %s linear %s rows=%lld: ours %.3f ms, ATen autograd %.3f ms (fwd+bwd), ratio %.2fx\n",
                dev.is_cpu() ? "cpu" : "cuda", c10::toString(dt), names[kind], (long long)rows, ms[0], ms[1],
                ms[1] / ms[0]);
  }
}

// q, k, v as the model hands them to attention (a leaf here, whose gradient holds all three
// gradients): [T, H or Hkv, D] column views of one [T, (H + 2 Hkv) D] projection, or, from a
// [3, T, H D] tensor, three dense ones (the projection's separate outputs for cuDNN's attention).
std::vector<at::Tensor> split_qkv(const at::Tensor& all, int64_t H, int64_t Hkv, int64_t D) {
  if (all.dim() == 3) {
    const int64_t T = all.size(1);
    return {all[0].view({T, H, D}), all[1].view({T, Hkv, D}), all[2].view({T, Hkv, D})};
  }
  auto cols = at::split_with_sizes(all, {H * D, Hkv * D, Hkv * D}, -1);
  const int64_t T = all.size(0);
  return {cols[0].view({T, H, D}), cols[1].view({T, Hkv, D}), cols[2].view({T, Hkv, D})};
}

// The same values as a [3, T, H D] tensor (H == Hkv).
at::Tensor stacked(const at::Tensor& all) { return all.view({all.size(0), 3, -1}).permute({1, 0, 2}).contiguous(); }

Packed uniform_packed(at::Device dev, int64_t n, int64_t L) {
  Packed p;
  for (int64_t i = 0; i <= n; i++) p.cu_host.push_back(i * L);
  p.cu = at::tensor(p.cu_host, at::TensorOptions().dtype(at::kLong)).to(at::kInt).to(dev);
  p.max_len = L;
  return p;
}

// Attention of q/k/v split from all, and the gradient of all for dy.
std::pair<at::Tensor, at::Tensor> attention_grads(const at::Tensor& all0, const at::Tensor& dy, const Packed& p, int64_t H,
                                                  int64_t Hkv, int64_t D, bool causal, double drop, bool cudnn) {
  auto all = leaf(all0);
  auto qkv = split_qkv(all, H, Hkv, D);
  auto y = varlen_attention(qkv[0], qkv[1], qkv[2], p, causal, drop, nullptr, cudnn);
  torch::autograd::backward({y}, {dy});
  return {y, all.grad()};
}

// cuDNN's attention (training batches of one length) and flash attention against the CPU path in
// float64 on the same rounded inputs, without dropout: the output and the three gradients. On CPU
// (float32) the CPU path itself, which the cudnn flag does not change.
void run_attention(at::Device dev, int64_t n, int64_t L, int64_t H, int64_t Hkv, int64_t D, bool causal) {
  auto opt = at::TensorOptions().device(dev);
  const auto dt = dev.is_cuda() ? at::kBFloat16 : at::kFloat;
  const double tol = dev.is_cuda() ? 2e-2 : 1e-5;
  auto all = at::randn({n * L, (H + 2 * Hkv) * D}, opt).to(dt);
  auto dy = at::randn({n * L, H * D}, opt).to(dt);
  auto want = attention_grads(all.to(at::kCPU, at::kDouble), dy.to(at::kCPU, at::kDouble), uniform_packed(at::kCPU, n, L),
                              H, Hkv, D, causal, 0.0, false);
  auto want_g = split_qkv(want.second, H, Hkv, D);
  const std::string dev_name = dev.is_cuda() ? "cuda" : "cpu";
  char shape[120];
  std::snprintf(shape, sizeof(shape), "n=%lld L=%lld H=%lld Hkv=%lld D=%lld%s", (long long)n, (long long)L, (long long)H,
                (long long)Hkv, (long long)D, causal ? " causal" : "");
  // cuDNN on the column views and, as the model hands them over, on dense tensors (on CPU, where
  // the flag changes nothing, the packed path on both layouts).
  for (int mode = 0; mode < 3; mode++) {
    const bool cudnn = dev.is_cuda() && mode > 0, dense = mode == 2;
    if ((dense && H != Hkv) || (dev.is_cpu() && mode == 1)) continue;
    const std::string name = dev_name + " attention " + (dev.is_cpu() ? "packed" : cudnn ? "cudnn" : "flash") +
                             (dense ? " dense" : "") + " " + shape;
    if (cudnn && !cudnn_attention_built()) {
      std::printf("skip %s: this backend has no cuDNN attention\n", name.c_str());
      continue;
    }
    guarded(dev, name, [&] {
      auto got = attention_grads(dense ? stacked(all) : all, dy, uniform_packed(dev, n, L), H, Hkv, D, causal, 0.0, cudnn);
      auto got_g = split_qkv(got.second, H, Hkv, D);
      const at::Tensor g[] = {got.first, got_g[0], got_g[1], got_g[2]};
      const at::Tensor w[] = {want.first, want_g[0], want_g[1], want_g[2]};
      const char* what[] = {"out", "dq", "dk", "dv"};
      for (int i = 0; i < 4; i++) {
        const double e = rel_err(g[i], w[i]);
        char msg[80];
        std::snprintf(msg, sizeof(msg), ": %s max rel err %.2e (tol %.0e)", what[i], e, tol);
        expect(e <= tol, name + msg);
      }
      if (cudnn) {
        // Scoring runs cuDNN's inference graph (no log-sum-exp), a different one.
        c10::NoGradGuard ng;
        auto qkv = split_qkv(dense ? stacked(all) : all, H, Hkv, D);
        const double e = rel_err(varlen_attention(qkv[0], qkv[1], qkv[2], uniform_packed(dev, n, L), causal, 0.0, nullptr, true), want.first);
        char msg[80];
        std::snprintf(msg, sizeof(msg), ": out without autograd max rel err %.2e (tol %.0e)", e, tol);
        expect(e <= tol, name + msg);
      }
    });
  }
}

#ifdef ARMAP_CUDA
// Attention dropout draws from the default CUDA generator: rewound, a forward without autograd (a
// checkpointed layer's first pass) and one with it (its recomputation) must give the same output,
// and dropout must change it.
void run_attention_dropout(at::Device dev) {
  const int64_t n = 4, L = 256, H = 12, D = 64;
  auto opt = at::TensorOptions().device(dev);
  auto all = at::randn({n * L, 3 * H * D}, opt).to(at::kBFloat16);
  auto dy = at::randn({n * L, H * D}, opt).to(at::kBFloat16);
  auto p = uniform_packed(dev, n, L);
  auto gen = at::cuda::detail::getDefaultCUDAGenerator(dev.index());
  for (bool cudnn : {false, true}) {
    if (cudnn && !cudnn_attention_built()) continue;
    // cuDNN takes multiples of 1/16 only.
    const double p_drop = cudnn ? 0.125 : 0.1;
    const std::string name = std::string("cuda attention ") + (cudnn ? "cudnn" : "flash") + " dropout " + c10::str(p_drop);
    // cuDNN as the model hands it q/k/v: dense.
    const auto in = cudnn ? stacked(all) : all;
    guarded(dev, name, [&] {
      auto state = gen.get_state();
      at::Tensor first;
      {
        c10::NoGradGuard ng;
        auto qkv = split_qkv(in, H, H, D);
        first = varlen_attention(qkv[0], qkv[1], qkv[2], p, false, p_drop, nullptr, cudnn);
      }
      gen.set_state(state);
      auto again = attention_grads(in, dy, p, H, H, D, false, p_drop, cudnn).first;
      auto plain = attention_grads(in, dy, p, H, H, D, false, 0.0, cudnn).first;
      expect(at::equal(first, again), name + ": the rewound generator gives the same output without and with autograd");
      expect(!at::equal(first, plain), name + ": dropout changes the output");
    });
  }
  if (cudnn_attention_built()) {
    // A probability cuDNN would round is refused rather than applied as another one.
    bool refused = false;
    try {
      auto qkv = split_qkv(stacked(all), H, H, D);
      varlen_attention(qkv[0], qkv[1], qkv[2], p, false, 0.1, nullptr, true);
    } catch (const Error& e) {
      refused = std::string(e.what()).find("1/16") != std::string::npos;
    }
    expect(refused, "cuda attention cudnn dropout 0.1: refused (cuDNN draws in steps of 1/16)");
  }
}

#endif

// The dropout each attention applies, read off its output at T1's shape: with q = k = 0 every
// probability is 1/L, and v holding the identity in its first D keys (zero elsewhere) makes
// out[i, d] = keep[i, d] / ((1 - p) L). The zeros give the rate it drops at, the others the rate it
// scales by. cuDNN draws at a resolution of 1/16, so it is measured at 0.125 (0.1 is refused,
// see run_attention_dropout); the others at BERT's 0.1.
// On CPU (float32, the model's own mask) the same measurement checks the probe itself.
void run_attention_dropout_rate(at::Device dev) {
  const int64_t n = dev.is_cuda() ? 8 : 2, L = 512, H = 12, D = 64;
  auto opt = at::TensorOptions().device(dev).dtype(dev.is_cuda() ? at::kBFloat16 : at::kFloat);
  // CUDA attention draws from the device's default generator; the CPU path from the one it is given.
  auto cpu_gen = at::make_generator<at::CPUGeneratorImpl>(5);
  at::Generator* gen = dev.is_cuda() ? nullptr : &cpu_gen;
  auto q = at::zeros({n * L, H, D}, opt);
  auto v4 = at::zeros({n, L, H, D}, opt);
  v4.narrow(1, 0, D).copy_(at::eye(D, opt).view({1, D, 1, D}).expand({n, D, H, D}));
  auto v = v4.view({n * L, H, D});
  auto p = uniform_packed(dev, n, L);
  for (bool cudnn : {false, true}) {
    if (cudnn && (!dev.is_cuda() || !cudnn_attention_built())) continue;
    const double p_drop = cudnn ? 0.125 : 0.1;
    const std::string name = std::string(dev.is_cuda() ? "cuda attention " : "cpu attention ") +
                             (dev.is_cpu() ? "packed" : cudnn ? "cudnn" : "flash") + " dropout rate " + c10::str(p_drop) +
                             " at L=512";
    guarded(dev, name, [&] {
      c10::NoGradGuard ng;
      auto out = varlen_attention(q, q, v, p, false, p_drop, gen, cudnn).view({n, L, H, D}).to(at::kFloat);
      const double zeros = (out == 0).to(at::kFloat).mean().item<double>();
      const double kept = (out != 0).sum().item<double>();
      const double value = kept > 0 ? out.sum().item<double>() / kept : 0;
      const double scaled = value > 0 ? 1 - 1 / (value * (double)L) : 1;
      char msg[160];
      std::snprintf(msg, sizeof(msg), ": drops %.4f of the probabilities (want %.4g +- 0.005)", zeros, p_drop);
      expect(std::abs(zeros - p_drop) < 0.005, name + msg);
      std::snprintf(msg, sizeof(msg), ": scales the rest as for p = %.4f (want %.4g +- 0.01)", scaled, p_drop);
      expect(std::abs(scaled - p_drop) < 0.01, name + msg);
    });
  }
}
// The rule that keeps BERT's 0.1 away from cuDNN's attention, on every device.
void run_cudnn_dropout_rule() {
  struct Case {
    double p;
    bool exact;
  };
  for (const Case c : {Case{0.0, true}, Case{0.0625, true}, Case{0.125, true}, Case{0.5, true}, Case{0.1, false},
                       Case{0.3, false}, Case{0.05, false}}) {
    expect(cudnn_dropout_exact(c.p) == c.exact,
           "cudnn dropout rule: " + c10::str(c.p) + (c.exact ? " is a multiple of 1/16" : " is not a multiple of 1/16"));
  }
}

// Forward + backward of cuDNN's attention against flash attention at T1's shape, on
// dense q/k/v as the model hands them to cuDNN (flash writes contiguous gradients either way).
void bench_attention(at::Device dev, int64_t n, int64_t L, int64_t H, int64_t D, double p_drop, int iters) {
  auto opt = at::TensorOptions().device(dev);
  auto all = at::randn({3, n * L, H * D}, opt).to(at::kBFloat16);
  auto dy = at::randn({n * L, H * D}, opt).to(at::kBFloat16);
  auto p = uniform_packed(dev, n, L);
  const auto ms = time_modes(dev, iters, [&](int mode) { attention_grads(all, dy, p, H, H, D, false, p_drop, mode == 0); });
  std::printf("bench cuda BFloat16 attention rows=%lld L=%lld p=%.2f: cudnn %.3f ms, flash %.3f ms (fwd+bwd), ratio %.2fx\n",
              (long long)(n * L), (long long)L, p_drop, ms[0], ms[1], ms[1] / ms[0]);
}

}  // namespace

int main(int argc, char** argv) {
  // Line by line even into a file (scripts/bench_gpu.sh): a crash must not take the lines before it.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const bool cuda = argc > 1 && std::strcmp(argv[1], "cuda") == 0;
  at::Device dev = cuda ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  at::set_num_threads(2);
  if (argc > 2 && std::strcmp(argv[2], "bench") == 0) {
    // bert-mini's training shape on CPU; bert-base's T1 (32 pairs x 512 tokens) and S1-sized rows on CUDA.
    if (cuda) {
      guarded(dev, "bench add_norm", [&] {
        bench(dev, at::kBFloat16, 32768, 768, 0.1, 20);
        bench(dev, at::kBFloat16, 131072, 768, 0.0, 10);
      });
      guarded(dev, "bench bias_linear", [&] { bench_linear(dev, at::kBFloat16, 32768, 768, 3072, 20); });
      // Without dropout: cuDNN cannot take BERT's 0.1 (T1), so what it can serve at this shape is
      // scoring and dropout-free training.
      if (cudnn_attention_built()) guarded(dev, "bench attention", [&] { bench_attention(dev, 64, 512, 12, 64, 0.0, 20); });
    } else {
      bench(dev, at::kFloat, 4608, 256, 0.1, 10);
      bench(dev, at::kFloat, 4608, 256, 0.0, 10);
      bench(dev, at::kFloat, 8192, 768, 0.1, 5);
      bench_linear(dev, at::kFloat, 4608, 256, 1024, 10);
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
  // bert-base's four bias widths, at T1's row count on CUDA (libtorch 1.13's CPU bf16 products take
  // minutes there); a width colsum refuses (classifier).
  run_linear(dev, at::kBFloat16, Kind::Plain, cuda ? 5000 : 300, 768, {2304}, false, false, 2e-2);
  run_linear(dev, at::kBFloat16, Kind::Plain, cuda ? 32768 : 200, 768, {768}, false, false, 2e-2);
  run_linear(dev, at::kBFloat16, Kind::Plain, 33, 768, {3072}, false, false, 2e-2);
  run_linear(dev, at::kBFloat16, Kind::Plain, 7, 40, {1}, false, false, 2e-2);
  if (cuda) run_linear(dev, at::kHalf, Kind::Plain, 100, 64, {200}, false, false, 4e-3);  // no f16 products on CPU here
  run_linear(dev, at::kFloat, Kind::Plain, 300, 36, {12}, false, false, 1e-5);
  // The intermediate layer (GELU fused with its bias gradient on CUDA) and q/k/v, with and without
  // the passed-on residual; a width the CUDA column sums refuse; an unused output. bf16 with the
  // passed-on residual or a split only on CUDA: there the products accumulate x's gradient in a
  // different order than ATen's autograd, and libtorch 1.13's CPU bf16 products are too coarse
  // (above) for that to compare at a useful tolerance; float32 checks the same code on CPU.
  run_linear(dev, at::kBFloat16, Kind::Gelu, 33, 64, {256}, false, false, 2e-2);
  run_linear(dev, at::kFloat, Kind::Gelu, 300, 36, {20}, true, false, 1e-5);
  run_linear(dev, at::kFloat, Kind::Gelu, 50, 16, {18}, false, false, 1e-5);
  run_linear(dev, at::kFloat, Kind::Gelu, 500, 768, {3072}, true, false, 1e-5);
  run_linear(dev, at::kFloat, Kind::Split, 300, 36, {12, 8, 16}, true, false, 1e-5);
  run_linear(dev, at::kFloat, Kind::Split, 30, 36, {12, 12, 12}, true, true, 1e-5);
  run_linear(dev, at::kFloat, Kind::Split, 500, 768, {768, 768, 768}, true, false, 1e-5);
  run_linear(dev, at::kFloat, Kind::SplitSeparate, 300, 36, {12, 8, 16}, true, false, 1e-5);
  run_linear(dev, at::kFloat, Kind::SplitSeparate, 30, 36, {12, 12, 12}, false, true, 1e-5);
  if (cuda) {
    run_linear(dev, at::kBFloat16, Kind::Gelu, 2000, 768, {3072}, true, false, 2e-2);
    run_linear(dev, at::kBFloat16, Kind::Gelu, 32768, 768, {3072}, true, false, 2e-2);
    run_linear(dev, at::kHalf, Kind::Gelu, 100, 64, {200}, true, false, 4e-3);
    run_linear(dev, at::kBFloat16, Kind::Split, 2000, 768, {768, 768, 768}, true, false, 2e-2);
    run_linear(dev, at::kBFloat16, Kind::Split, 40, 64, {64, 64, 64}, false, true, 2e-2);
    run_linear(dev, at::kBFloat16, Kind::SplitSeparate, 2000, 768, {768, 768, 768}, true, false, 2e-2);
    // bert-base's heads; llama-1b's grouped, causal ones.
    run_attention(dev, 8, 512, 12, 12, 64, false);
    run_attention(dev, 4, 128, 32, 8, 64, true);
#ifdef ARMAP_CUDA
    run_attention_dropout(dev);
#endif
  } else {
    run_attention(dev, 3, 16, 4, 4, 8, false);
    run_attention(dev, 2, 12, 4, 2, 8, true);
  }
  run_attention_dropout_rate(dev);
  run_cudnn_dropout_rule();
  std::printf("%s: %d failed\n", argv[0], failures);
  return failures ? 1 : 0;
}
