// CUDA graphs for scoring. A small scoring batch costs more in kernel launches than in GPU work
// (a BERT-base forward is ~200 launches), so the forward is captured once per token budget and
// replayed: one launch per call.
//
// A batch of T tokens in n sequences is padded to a budget (Tb tokens, nb sequences) with filler
// sequences; the captured flash attention reads the sequence boundaries from device memory and
// was captured with the largest sequence length the model accepts, so one graph serves every
// batch of that budget whatever its lengths. Filler outputs are dropped. Only the flash path
// qualifies: the other attention paths plan their work from the host-side lengths.
#ifdef ARMAP_CUDA

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "internal.h"

namespace armap {

namespace {

// Larger batches keep the GPU busy on their own.
constexpr int64_t kMaxGraphTokens = 8192;
// Serving traffic spreads over many (tokens, sequences) budgets, and a capture costs about three
// forwards, so the cache is large enough not to churn: the graphs share one memory pool, so
// their activations take the space of one forward, and each keeps only its staging buffers and
// output.
constexpr size_t kMaxGraphs = 64;
// A budget is captured the second time it is seen (again after an eviction), so a one-off shape
// never pays for a capture.
constexpr int kCaptureAt = 2;
// A capture that runs out of memory may only have met a passing peak (a training step, another
// model): the budget is tried again after this many more sightings, and graphs are turned off
// for the model only after kMaxCaptureOOMs such failures in a row.
constexpr int kRetryAfterOOM = 64;
constexpr int kMaxCaptureOOMs = 3;

int64_t next_pow2(int64_t x) {
  int64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

struct Budget {
  int64_t tokens, seqs, max_len;
};

// Token budgets step by 64 up to 512, then by an eighth of the next power of two (at most 12.5%
// padding); sequence budgets are powers of two. Every filler sequence gets at least one token and
// at most max_len of them.
Budget budget_for(int64_t T, int64_t n, int64_t max_positions) {
  const int64_t step = std::max<int64_t>(64, next_pow2(T) / 8);
  int64_t Tb = (T + step - 1) / step * step;
  for (;;) {
    const int64_t pad = Tb - T, L = std::min(Tb, max_positions);
    int64_t nb = next_pow2(n + (pad > 0 ? 1 : 0));
    while (pad > 0 && (pad + (nb - n) - 1) / (nb - n) > L) nb *= 2;
    if (pad >= nb - n) return {Tb, nb, L};
    Tb += step;
  }
}

}  // namespace

struct GraphEntry {
  Budget budget{};
  at::Tensor host, host_cu;  // pinned staging: [tokens | positions | first | last] and cu_seqlens
  at::Tensor idx, cu;        // their static device copies, read by the graph
  Packed packed;             // views of idx / cu
  at::Tensor out;            // [seqs, num_labels] float32, written by every replay
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  uint64_t used = 0;
};

struct ScoreGraphs {
  decltype(at::cuda::graph_pool_handle()) pool;  // shared: calls on a model are serialized, so replays never overlap
  std::map<std::pair<int64_t, int64_t>, std::unique_ptr<GraphEntry>> entries;
  std::map<std::pair<int64_t, int64_t>, int> seen;
  uint64_t clock = 0;
  int ooms = 0;  // captures in a row that ran out of memory
  ScoreGraphs() : pool(at::cuda::graph_pool_handle()) {}
  ~ScoreGraphs() {
    // Graphs first (they release the shared pool), then their static buffers.
    for (auto& [k, e] : entries) e->graph.reset();
  }
};

namespace {

// Writes the batch and its filler sequences into the entry's pinned staging buffers.
void stage(GraphEntry& e, const HostBatch& hb) {
  const int64_t T = (int64_t)hb.tokens.size(), n = (int64_t)hb.first.size();
  const int64_t Tb = e.budget.tokens, nb = e.budget.seqs;
  int64_t* d = e.host.data_ptr<int64_t>();
  int32_t* c = e.host_cu.data_ptr<int32_t>();
  std::copy(hb.tokens.begin(), hb.tokens.end(), d);
  std::fill(d + T, d + Tb, 0);
  std::copy(hb.positions.begin(), hb.positions.end(), d + Tb);
  std::fill(d + Tb + T, d + 2 * Tb, 0);  // filler positions: any valid index, outputs are dropped
  std::copy(hb.first.begin(), hb.first.end(), d + 2 * Tb);
  std::copy(hb.last.begin(), hb.last.end(), d + 2 * Tb + nb);
  for (int64_t i = 0; i <= n; i++) c[i] = (int32_t)hb.cu[i];
  const int64_t k = nb - n, pad = Tb - T;
  int64_t start = T;
  for (int64_t j = 0; j < k; j++) {
    const int64_t len = pad / k + (j < pad % k ? 1 : 0);
    d[2 * Tb + n + j] = start;
    d[2 * Tb + nb + n + j] = start + len - 1;
    start += len;
    c[n + j + 1] = (int32_t)start;
  }
}

void end_dangling_capture(cudaStream_t s) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(s, &st) == cudaSuccess && st != cudaStreamCaptureStatusNone) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(s, &g);
    if (g) cudaGraphDestroy(g);
  }
  (void)cudaGetLastError();
}

