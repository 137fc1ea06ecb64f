// Column sums for bias gradients (colsum.h). ATen's sum over dim 0 of a [tokens, features] bf16
// gradient ran at about 1.7 TB/s on an H100 (bench/NOTES.md: 3.2 ms of a bert-base step); this
// kernel reads each row once with 16-byte accesses, a warp covering 32 consecutive vectors of a
// row, and keeps the running sums in registers. The same walk computes GELU's backward on the way
// (the intermediate layer's gradient and its bias gradient in one pass) and sums the partial rows.
#include <cuda_runtime.h>

#include "armap.h"
#include "colsum.h"
#include "cuda_vec.cuh"

namespace armap {
namespace cuda {
namespace {

constexpr int kLanes = 32;  // threadIdx.x: vectors of one row
constexpr int kRowsPerBlock = 8;  // threadIdx.y: rows walked side by side

int elem_size(int32_t dtype) { return dtype == ARMAP_DTYPE_F32 ? 4 : 2; }

// What a column sum reads per 16-byte vector of a row: the matrix itself.
template <typename T>
struct ReadRow {
  const T* __restrict__ x;
  __device__ __forceinline__ void operator()(int64_t i, float* v) const { load_floats(x + i, v); }
};

// GELU's backward (the exact, erf form) fused with the column sums of its result: dx = dy * gelu'(h)
// is written and summed as rounded to T, so the sums are those of the stored gradient, as if
// summed by a separate pass. The formula and its float32 arithmetic are ATen's.
template <typename T>
struct GeluBackward {
  const T* __restrict__ dy;
  const T* __restrict__ h;
  T* __restrict__ dx;
  __device__ __forceinline__ void operator()(int64_t i, float* v) const {
    constexpr int V = Vec<T>::n;
    constexpr float kAlpha = 0.70710678118654752440f;  // 1 / sqrt(2)
    constexpr float kBeta = 0.39894228040143267794f;   // 1 / sqrt(2 pi)
    float g[V], x[V];
    load_floats(dy + i, g);
    load_floats(h + i, x);
#pragma unroll
    for (int k = 0; k < V; k++) {
      const float cdf = 0.5f * (1.f + erff(x[k] * kAlpha));
      const float pdf = expf(-0.5f * x[k] * x[k]) * kBeta;
      v[k] = g[k] * (cdf + x[k] * pdf);
    }
    Vec<T> out;
#pragma unroll
    for (int k = 0; k < V; k++) {
      out.v[k] = Conv<T>::store(v[k]);
      v[k] = Conv<T>::load(out.v[k]);
    }
    *reinterpret_cast<Vec<T>*>(dx + i) = out;
  }
};

// Block (x, y): vector columns [x * 32, x * 32 + 32) over the rows of chunk y; row(i, v) yields
// the floats of the vector at element offset i.
template <typename T, typename Row>
__global__ void __launch_bounds__(kLanes * kRowsPerBlock)
    colsum_kernel(Row row, int64_t rows, int64_t cols, int64_t rows_per_chunk, float* __restrict__ parts) {
  constexpr int V = Vec<T>::n;
  __shared__ float acc[kRowsPerBlock][kLanes * V];
  const int64_t vcol = (int64_t)blockIdx.x * kLanes + threadIdx.x;
  const bool active = vcol * V < cols;
  const int64_t r0 = (int64_t)blockIdx.y * rows_per_chunk;
  int64_t r1 = r0 + rows_per_chunk;
  if (r1 > rows) r1 = rows;
  float s[V];
#pragma unroll
  for (int k = 0; k < V; k++) s[k] = 0.f;
  if (active) {
    // Unrolled so that several rows' loads are in flight per thread.
#pragma unroll 4
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowsPerBlock) {
      float v[V];
      row(r * cols + vcol * V, v);
#pragma unroll
      for (int k = 0; k < V; k++) s[k] += v[k];
    }
  }
#pragma unroll
  for (int k = 0; k < V; k++) acc[threadIdx.y][threadIdx.x * V + k] = s[k];
  __syncthreads();
  // The block's kRowsPerBlock partial rows, summed in a fixed order.
  for (int i = threadIdx.y * kLanes + threadIdx.x; i < kLanes * V; i += kLanes * kRowsPerBlock) {
    const int64_t c = (int64_t)blockIdx.x * kLanes * V + i;
    if (c >= cols) continue;
    float t = 0.f;
#pragma unroll
    for (int j = 0; j < kRowsPerBlock; j++) t += acc[j][i];
    parts[(int64_t)blockIdx.y * cols + c] = t;
  }
}

template <typename T, typename Row>
int launch(Row row, int64_t rows, int64_t cols, float* parts, int chunks, void* stream) {
  const int64_t col_blocks = (cols / Vec<T>::n + kLanes - 1) / kLanes;
  const int64_t per_chunk = (rows + chunks - 1) / chunks;
  const dim3 grid((unsigned)col_blocks, (unsigned)chunks), block(kLanes, kRowsPerBlock);
  colsum_kernel<T><<<grid, block, 0, (cudaStream_t)stream>>>(row, rows, cols, per_chunk, parts);
  return (int)cudaGetLastError();
}

}  // namespace

bool colsum_supported(int32_t dtype, int64_t cols) {
  if (dtype != ARMAP_DTYPE_F32 && dtype != ARMAP_DTYPE_BF16 && dtype != ARMAP_DTYPE_F16) return false;
  return cols > 0 && cols % (16 / elem_size(dtype)) == 0;
}

int colsum_chunks(int64_t rows, int64_t cols, int32_t dtype, int device) {
  if (!colsum_supported(dtype, cols) || rows <= 0 || device < 0) return 0;
  int sms = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0) return 0;
  const int64_t vec = 16 / elem_size(dtype);
  const int64_t col_blocks = (cols / vec + kLanes - 1) / kLanes;
  // About four blocks per multiprocessor in all, each chunk at least 64 rows so that the partial
  // rows stay small next to the input.
  int64_t chunks = (4 * (int64_t)sms + col_blocks - 1) / col_blocks;
  const int64_t max_chunks = (rows + 63) / 64;
  if (chunks > max_chunks) chunks = max_chunks;
  if (chunks < 1) chunks = 1;
  if (chunks > 65535) chunks = 65535;
  return (int)chunks;
}

