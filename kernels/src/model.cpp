// Reward-model families written functionally on ATen tensors: an encoder (BERT: learned
// positions, post-LayerNorm, GELU, first-token pooling) and a decoder (Llama/Qwen2/Mistral:
// RMSNorm, RoPE, SwiGLU, grouped-query attention, last-token pooling). Parameters carry their
// HuggingFace names so that checkpoints load and export without a mapping table.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

#include <cmath>
#include <sstream>

#include "add_norm.h"
#include "internal.h"

#ifdef ARMAP_CUDA
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

namespace armap {

namespace {

bool is_norm_or_bias(const std::string& n) {
  auto ends = [&](const char* s) {
    std::string x(s);
    return n.size() >= x.size() && n.compare(n.size() - x.size(), x.size(), x) == 0;
  };
  return ends(".bias") || n.find("LayerNorm") != std::string::npos || n.find("layernorm") != std::string::npos ||
         ends("norm.weight");
}

struct Builder {
  Model& m;
  at::Generator init;  // CPU generator: the same seed gives the same weights on every device
  at::Generator adapters;  // separate, so that LoRA on or off leaves the base weights the same
  double std;

  at::Tensor add(const std::string& name, at::IntArrayRef shape, char kind, bool trainable = true) {
    auto t = at::empty(shape, at::TensorOptions().dtype(at::kFloat));
    switch (kind) {
      case 'n': t.normal_(0.0, std, init); break;
      case 'a': t.normal_(0.0, std, adapters); break;
      case '0': t.zero_(); break;
      case '1': t.fill_(1.0); break;
      default: invalid("internal: bad init kind");
    }
    t = t.to(m.device);
    t.set_requires_grad(trainable);
    m.index[name] = m.params.size();
    m.params.push_back(Param{name, t, trainable, trainable && !is_norm_or_bias(name)});
    return t;
  }