std::unique_ptr<GraphEntry> capture(Model& m, ScoreGraphs& gs, const HostBatch& hb, Budget b) {
  auto e = std::make_unique<GraphEntry>();
  e->budget = b;
  const int64_t Tb = b.tokens, nb = b.seqs;
  e->host = at::empty({2 * Tb + 2 * nb}, at::TensorOptions().dtype(at::kLong)).pin_memory();
  e->host_cu = at::empty({nb + 1}, at::TensorOptions().dtype(at::kInt)).pin_memory();
  stage(*e, hb);
  e->idx = e->host.to(m.device);
  e->cu = e->host_cu.to(m.device);
  Packed& p = e->packed;
  p.tokens = e->idx.narrow(0, 0, Tb);
  p.positions = e->idx.narrow(0, Tb, Tb);
  p.first = e->idx.narrow(0, 2 * Tb, nb);
  p.last = e->idx.narrow(0, 2 * Tb + nb, nb);
  p.cu = e->cu;
  p.cu_host.assign(e->host_cu.data_ptr<int32_t>(), e->host_cu.data_ptr<int32_t>() + nb + 1);
  p.max_len = b.max_len;

  Model::ScoringScope scoring(m);
  Model::CaptureScope capturing(m);
  m.forward(p, false);  // on the current stream: fills the cast cache outside the graph's pool
  auto side = c10::cuda::getStreamFromPool(false, m.device.index());
  C10_CUDA_CHECK(cudaDeviceSynchronize());
  // While a capture is open, PyTorch marks the device's default generator as capturing, and any
  // other thread drawing from it (dropout in training) fails: training on CUDA holds this lock
  // shared, a capture holds it alone.
  std::unique_lock<std::shared_mutex> rng_lock(cuda_rng_mutex());
  c10::cuda::CUDAStreamGuard sg(side);
  m.forward(p, false);  // warm-up on the capture stream (cuBLAS sets up its workspace)
  side.synchronize();
  e->graph = std::make_unique<at::cuda::CUDAGraph>();
  // Thread-local: other models may be scoring on other threads meanwhile.
  e->graph->capture_begin(gs.pool, cudaStreamCaptureModeThreadLocal);
  try {
    e->out = m.forward(p, false);
  } catch (...) {
    // Close the capture through CUDAGraph when it is still valid (an allocator OOM leaves it
    // so): that also clears the generator's capturing mark, which would otherwise break every
    // later dropout on this device. An invalidated capture is ended on the stream directly.
    try {
      e->graph->capture_end();
    } catch (...) {
      end_dangling_capture(side.stream());
    }
    e->graph.reset();
    throw;
  }
  e->graph->capture_end();
  C10_CUDA_CHECK(cudaDeviceSynchronize());
  return e;
}

}  // namespace

bool score_with_graph(Model& m, const HostBatch& hb, float* scores) {
  if (!m.uses_flash() || m.opt.cuda_graphs < 0 || m.graphs_failed) return false;
  const int64_t T = (int64_t)hb.tokens.size(), n = (int64_t)hb.first.size();
  if (T > kMaxGraphTokens) return false;
  const Budget b = budget_for(T, n, m.cfg.max_positions);
  if (b.tokens > kMaxGraphTokens) return false;
  if (!m.graphs) m.graphs = std::make_shared<ScoreGraphs>();
  ScoreGraphs& gs = *m.graphs;
  const auto key = std::make_pair(b.tokens, b.seqs);
  auto it = gs.entries.find(key);
  GraphEntry* e = nullptr;
  if (it != gs.entries.end()) {
    e = it->second.get();
    stage(*e, hb);
    e->idx.copy_(e->host, /*non_blocking=*/true);
    e->cu.copy_(e->host_cu, /*non_blocking=*/true);
  } else {
    if (++gs.seen[key] < kCaptureAt) return false;
    if (gs.entries.size() >= kMaxGraphs) {
      auto lru = gs.entries.begin();
      for (auto j = gs.entries.begin(); j != gs.entries.end(); ++j)
        if (j->second->used < lru->second->used) lru = j;
      gs.seen.erase(lru->first);
      gs.entries.erase(lru);
    }
    std::unique_ptr<GraphEntry> fresh;
    try {
      fresh = capture(m, gs, hb, b);
    } catch (const c10::OutOfMemoryError& ex) {
      gs.seen[key] = kCaptureAt - 1 - kRetryAfterOOM;
      if (++gs.ooms >= kMaxCaptureOOMs) m.graphs_failed = true;
      std::string msg = ex.what();
      std::fprintf(stderr, "armap: CUDA graph capture at %lld tokens ran out of memory (%s): %s\n", (long long)b.tokens,
                   m.graphs_failed ? "graphs off for this model" : "eager for now, retried later",
                   msg.substr(0, msg.find('\n')).c_str());
      return false;
    } catch (const std::exception& ex) {
      // Eager from now on for this model; the call itself is answered eagerly by the caller.
      m.graphs_failed = true;
      std::string msg = ex.what();
      std::fprintf(stderr, "armap: CUDA graphs off for this model, capture failed: %s\n",
                   msg.substr(0, msg.find('\n')).c_str());
      return false;
    }
    gs.ooms = 0;
    e = fresh.get();
    gs.entries[key] = std::move(fresh);
  }
  e->used = ++gs.clock;
  e->graph->replay();
  auto r = e->out.narrow(0, 0, n).select(1, 0).to(at::kCPU).contiguous();
  std::memcpy(scores, r.data_ptr<float>(), sizeof(float) * n);
  return true;
}

}  // namespace armap

#endif  // ARMAP_CUDA
