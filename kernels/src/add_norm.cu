// CUDA kernels of y = LayerNorm(residual + dropout(x)) and its backward (see add_norm.h). One warp
// per row: the row's values stay in registers between the sum, the variance and the output, so
// forward reads x and residual once and writes y (and h for backward) once, where ATen's dropout,
// add and LayerNorm make three passes with a mask and two intermediates in between. Backward
// recomputes the mask from the key and reads dy and h once.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <type_traits>

#include "add_norm.h"
#include "armap.h"
#include "cuda_vec.cuh"

namespace armap {
namespace cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 8;
constexpr int kMaxVecsPerLane = 4;

__device__ __forceinline__ void load_f32(const float* p, float* out, int n) {
  // gamma and beta are float32 master weights: n (4 or 8) floats from a 16-byte aligned offset.
  for (int k = 0; k < n; k += 4) {
    float4 f = *reinterpret_cast<const float4*>(p + k);
    out[k] = f.x;
    out[k + 1] = f.y;
    out[k + 2] = f.z;
    out[k + 3] = f.w;
  }
}

// Multiplies the N elements from offset off (even: N is even and so is every vector's offset) by
// their dropout multiplier, one hash per pair.
template <int N>
__device__ __forceinline__ void apply_mask(uint64_t key, int64_t off, uint32_t threshold, float scale, float* a) {
#pragma unroll
  for (int k = 0; k < N; k += 2) {
    const uint64_t bits = dropout_bits(key, (uint64_t)(off + k) >> 1);
    a[k] = dropout_kept(bits, false, threshold) ? a[k] * scale : 0.f;
    a[k + 1] = dropout_kept(bits, true, threshold) ? a[k + 1] * scale : 0.f;
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T, int VPL>
__global__ void __launch_bounds__(kWarp* kWarpsPerBlock)
    add_norm_fwd(const T* __restrict__ x, const T* __restrict__ res, const float* __restrict__ gamma,
                 const float* __restrict__ beta, int64_t rows, int hidden, uint32_t threshold, float scale,
                 const uint64_t* __restrict__ key_ptr, float eps, T* __restrict__ h_out, T* __restrict__ y,
                 float* __restrict__ mean_out, float* __restrict__ rstd_out) {
  constexpr int N = Vec<T>::n;
  const int lane = threadIdx.x % kWarp;
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / kWarp;
  const int64_t warps = (int64_t)gridDim.x * blockDim.x / kWarp;
  const int nvec = hidden / N;
  const uint64_t key = threshold ? *key_ptr : 0;
  for (int64_t r = warp; r < rows; r += warps) {
    float v[VPL][N];
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < VPL; j++) {
      const int c = lane + j * kWarp;
      if (c < nvec) {
        const int64_t off = r * hidden + (int64_t)c * N;
        float a[N], b[N];
        load_floats(x + off, a);
        load_floats(res + off, b);
        if (threshold) apply_mask<N>(key, off, threshold, scale, a);
#pragma unroll
        for (int k = 0; k < N; k++) {
          // Normalize the sum as stored in T, as an unfused add would hand it to LayerNorm, so
          // that backward (which reads the stored h) sees the same values.
          v[j][k] = Conv<T>::load(Conv<T>::store(b[k] + a[k]));
          sum += v[j][k];
        }
        if (h_out) store_floats(h_out + off, v[j]);
      } else {
#pragma unroll
        for (int k = 0; k < N; k++) v[j][k] = 0.f;
      }
    }
    const float mean = warp_sum(sum) / hidden;
    // Two passes over the registers: the variance about the mean, not E[x^2] - mean^2, which loses
    // precision when the mean is large against the spread.
    float sq = 0.f;
#pragma unroll
    for (int j = 0; j < VPL; j++) {
      if (lane + j * kWarp < nvec) {
#pragma unroll
        for (int k = 0; k < N; k++) {
          const float d = v[j][k] - mean;
          sq += d * d;
        }
      }
    }
    const float rstd = rsqrtf(warp_sum(sq) / hidden + eps);
#pragma unroll
    for (int j = 0; j < VPL; j++) {
      const int c = lane + j * kWarp;
      if (c < nvec) {
        float g[N], bt[N], o[N];
        load_f32(gamma + c * N, g, N);
        load_f32(beta + c * N, bt, N);
#pragma unroll
        for (int k = 0; k < N; k++) o[k] = (v[j][k] - mean) * rstd * g[k] + bt[k];
        store_floats(y + r * hidden + (int64_t)c * N, o);
      }
    }
    if (lane == 0 && mean_out) {
      mean_out[r] = mean;
      rstd_out[r] = rstd;
    }
  }
}

// dh = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma and xhat = (h - mean) * rstd;
// dgamma = sum over rows of dy * xhat and dbeta = sum of dy, reduced per block and written as one
// row per block. dy and h stay in registers as loaded (packed T) between the two passes over a
// row; xhat and g are recomputed in the second pass instead of held as floats, which keeps
// bert-base's shape (bf16, 3 vectors per lane) at two blocks per multiprocessor.
template <typename T, int VPL>
__global__ void __launch_bounds__(kWarp* kWarpsPerBlock, VPL <= 3 ? 2 : 1)
    add_norm_bwd(const T* __restrict__ dy, const T* __restrict__ h, const float* __restrict__ gamma,
                 const float* __restrict__ mean_in, const float* __restrict__ rstd_in, int64_t rows, int hidden,
                 uint32_t threshold, float scale, const uint64_t* __restrict__ key_ptr, T* __restrict__ dres,
                 T* __restrict__ dx, float* __restrict__ dgamma_parts, float* __restrict__ dbeta_parts) {
  constexpr int N = Vec<T>::n;
  extern __shared__ float smem[];  // [2 * hidden]: dgamma, then dbeta
  for (int i = threadIdx.x; i < 2 * hidden; i += blockDim.x) smem[i] = 0.f;
  __syncthreads();
  const int lane = threadIdx.x % kWarp;
  const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / kWarp;
  const int64_t warps = (int64_t)gridDim.x * blockDim.x / kWarp;
  const int nvec = hidden / N;
  const uint64_t key = threshold ? *key_ptr : 0;
  float pg[VPL][N], pb[VPL][N];
#pragma unroll
  for (int j = 0; j < VPL; j++) {
#pragma unroll
    for (int k = 0; k < N; k++) pg[j][k] = pb[j][k] = 0.f;
  }
  for (int64_t r = warp; r < rows; r += warps) {
    const float mu = mean_in[r], rs = rstd_in[r];
    Vec<T> dv[VPL], hv[VPL];
    float s1 = 0.f, s2 = 0.f;
#pragma unroll
    for (int j = 0; j < VPL; j++) {
      const int c = lane + j * kWarp;
      if (c < nvec) {
        const int64_t off = r * hidden + (int64_t)c * N;
        dv[j] = *reinterpret_cast<const Vec<T>*>(dy + off);
        hv[j] = *reinterpret_cast<const Vec<T>*>(h + off);
        float gm[N];
        load_f32(gamma + c * N, gm, N);
#pragma unroll
        for (int k = 0; k < N; k++) {
          const float d = Conv<T>::load(dv[j].v[k]);
          const float xh = (Conv<T>::load(hv[j].v[k]) - mu) * rs;
          s1 += d * gm[k];
          s2 += d * gm[k] * xh;
        }
      }
    }
    const float m1 = warp_sum(s1) / hidden, m2 = warp_sum(s2) / hidden;
#pragma unroll
    for (int j = 0; j < VPL; j++) {
      const int c = lane + j * kWarp;
      if (c < nvec) {
        const int64_t off = r * hidden + (int64_t)c * N;
        float gm[N], o[N];
        load_f32(gamma + c * N, gm, N);
#pragma unroll
        for (int k = 0; k < N; k++) {
          const float d = Conv<T>::load(dv[j].v[k]);
          const float xh = (Conv<T>::load(hv[j].v[k]) - mu) * rs;
          pg[j][k] += d * xh;
          pb[j][k] += d;
          o[k] = rs * (d * gm[k] - m1 - xh * m2);
        }
        store_floats(dres + off, o);
        if (dx) {
          apply_mask<N>(key, off, threshold, scale, o);
          store_floats(dx + off, o);
        }
      }
    }
  }
  if (!dgamma_parts) return;  // frozen norm weights: no parameter gradients (uniform per launch)
  // The block's warps add their partial sums in turn, in a fixed order: dgamma and dbeta come out
  // the same on every run, as the CPU path's and ATen's do.
  const int wib = threadIdx.x / kWarp;
  for (int w = 0; w < kWarpsPerBlock; w++) {
    if (wib == w) {
#pragma unroll
      for (int j = 0; j < VPL; j++) {
        const int c = lane + j * kWarp;
        if (c < nvec) {
#pragma unroll
          for (int k = 0; k < N; k++) {
            smem[c * N + k] += pg[j][k];
            smem[hidden + c * N + k] += pb[j][k];
          }
        }
      }
    }
    __syncthreads();
  }
  for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
    dgamma_parts[(int64_t)blockIdx.x * hidden + i] = smem[i];
    dbeta_parts[(int64_t)blockIdx.x * hidden + i] = smem[hidden + i];
  }
}

int elem_size(int32_t dtype) { return dtype == ARMAP_DTYPE_F32 ? 4 : 2; }

// Vectors of 16 bytes per lane that a row needs, or 0 when the kernels do not take the shape.
int vecs_per_lane(int32_t dtype, int64_t hidden) {
  if (dtype != ARMAP_DTYPE_F32 && dtype != ARMAP_DTYPE_BF16 && dtype != ARMAP_DTYPE_F16) return 0;
  const int n = 16 / elem_size(dtype);
  if (hidden <= 0 || hidden % n != 0) return 0;
  const int64_t vpl = (hidden / n + kWarp - 1) / kWarp;
  return vpl <= kMaxVecsPerLane ? (int)vpl : 0;
}

int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Calls f with the element type and vectors-per-lane as template arguments.
template <typename F>
int dispatch(int32_t dtype, int vpl, F&& f) {
  auto by_vpl = [&](auto tag) -> int {
    using T = decltype(tag);
    switch (vpl) {
      case 1: return f(T{}, std::integral_constant<int, 1>{});
      case 2: return f(T{}, std::integral_constant<int, 2>{});
      case 3: return f(T{}, std::integral_constant<int, 3>{});
      case 4: return f(T{}, std::integral_constant<int, 4>{});
    }
    return (int)cudaErrorInvalidValue;
  };
  switch (dtype) {
    case ARMAP_DTYPE_F32: return by_vpl(float{});
    case ARMAP_DTYPE_BF16: return by_vpl(__nv_bfloat16{});
    case ARMAP_DTYPE_F16: return by_vpl(__half{});
  }
  return (int)cudaErrorInvalidValue;
}

}  // namespace