  // A linear layer named prefix.weight / prefix.bias, with LoRA adapters when asked.
  Linear linear(const std::string& prefix, int64_t out, int64_t in, bool bias, bool lora, bool trainable) {
    Linear l;
    l.w = add(prefix + ".weight", {out, in}, 'n', trainable);
    if (bias) l.b = add(prefix + ".bias", {out}, '0', trainable);
    if (lora && m.opt.lora_rank > 0) {
      int64_t r = m.opt.lora_rank;
      // Kaiming-uniform-like A and zero B (as PEFT) so the adapted model starts equal to the base.
      l.lora_a = add(prefix + ".lora_A.weight", {r, in}, 'a', true);
      {
        c10::NoGradGuard ng;
        l.lora_a.mul_(1.0 / (std * std::sqrt((double)in)));
      }
      l.lora_b = add(prefix + ".lora_B.weight", {out, r}, '0', true);
      m.params[m.index[prefix + ".lora_A.weight"]].decay = false;
      m.params[m.index[prefix + ".lora_B.weight"]].decay = false;
      l.lora_scale = (m.opt.lora_alpha > 0 ? m.opt.lora_alpha : (double)r) / (double)r;
    }
    return l;
  }
};

// An activation in the compute dtype.
at::Tensor cast(const Model& m, const at::Tensor& t) {
  if (!t.defined() || t.scalar_type() == m.compute) return t;
  return t.to(m.compute);
}

// A parameter in the compute dtype. While scoring, the copy is kept until the weights change.
// Never for activations: a freed activation's TensorImpl address can be reused.
at::Tensor weight(const Model& m, const at::Tensor& t) {
  if (!t.defined() || t.scalar_type() == m.compute) return t;
  if (!m.use_cast_cache) return t.to(m.compute);
  auto& cache = const_cast<Model&>(m).cast_cache;
  auto it = cache.find(t.unsafeGetTensorImpl());
  if (it != cache.end()) return it->second;
  auto c = t.to(m.compute);
  cache.emplace(t.unsafeGetTensorImpl(), c);
  return c;
}

// Training the encoder with the fused kernels on: layers with a bias run as linear.cpp's autograd
// functions.
bool use_bias_linear(const Model& m) {
  return m.fused_linear && m.cfg.family == ARMAP_FAMILY_ENCODER && at::GradMode::is_enabled();
}

// Whether a group of linear layers of one input runs as one bias_linear_split when training with
// the fused kernels: every layer has a bias and none has LoRA adapters.
bool split_with_biases(std::initializer_list<const Linear*> ls) {
  for (auto* l : ls) {
    if (!l->b.defined() || l->lora_a.defined()) return false;
  }
  return true;
}

// This step's compute-dtype copies of a linear layer (or of the q/k/v group, keyed by its first
// layer) when cast_for_training made them.
Casts train_cast(const Model& m, const void* key) {
  auto it = m.train_casts.find(key);
  if (it == m.train_casts.end()) return {};
  return {it->second.first, it->second.second};
}

// Training the encoder in bf16/f16 with the fused kernels: every weight and bias that linear.cpp's
// functions take, cast in one multi-tensor copy at the start of the forward (a few launches
// instead of about 150 a bert-base step), the q/k/v group straight into its concatenated weight.
// A checkpointed layer's recomputation uses the same copies.
void cast_for_training(Model& m) {
  m.train_casts.clear();
  std::vector<at::Tensor> dst, src;
  auto add = [&](const at::Tensor& master, const at::Tensor& copy) {
    src.push_back(master);
    dst.push_back(copy);
  };
  auto cast = [&](const at::Tensor& t) {
    auto c = at::empty(t.sizes(), t.options().dtype(m.compute));
    add(t, c);
    return c;
  };
  auto single = [&](const Linear& l) {
    if (!l.b.defined()) return;  // apply() runs bias_linear only for layers with a bias
    m.train_casts[&l] = {cast(l.w), cast(l.b)};
  };
  for (auto& L : m.enc) {
    const std::initializer_list<const Linear*> group = {&L.q, &L.k, &L.v};
    if (split_with_biases(group)) {
      int64_t rows = 0;
      for (auto* l : group) rows += l->w.size(0);
      auto w = at::empty({rows, L.q.w.size(1)}, L.q.w.options().dtype(m.compute));
      auto b = at::empty({rows}, L.q.b.options().dtype(m.compute));
      int64_t off = 0;
      for (auto* l : group) {
        const int64_t n = l->w.size(0);
        add(l->w, w.narrow(0, off, n));
        add(l->b, b.narrow(0, off, n));
        off += n;
      }
      m.train_casts[&L.q] = {w, b};
    } else {
      for (auto* l : group) single(*l);
    }
    for (const Linear* l : {&L.o, &L.fi, &L.fo}) single(*l);
  }
  single(m.pooler);
  single(m.classifier);
  c10::NoGradGuard ng;
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  at::_foreach_copy_(dst, src);
#else
  for (size_t i = 0; i < dst.size(); i++) dst[i].copy_(src[i]);
#endif
}

// Whether this forward's attention runs cuDNN's kernels (attention_cudnn.cpp): attention: cudnn
// (checked at model creation against the dtype and head size, and at trainer creation against the
// dropout), every sequence of the batch max_len long, and not a graph capture (its replays take
// batches of other lengths). The op is called directly, past PyTorch's own checks, so theirs on
// the shape are repeated: cuDNN refuses one-token sequences and more than 65535 of them.
bool cudnn_attention_now(const Model& m, const Packed& p) {
  return m.cudnn_attention && !m.capturing && p.num_seqs() * p.max_len == p.tokens.size(0) && p.max_len >= 2 &&
         p.num_seqs() <= 65535;
}

at::Tensor apply(const Model& m, const Linear& l, const at::Tensor& x) {
  auto y = l.b.defined() && use_bias_linear(m) ? bias_linear(x, l.w, l.b, m.compute, train_cast(m, &l))
                                               : at::linear(x, weight(m, l.w), l.b.defined() ? weight(m, l.b) : at::Tensor());
  if (l.lora_a.defined()) {
    y = y + at::linear(at::linear(x, weight(m, l.lora_a)), weight(m, l.lora_b)) * l.lora_scale;
  }
  return y;
}

// Several linear layers of the same input as one matrix product (the encoder's q/k/v): one read of x
// and one larger GEMM instead of several. Layers with LoRA adapters run separately. The
// concatenated weight is kept with the cast copies while scoring. With pass_input (training with
// the fused kernels only), x comes back as a last output (linear.cpp). separate: outputs that are
// contiguous tensors of their own rather than column views (see bias_linear_split).
std::vector<at::Tensor> apply_fused(const Model& m, std::initializer_list<const Linear*> ls, const at::Tensor& x,
                                    bool pass_input, bool separate) {
  if (use_bias_linear(m) && split_with_biases(ls)) {
    std::vector<at::Tensor> ws, bs;
    for (auto* l : ls) {
      ws.push_back(l->w);
      bs.push_back(l->b);
    }
    return bias_linear_split(x, ws, bs, m.compute, pass_input, train_cast(m, *ls.begin()), separate);
  }
  bool fuse = !separate;
  int biases = 0;
  for (auto* l : ls) {
    fuse = fuse && !l->lora_a.defined();
    biases += l->b.defined();
  }
  if (!fuse || (biases != 0 && biases != (int)ls.size())) {
    std::vector<at::Tensor> out;
    for (auto* l : ls) out.push_back(apply(m, *l, x));
    return out;
  }
  std::vector<int64_t> sizes;
  for (auto* l : ls) sizes.push_back(l->w.size(0));
  at::Tensor w, b;
  auto key = static_cast<const void*>(*ls.begin());
  auto& cache = const_cast<Model&>(m).fused_cache;
  auto it = m.use_cast_cache ? cache.find(key) : cache.end();
  if (it != cache.end()) {
    w = it->second.first;
    b = it->second.second;
  } else {
    std::vector<at::Tensor> ws, bs;
    for (auto* l : ls) {
      ws.push_back(weight(m, l->w));
      if (biases) bs.push_back(weight(m, l->b));
    }
    w = at::cat(ws, 0);
    if (biases) b = at::cat(bs, 0);
    if (m.use_cast_cache) cache.emplace(key, std::make_pair(w, b));
  }
  return at::split_with_sizes(at::linear(x, w, b), sizes, -1);
}

// {gelu(x W^T + b)} for the encoder's intermediate layer, plus x with pass_input (training with
// the fused kernels only). While scoring in bf16/f16 on CUDA, the activation runs in cuBLASLt's
// GEMM epilogue instead of a separate pass over the largest activation of the layer. That
// epilogue computes the tanh form of GELU, which differs from the exact one by under 5e-4, below
// bf16/f16 resolution; training and float32 keep the exact form.
std::vector<at::Tensor> linear_gelu(const Model& m, const Linear& l, const at::Tensor& x, bool train,
                                    bool pass_input) {
  if (!train && x.is_cuda() && m.compute != at::kFloat && l.b.defined() && !l.lora_a.defined() && x.dim() == 2 &&
      x.size(0) > 1) {
    return {at::_addmm_activation(weight(m, l.b), x, weight(m, l.w).t(), 1, 1, /*use_gelu=*/true)};
  }
  if (l.b.defined() && !l.lora_a.defined() && use_bias_linear(m)) return bias_linear_gelu(x, l.w, l.b, m.compute, pass_input, train_cast(m, &l));
  return {at::gelu(apply(m, l, x))};
}

at::Tensor dropout(const at::Tensor& x, double p, bool train, at::Generator* gen) {
  if (!train || p <= 0) return x;
  // On CUDA the model's generator is the device's default one, which the fused dropout kernel
  // draws from: one pass instead of three, and still seeded, saved and rewound with the model.
  if (x.is_cuda()) return at::dropout(x, p, true);
  // On CPU our own mask, so that the randomness comes from the model's private generator.
  auto keep = at::empty_like(x).bernoulli_(1.0 - p, *gen);
  return x * keep / (1.0 - p);
}

at::Tensor rms_norm(const Model& m, const at::Tensor& x, const at::Tensor& w) {
#if defined(ARMAP_CUDA) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8))
  // PyTorch's fused RMSNorm (float accumulation, one pass forward and backward) instead of the
  // seven elementwise passes below: the norms are a large share of a decoder's memory traffic.
  if (x.is_cuda()) return at::rms_norm(x, {x.size(-1)}, weight(m, w), (double)m.cfg.norm_eps);
#endif
  // HF computes the variance in float32 and casts back before the weight.
  auto xf = x.to(at::kFloat);
  auto y = xf * at::rsqrt(xf.pow(2).mean({-1}, true) + (double)m.cfg.norm_eps);
  return weight(m, w) * y.to(x.scalar_type());
}

at::Tensor layer_norm(const Model& m, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  // The CUDA kernel accumulates in float32 for bf16/f16 input, so it runs on the compute dtype
  // directly: no float32 copy of the activations in and out.
  if (x.is_cuda()) return at::layer_norm(x, {x.size(-1)}, weight(m, w), weight(m, b), (double)m.cfg.norm_eps);
  auto y = at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w, b, (double)m.cfg.norm_eps);
  return y.to(x.scalar_type());
}

// LayerNorm(residual + dropout(x)): the end of both halves of an encoder layer.
at::Tensor add_norm(Model& m, const at::Tensor& x, const at::Tensor& residual, const at::Tensor& w,
                    const at::Tensor& b, double p) {
  if (add_norm_fusable(m, x, residual, w, b)) return fused_add_norm(m, x, residual, w, b, p);
  return layer_norm(m, dropout(x, p, p > 0, &m.gen) + residual, w, b);
}

at::Tensor rotate_half(const at::Tensor& x) {
  auto h = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

}  // namespace

std::shared_mutex& cuda_rng_mutex() {
  static std::shared_mutex mu;  // process-wide, as the generators it guards
  return mu;
}

void Model::weights_changed() {
  graphs.reset();  // before the cast copies their captured kernels read
  fused_cache.clear();
  train_casts.clear();
  cast_cache.clear();
}

bool Model::uses_flash() const {
#if defined(ARMAP_CUDA) && TORCH_VERSION_MAJOR >= 2
  return device.is_cuda() && (compute == at::kBFloat16 || compute == at::kHalf) && head_dim <= 256 &&
         head_dim % 8 == 0;
#else
  return false;
#endif
}

Param& Model::param(const std::string& name) {
  auto it = index.find(name);
  if (it == index.end()) fail(ARMAP_ERR_NOT_FOUND, "no parameter named " + name);
  return params[it->second];
}

Model* create_model(const armap_model_config& cfg_in, const armap_model_options& opt) {
  armap_model_config cfg = cfg_in;
  auto need = [](bool ok, const std::string& what) {
    if (!ok) invalid("model config: " + what);
  };
  need(cfg.family == ARMAP_FAMILY_ENCODER || cfg.family == ARMAP_FAMILY_DECODER,
       "family must be 1 (encoder) or 2 (decoder), got " + std::to_string(cfg.family));
  need(cfg.vocab_size > 0, "vocab_size must be > 0, got " + std::to_string(cfg.vocab_size));
  need(cfg.hidden_size > 0, "hidden_size must be > 0, got " + std::to_string(cfg.hidden_size));
  need(cfg.num_layers > 0, "num_layers must be > 0, got " + std::to_string(cfg.num_layers));
  need(cfg.num_heads > 0, "num_heads must be > 0, got " + std::to_string(cfg.num_heads));
  need(cfg.intermediate_size > 0, "intermediate_size must be > 0, got " + std::to_string(cfg.intermediate_size));
  need(cfg.max_positions > 0, "max_positions must be > 0, got " + std::to_string(cfg.max_positions));
  if (cfg.num_kv_heads == 0) cfg.num_kv_heads = cfg.num_heads;
  need(cfg.num_kv_heads > 0 && cfg.num_heads % cfg.num_kv_heads == 0,
       "num_heads (" + std::to_string(cfg.num_heads) + ") must be a multiple of num_kv_heads (" +
           std::to_string(cfg.num_kv_heads) + ")");
  if (cfg.head_dim == 0) {
    need(cfg.hidden_size % cfg.num_heads == 0, "hidden_size (" + std::to_string(cfg.hidden_size) +
                                                   ") must be divisible by num_heads (" +
                                                   std::to_string(cfg.num_heads) + ")");
    cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  }
  need(cfg.head_dim > 0 && cfg.head_dim % 2 == 0, "head_dim must be a positive even number");
  if (cfg.family == ARMAP_FAMILY_ENCODER) {
    need(cfg.num_kv_heads == cfg.num_heads, "the encoder family has no grouped-query attention");
    need(cfg.head_dim * cfg.num_heads == cfg.hidden_size, "encoder head_dim * num_heads must equal hidden_size");
  }
  if (cfg.type_vocab_size == 0) cfg.type_vocab_size = 2;
  if (cfg.num_labels == 0) cfg.num_labels = 1;
  need(cfg.num_labels >= 1, "num_labels must be >= 1");
  if (cfg.norm_eps == 0) cfg.norm_eps = cfg.family == ARMAP_FAMILY_ENCODER ? 1e-12f : 1e-6f;
  if (cfg.rope_theta == 0) cfg.rope_theta = 10000.0f;
  if (cfg.init_std == 0) cfg.init_std = 0.02f;
  need(cfg.hidden_dropout >= 0 && cfg.hidden_dropout < 1, "hidden_dropout must be in [0, 1)");
  need(cfg.attention_dropout >= 0 && cfg.attention_dropout < 1, "attention_dropout must be in [0, 1)");
  need(opt.lora_rank >= 0, "lora_rank must be >= 0");

  auto m = std::make_unique<Model>();
  m->cfg = cfg;
  m->opt = opt;
  m->head_dim = cfg.head_dim;
  if (opt.device == ARMAP_DEVICE_CUDA) {
#ifdef ARMAP_CUDA
    m->device = at::Device(at::kCUDA, (c10::DeviceIndex)opt.device_index);
#else
    fail(ARMAP_ERR_UNSUPPORTED, "this backend was built for CPU only; load libarmap_cuda.so for --device cuda");
#endif
  } else if (opt.device != ARMAP_DEVICE_CPU) {
    invalid("unknown device " + std::to_string(opt.device));
  }
  switch (opt.compute_dtype) {
    case ARMAP_DTYPE_F32: m->compute = at::kFloat; break;
    case ARMAP_DTYPE_BF16: m->compute = at::kBFloat16; break;
    case ARMAP_DTYPE_F16: m->compute = at::kHalf; break;
    default: invalid("compute_dtype must be f32, f16 or bf16");
  }
#if TORCH_VERSION_MAJOR < 2
  // libtorch 1.x has no half-precision matrix products on CPU: refused here rather than as
  // "addmm_impl_cpu_ not implemented for 'Half'" at the first forward.
  if (m->compute == at::kHalf && m->device.is_cpu()) {
    fail(ARMAP_ERR_UNSUPPORTED, "dtype f16 needs CUDA with libtorch " TORCH_VERSION "; on CPU use bf16 or f32");
  }
#endif
  if (opt.lora_targets == 0) m->opt.lora_targets = ARMAP_LORA_Q | ARMAP_LORA_V;
  need(opt.fused_kernels >= -1 && opt.fused_kernels <= 2, "fused_kernels must be -1, 0, 1 or 2");
  // On by default: measured faster on CPU and, on an H100, for every bert-base workload (T1 63.7 ->
  // 59.9 ms, S1 59.5 -> 53.5 ms; bench/NOTES.md), with the GPU checks passing. 2 keeps the
  // LayerNorm kernels and leaves the linear layers to ATen: the way to tell the two apart in a
  // benchmark, or to step around one of them.
  m->fused_kernels = opt.fused_kernels >= 0;
  m->fused_linear = opt.fused_kernels == 0 || opt.fused_kernels == 1;
  need(opt.attention >= 0 && opt.attention <= 2, "attention must be 0, 1 or 2");
  // Asked for on CUDA, cuDNN's attention must be able to run (a benchmark row would otherwise time
  // flash under its name); on CPU the option has nothing to choose and is ignored.
  m->cudnn_attention = opt.attention == 2 && m->device.is_cuda();
  if (m->cudnn_attention && !cudnn_attention_built()) {
    fail(ARMAP_ERR_UNSUPPORTED, "attention: cudnn: this backend was built without it (PyTorch < 2.5, or "
                                "kernels/src/attention_cudnn.cpp did not compile: see build/cuda/attention_cudnn_cpp.log)");
  }
  if (m->cudnn_attention && (m->compute == at::kFloat || cfg.head_dim % 8 != 0 || cfg.head_dim > 128)) {
    fail(ARMAP_ERR_UNSUPPORTED, "attention: cudnn takes bf16/f16 with head_dim a multiple of 8 up to 128; this is " +
                                    std::string(c10::toString(m->compute)) + " with head_dim " + std::to_string(cfg.head_dim));
  }
#ifdef ARMAP_CUDA
  // Asked for explicitly, the fused path must be the one that runs: a shape the kernels do not take
  // is an error rather than a silent fallback (a benchmark row or check would measure the wrong path).
  if (opt.fused_kernels >= 1 && cfg.family == ARMAP_FAMILY_ENCODER && m->device.is_cuda() &&
      !cuda::add_norm_supported(opt.compute_dtype, cfg.hidden_size)) {
    fail(ARMAP_ERR_UNSUPPORTED, "fused_kernels: the CUDA kernels take hidden sizes that are multiples of 8 up to 1024 "
                                "in bf16/f16 and of 4 up to 512 in f32; hidden_size " +
                                    std::to_string(cfg.hidden_size) + " in this dtype is not one");
  }
#endif

  Builder b{*m, at::make_generator<at::CPUGeneratorImpl>(opt.seed),
            at::make_generator<at::CPUGeneratorImpl>(opt.seed ^ 0x5bd1e995u), (double)cfg.init_std};
  const int64_t H = cfg.hidden_size, F = cfg.intermediate_size, D = cfg.head_dim;
  const int64_t Hq = cfg.num_heads * D, Hkv = cfg.num_kv_heads * D;
  const bool lora = opt.lora_rank > 0;
  const bool base_trainable = !lora;
  auto tgt = [&](int bit) { return lora && (m->opt.lora_targets & bit) != 0; };

  if (cfg.family == ARMAP_FAMILY_ENCODER) {
    m->word = b.add("bert.embeddings.word_embeddings.weight", {cfg.vocab_size, H}, 'n', base_trainable);
    m->pos = b.add("bert.embeddings.position_embeddings.weight", {cfg.max_positions, H}, 'n', base_trainable);
    m->type = b.add("bert.embeddings.token_type_embeddings.weight", {cfg.type_vocab_size, H}, 'n', base_trainable);
    m->emb_ln_w = b.add("bert.embeddings.LayerNorm.weight", {H}, '1', base_trainable);
    m->emb_ln_b = b.add("bert.embeddings.LayerNorm.bias", {H}, '0', base_trainable);
    for (int i = 0; i < cfg.num_layers; i++) {
      std::string p = "bert.encoder.layer." + std::to_string(i) + ".";
      EncoderLayer L;
      L.q = b.linear(p + "attention.self.query", H, H, true, tgt(ARMAP_LORA_Q), base_trainable);
      L.k = b.linear(p + "attention.self.key", H, H, true, tgt(ARMAP_LORA_K), base_trainable);
      L.v = b.linear(p + "attention.self.value", H, H, true, tgt(ARMAP_LORA_V), base_trainable);
      L.o = b.linear(p + "attention.output.dense", H, H, true, tgt(ARMAP_LORA_O), base_trainable);
      L.ln1_w = b.add(p + "attention.output.LayerNorm.weight", {H}, '1', base_trainable);
      L.ln1_b = b.add(p + "attention.output.LayerNorm.bias", {H}, '0', base_trainable);
      L.fi = b.linear(p + "intermediate.dense", F, H, true, tgt(ARMAP_LORA_UP), base_trainable);
      L.fo = b.linear(p + "output.dense", H, F, true, tgt(ARMAP_LORA_DOWN), base_trainable);
      L.ln2_w = b.add(p + "output.LayerNorm.weight", {H}, '1', base_trainable);
      L.ln2_b = b.add(p + "output.LayerNorm.bias", {H}, '0', base_trainable);
      m->enc.push_back(L);
    }
    m->pooler = b.linear("bert.pooler.dense", H, H, true, false, base_trainable);
    // The head is always trained, LoRA or not (PEFT's modules_to_save for classification).
    m->classifier = b.linear("classifier", cfg.num_labels, H, true, false, true);
  } else {
    m->embed = b.add("model.embed_tokens.weight", {cfg.vocab_size, H}, 'n', base_trainable);
    for (int i = 0; i < cfg.num_layers; i++) {
      std::string p = "model.layers." + std::to_string(i) + ".";
      DecoderLayer L;
      L.q = b.linear(p + "self_attn.q_proj", Hq, H, cfg.qkv_bias, tgt(ARMAP_LORA_Q), base_trainable);
      L.k = b.linear(p + "self_attn.k_proj", Hkv, H, cfg.qkv_bias, tgt(ARMAP_LORA_K), base_trainable);
      L.v = b.linear(p + "self_attn.v_proj", Hkv, H, cfg.qkv_bias, tgt(ARMAP_LORA_V), base_trainable);
      L.o = b.linear(p + "self_attn.o_proj", H, Hq, cfg.o_bias, tgt(ARMAP_LORA_O), base_trainable);
      L.gate = b.linear(p + "mlp.gate_proj", F, H, cfg.mlp_bias, tgt(ARMAP_LORA_GATE), base_trainable);
      L.up = b.linear(p + "mlp.up_proj", F, H, cfg.mlp_bias, tgt(ARMAP_LORA_UP), base_trainable);
      L.down = b.linear(p + "mlp.down_proj", H, F, cfg.mlp_bias, tgt(ARMAP_LORA_DOWN), base_trainable);
      L.in_norm = b.add(p + "input_layernorm.weight", {H}, '1', base_trainable);
      L.post_norm = b.add(p + "post_attention_layernorm.weight", {H}, '1', base_trainable);
      m->dec.push_back(L);
    }
    m->final_norm = b.add("model.norm.weight", {H}, '1', base_trainable);
    m->score = b.linear("score", cfg.num_labels, H, false, false, true);
    // RoPE tables as HF builds them: inv_freq = theta^(-2i/D), emb = cat(freqs, freqs), in float32.
    auto inv = at::pow((double)cfg.rope_theta, at::arange(0, D, 2, at::kLong).to(at::kFloat) / (double)D).reciprocal();
    auto t = at::arange(cfg.max_positions, at::kLong).to(at::kFloat);
    auto freqs = at::outer(t, inv);
    auto emb = at::cat({freqs, freqs}, -1);
    m->rope_cos = emb.cos().to(m->device);
    m->rope_sin = emb.sin().to(m->device);
  }

  if (m->device.is_cpu()) {
    m->gen = at::make_generator<at::CPUGeneratorImpl>(opt.seed + 1);
  } else {
#ifdef ARMAP_CUDA
    // The device's default generator, not a private one: flash attention draws its dropout
    // from it, so seeding, saving and rewinding it (checkpointed recompute) covers every random
    // draw of the model. Models training in one process on one device share it.
    m->gen = at::cuda::detail::getDefaultCUDAGenerator(m->device.index());
    m->gen.set_current_seed(opt.seed + 1);
#endif
  }
  return m.release();
}

void merge_lora(Model& m) {
  m.weights_changed();
  c10::NoGradGuard ng;
  auto fold = [](Linear& l) {
    if (!l.lora_a.defined()) return;
    l.w.add_(at::matmul(l.lora_b, l.lora_a) * l.lora_scale);
    l.lora_b.zero_();
  };
  for (auto& L : m.enc) {
    for (Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.fi, &L.fo}) fold(*l);
  }
  for (auto& L : m.dec) {
    for (Linear* l : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) fold(*l);
  }
}

