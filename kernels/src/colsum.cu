// Column sums for bias gradients (colsum.h). ATen's sum over dim 0 of a [tokens, features] bf16
// gradient ran at about 1.7 TB/s on an H100 (bench/NOTES.md: 3.2 ms of a bert-base step); this
// kernel reads each row once with 16-byte accesses, a warp covering 32 consecutive vectors of a
// row, and keeps the running sums in registers.
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

// Block (x, y): vector columns [x * 32, x * 32 + 32) over the rows of chunk y.
template <typename T>
__global__ void __launch_bounds__(kLanes * kRowsPerBlock)
    colsum_kernel(const T* __restrict__ x, int64_t rows, int64_t cols, int64_t rows_per_chunk,
                  float* __restrict__ parts) {
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
      load_floats(x + r * cols + vcol * V, v);
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
  const int64_t vec = 16 / elem_size(dtype);
  const int64_t col_blocks = (cols / vec + kLanes - 1) / kLanes;
  const int64_t per_chunk = (rows + chunks - 1) / chunks;
  const dim3 grid((unsigned)col_blocks, (unsigned)chunks), block(kLanes, kRowsPerBlock);
  auto s = (cudaStream_t)stream;
  switch (dtype) {
    case ARMAP_DTYPE_F32:
      colsum_kernel<float><<<grid, block, 0, s>>>((const float*)x, rows, cols, per_chunk, parts);
      break;
    case ARMAP_DTYPE_BF16:
      colsum_kernel<__nv_bfloat16><<<grid, block, 0, s>>>((const __nv_bfloat16*)x, rows, cols, per_chunk, parts);
      break;
    case ARMAP_DTYPE_F16:
      colsum_kernel<__half><<<grid, block, 0, s>>>((const __half*)x, rows, cols, per_chunk, parts);
      break;
    default:
      return (int)cudaErrorInvalidValue;
  }
  return (int)cudaGetLastError();
}

}  // namespace cuda
}  // namespace armap
