// The fused residual block of a post-LayerNorm encoder, y = LayerNorm(residual + dropout(x)), shared
// by its CPU implementation (add_norm.cpp) and its CUDA kernels (add_norm.cu). Plain C++ only, so
// that nvcc compiles the kernels without ATen's headers and a Go-only edit rebuilds nothing.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ARMAP_HD __host__ __device__ __forceinline__
#else
#define ARMAP_HD inline
#endif

namespace armap {

// Dropout's keep decisions for one call, from a 64-bit key the call draws from the model's
// generator. A counter-based hash instead of a stored mask: backward recomputes the mask instead
// of reading one, a checkpointed layer recomputes the same one from the same key, and the CPU and
// CUDA paths drop exactly the same elements for the same key.
// One hash (splitmix64's finalizer) per pair of elements 2j, 2j + 1 (j = pair): 24 bits for each.
ARMAP_HD uint64_t dropout_bits(uint64_t key, uint64_t pair) {
  uint64_t z = key + (pair + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Whether the even (odd = false) or odd element of a pair's bits is kept; an element is dropped
// with probability threshold / 2^24.
ARMAP_HD bool dropout_kept(uint64_t bits, bool odd, uint32_t threshold) {
  return (uint32_t)((odd ? bits >> 8 : bits >> 40) & 0xFFFFFFu) >= threshold;
}
// The decision for element i (row * hidden + column).
ARMAP_HD bool dropout_keep(uint64_t key, uint64_t i, uint32_t threshold) {
  return dropout_kept(dropout_bits(key, i >> 1), (i & 1) != 0, threshold);
}

// p as the threshold dropout_keep compares with: an element is dropped with probability
// threshold / 2^24.
inline uint32_t dropout_threshold(double p) { return (uint32_t)(p * 16777216.0 + 0.5); }

namespace cuda {

// The kernels' entry points, implemented in add_norm.cu. Tensors are contiguous row-major
// [rows, hidden] in dtype (an armap_dtype: F32, BF16 or F16); gamma, beta, mean and rstd are
// float32. key points to the call's key in device memory (read by the kernels, so that drawing it
// needs no device-to-host copy) and may be null when threshold is 0. stream is a cudaStream_t.
// Each returns 0, or a cudaError_t.

// Whether the kernels take this shape: hidden a multiple of one 16-byte vector and at most four
// vectors per lane of a warp (bf16/f16 up to 1024, float32 up to 512).
bool add_norm_supported(int32_t dtype, int64_t hidden);

// h_out (the sum before normalization, saved for backward), mean and rstd may be null when no
// gradient is needed.
int add_norm_forward(int32_t dtype, const void* x, const void* residual, const float* gamma, const float* beta,
                     int64_t rows, int64_t hidden, uint32_t threshold, float scale, const uint64_t* key, float eps,
                     void* h_out, void* y, float* mean, float* rstd, void* stream);

// How many row blocks backward splits the rows into (0 on error): dgamma_parts and dbeta_parts
// hold one row of hidden floats per block, which the caller sums.
int add_norm_backward_blocks(int32_t dtype, int64_t hidden, int64_t rows, int device);

// d_residual receives the gradient of the sum; dx, when not null, that of x (the same masked and
// scaled by 1 / (1 - p); null when there is no dropout, as it would equal d_residual).
// dgamma_parts and dbeta_parts are null when the norm's weights are frozen.
int add_norm_backward(int32_t dtype, const void* dy, const void* h, const float* gamma, const float* mean,
                      const float* rstd, int64_t rows, int64_t hidden, uint32_t threshold, float scale,
                      const uint64_t* key, void* d_residual, void* dx, float* dgamma_parts, float* dbeta_parts,
                      int blocks, void* stream);

}  // namespace cuda
}  // namespace armap