at::Tensor Model::forward(const Packed& p, bool train) {
  const int64_t T = p.tokens.size(0);
  const int64_t nh = cfg.num_heads, nkv = cfg.num_kv_heads, D = head_dim;
  const bool ckpt = train && opt.grad_checkpointing;
  // A checkpointed layer backpropagates only when its input needs a gradient; with frozen
  // embeddings (LoRA) it would not, and the adapters inside the layers would never train.
  auto ckpt_input = [&](at::Tensor t) { return ckpt && !t.requires_grad() ? t.detach().requires_grad_(true) : t; };
  auto run_layer = [&](const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& x) {
    return ckpt ? checkpointed(f, x, &gen) : f(x);
  };
  at::Tensor x;
  if (cfg.family == ARMAP_FAMILY_ENCODER) {
    if (use_cast_cache && device.is_cuda()) {
      // Scoring: gather from the cached compute-dtype tables, as a model held in bf16 does,
      // instead of building the embeddings in float32 and casting them.
      x = weight(*this, word).index_select(0, p.tokens) + weight(*this, pos).index_select(0, p.positions) +
          weight(*this, type).select(0, 0);
      x = layer_norm(*this, x, emb_ln_w, emb_ln_b);
    } else {
      x = word.index_select(0, p.tokens) + pos.index_select(0, p.positions) + type.select(0, 0);
      x = at::layer_norm(x, {x.size(-1)}, emb_ln_w, emb_ln_b, (double)cfg.norm_eps);
      x = ckpt_input(dropout(cast(*this, x), cfg.hidden_dropout, train, &gen));
    }
    if (train && compute != at::kFloat && use_bias_linear(*this)) cast_for_training(*this);
    const bool cudnn = cudnn_attention_now(*this, p);
    for (auto& L : enc) {
      // Captures by value (and p, L by reference: they outlive backward) because a checkpointed
      // layer runs again during backward, after this frame is gone.
      x = run_layer(
          [this, &L, &p, T, nh, D, train, cudnn](const at::Tensor& h) {
            // A residual that goes into the fused add_norm passes through the linear function of
            // the same input, which then adds the two gradients inside its product (linear.cpp).
            auto pass = [this](const at::Tensor& t, const at::Tensor& w, const at::Tensor& b) {
              return use_bias_linear(*this) && t.requires_grad() && add_norm_fusable(*this, t, t, w, b);
            };
            // Training with cuDNN's attention, q/k/v are dense tensors of their own, so that their
            // gradients come back in the layout the projection's backward reads.
            auto qkv = apply_fused(*this, {&L.q, &L.k, &L.v}, h, pass(h, L.ln1_w, L.ln1_b), cudnn && train);
            auto q = qkv[0].view({T, nh, D});
            auto k = qkv[1].view({T, nh, D});
            auto v = qkv[2].view({T, nh, D});
            auto a = varlen_attention(q, k, v, p, false, train ? cfg.attention_dropout : 0.0, &gen, cudnn);
            const double p_hidden = train ? cfg.hidden_dropout : 0.0;
            auto y = add_norm(*this, apply(*this, L.o, a), qkv.size() > 3 ? qkv[3] : h, L.ln1_w, L.ln1_b, p_hidden);
            auto g = linear_gelu(*this, L.fi, y, train, pass(y, L.ln2_w, L.ln2_b));
            auto f = apply(*this, L.fo, g[0]);
            return add_norm(*this, f, g.size() > 1 ? g[1] : y, L.ln2_w, L.ln2_b, p_hidden);
          },
          x);
    }
    auto first = x.index_select(0, p.first);
    auto pooled = at::tanh(apply(*this, pooler, first));
    pooled = dropout(pooled, cfg.hidden_dropout, train, &gen);
    return apply(*this, classifier, pooled).to(at::kFloat);
  }
  x = use_cast_cache ? weight(*this, embed).index_select(0, p.tokens)
                     : ckpt_input(cast(*this, embed.index_select(0, p.tokens)));
  auto cos = rope_cos.index_select(0, p.positions).unsqueeze(1).to(compute);
  auto sin = rope_sin.index_select(0, p.positions).unsqueeze(1).to(compute);
  const bool cudnn = cudnn_attention_now(*this, p);
  for (auto& L : dec) {
    x = run_layer(
        [this, &L, &p, T, nh, nkv, D, train, cos, sin, cudnn](const at::Tensor& h0) {
          auto h = rms_norm(*this, h0, L.in_norm);
          // Separate products here: fusing q/k/v and gate/up measured 5% slower for llama-1b on an
          // H100 (T2 and S4; not profiled further), unlike the encoder's q/k/v.
          auto q = rope(apply(*this, L.q, h).view({T, nh, D}), cos, sin);
          auto k = rope(apply(*this, L.k, h).view({T, nkv, D}), cos, sin);
          auto v = apply(*this, L.v, h).view({T, nkv, D});
          auto a = varlen_attention(q, k, v, p, true, train ? cfg.attention_dropout : 0.0, &gen, cudnn);
          auto x1 = h0 + apply(*this, L.o, a);
          auto h2 = rms_norm(*this, x1, L.post_norm);
          auto f = apply(*this, L.down, at::silu(apply(*this, L.gate, h2)) * apply(*this, L.up, h2));
          return x1 + f;
        },
        x);
  }
  auto last = rms_norm(*this, x.index_select(0, p.last), final_norm);
  return apply(*this, score, last).to(at::kFloat);
}

}  // namespace armap