bool add_norm_supported(int32_t dtype, int64_t hidden) { return vecs_per_lane(dtype, hidden) > 0; }

int add_norm_forward(int32_t dtype, const void* x, const void* residual, const float* gamma, const float* beta,
                     int64_t rows, int64_t hidden, uint32_t threshold, float scale, const uint64_t* key, float eps,
                     void* h_out, void* y, float* mean, float* rstd, void* stream) {
  const int vpl = vecs_per_lane(dtype, hidden);
  if (vpl == 0 || rows <= 0) return rows == 0 ? 0 : (int)cudaErrorInvalidValue;
  const int64_t blocks = div_up(rows, kWarpsPerBlock);
  const unsigned grid = (unsigned)(blocks < (1ll << 30) ? blocks : (1ll << 30));
  return dispatch(dtype, vpl, [&](auto tag, auto v) -> int {
    using T = decltype(tag);
    add_norm_fwd<T, decltype(v)::value><<<grid, kWarp * kWarpsPerBlock, 0, (cudaStream_t)stream>>>(
        (const T*)x, (const T*)residual, gamma, beta, rows, (int)hidden, threshold, scale, key, eps, (T*)h_out,
        (T*)y, mean, rstd);
    return (int)cudaGetLastError();
  });
}

int add_norm_backward_blocks(int32_t dtype, int64_t hidden, int64_t rows, int device) {
  const int vpl = vecs_per_lane(dtype, hidden);
  if (vpl == 0 || rows <= 0 || device < 0) return 0;
  // Resident blocks per device for one wave, asked of the driver once per (device, dtype, width):
  // backward runs 24 times a step for bert-base. Racing first calls compute the same value.
  constexpr int kDevices = 64;
  static std::atomic<int> cached[kDevices][3][kMaxVecsPerLane + 1];
  const int di = dtype == ARMAP_DTYPE_F32 ? 0 : dtype == ARMAP_DTYPE_BF16 ? 1 : 2;
  int wave = device < kDevices ? cached[device][di][vpl].load(std::memory_order_relaxed) : 0;
  if (wave <= 0) {
    int sms = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0) return 0;
    // The shared memory is sized for the widest row this vector count covers.
    const size_t shared = 2 * (size_t)(vpl * kWarp * (16 / elem_size(dtype))) * sizeof(float);
    int per_sm = 0;
    dispatch(dtype, vpl, [&](auto tag, auto v) -> int {
      using T = decltype(tag);
      return (int)cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, add_norm_bwd<T, decltype(v)::value>,
                                                                 kWarp * kWarpsPerBlock, shared);
    });
    wave = sms * (per_sm > 0 ? per_sm : 1);
    if (device < kDevices) cached[device][di][vpl].store(wave, std::memory_order_relaxed);
  }
  // One wave of resident blocks, each walking many rows: few enough partial rows that summing them
  // costs little next to the activations.
  const int64_t want = div_up(rows, kWarpsPerBlock);
  return (int)(want < wave ? want : wave);
}

int add_norm_backward(int32_t dtype, const void* dy, const void* h, const float* gamma, const float* mean,
                      const float* rstd, int64_t rows, int64_t hidden, uint32_t threshold, float scale,
                      const uint64_t* key, void* d_residual, void* dx, float* dgamma_parts, float* dbeta_parts,
                      int blocks, void* stream) {
  const int vpl = vecs_per_lane(dtype, hidden);
  if (vpl == 0 || blocks <= 0) return (int)cudaErrorInvalidValue;
  const size_t shared = 2 * (size_t)hidden * sizeof(float);
  return dispatch(dtype, vpl, [&](auto tag, auto v) -> int {
    using T = decltype(tag);
    add_norm_bwd<T, decltype(v)::value><<<(unsigned)blocks, kWarp * kWarpsPerBlock, shared, (cudaStream_t)stream>>>(
        (const T*)dy, (const T*)h, gamma, mean, rstd, rows, (int)hidden, threshold, scale, key, (T*)d_residual,
        (T*)dx, dgamma_parts, dbeta_parts);
    return (int)cudaGetLastError();
  });
}

}  // namespace cuda
}  // namespace armap
