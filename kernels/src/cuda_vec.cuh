// Device helpers shared by the .cu files: conversions between float and the storage dtypes, and
// 16-byte vector loads and stores (8 bf16/f16 or 4 float32 elements).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace armap {
namespace cuda {

template <typename T>
struct Conv;
template <>
struct Conv<float> {
  static __device__ __forceinline__ float load(float v) { return v; }
  static __device__ __forceinline__ float store(float v) { return v; }
};
template <>
struct Conv<__nv_bfloat16> {
  static __device__ __forceinline__ float load(__nv_bfloat16 v) { return __bfloat162float(v); }
  static __device__ __forceinline__ __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }
};
template <>
struct Conv<__half> {
  static __device__ __forceinline__ float load(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half store(float v) { return __float2half_rn(v); }
};

// One 16-byte access: 8 bf16/f16 or 4 float32 elements.
template <typename T>
struct alignas(16) Vec {
  static constexpr int n = 16 / sizeof(T);
  T v[n];
};

template <typename T>
__device__ __forceinline__ void load_floats(const T* p, float* out) {
  Vec<T> a = *reinterpret_cast<const Vec<T>*>(p);
#pragma unroll
  for (int k = 0; k < Vec<T>::n; k++) out[k] = Conv<T>::load(a.v[k]);
}

template <typename T>
__device__ __forceinline__ void store_floats(T* p, const float* in) {
  Vec<T> a;
#pragma unroll
  for (int k = 0; k < Vec<T>::n; k++) a.v[k] = Conv<T>::store(in[k]);
  *reinterpret_cast<Vec<T>*>(p) = a;
}

}  // namespace cuda
}  // namespace armap