int colsum(int32_t dtype, const void* x, int64_t rows, int64_t cols, float* parts, int chunks, void* stream) {
  if (!colsum_supported(dtype, cols) || rows <= 0 || chunks <= 0) return (int)cudaErrorInvalidValue;
  switch (dtype) {
    case ARMAP_DTYPE_F32:
      return launch<float>(ReadRow<float>{(const float*)x}, rows, cols, parts, chunks, stream);
    case ARMAP_DTYPE_BF16:
      return launch<__nv_bfloat16>(ReadRow<__nv_bfloat16>{(const __nv_bfloat16*)x}, rows, cols, parts, chunks, stream);
    case ARMAP_DTYPE_F16:
      return launch<__half>(ReadRow<__half>{(const __half*)x}, rows, cols, parts, chunks, stream);
    default:
      return (int)cudaErrorInvalidValue;
  }
}

int colsum_finish(const float* parts, int chunks, int64_t cols, float* out, void* stream) {
  if (!colsum_supported(ARMAP_DTYPE_F32, cols) || chunks <= 0) return (int)cudaErrorInvalidValue;
  return launch<float>(ReadRow<float>{parts}, chunks, cols, out, 1, stream);
}

int gelu_backward_colsum(int32_t dtype, const void* dy, const void* h, void* dx, int64_t rows, int64_t cols,
                         float* parts, int chunks, void* stream) {
  if (!colsum_supported(dtype, cols) || rows <= 0 || chunks <= 0) return (int)cudaErrorInvalidValue;
  switch (dtype) {
    case ARMAP_DTYPE_F32:
      return launch<float>(GeluBackward<float>{(const float*)dy, (const float*)h, (float*)dx}, rows, cols, parts,
                           chunks, stream);
    case ARMAP_DTYPE_BF16: {
      using B = __nv_bfloat16;
      return launch<B>(GeluBackward<B>{(const B*)dy, (const B*)h, (B*)dx}, rows, cols, parts, chunks, stream);
    }
    case ARMAP_DTYPE_F16:
      return launch<__half>(GeluBackward<__half>{(const __half*)dy, (const __half*)h, (__half*)dx}, rows, cols,
                            parts, chunks, stream);
    default:
      return (int)cudaErrorInvalidValue;
  }
}

}  // namespace cuda
}  // namespace armap
