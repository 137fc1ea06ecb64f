// Column sums of a [rows, cols] matrix: the gradient of a linear layer's bias, the sum of its output
// gradient over every token. Plain C++ (see add_norm.h for why); the kernels are in colsum.cu.
#pragma once

#include <cstdint>

namespace armap {
namespace cuda {

// Whether the kernels take this matrix: cols a multiple of one 16-byte vector (8 bf16/f16 or 4
// float32 elements). The caller also ensures contiguous, 16-byte aligned inputs and outputs.
bool colsum_supported(int32_t dtype, int64_t cols);
// How many row chunks colsum splits the rows into (0 on error): parts holds that many rows of cols
// floats, which colsum_finish sums (in a fixed order, so the result is deterministic).
int colsum_chunks(int64_t rows, int64_t cols, int32_t dtype, int device);
// parts[chunk][c] = sum of x[r][c] over the chunk's rows. Each call returns 0 or a cudaError_t.
int colsum(int32_t dtype, const void* x, int64_t rows, int64_t cols, float* parts, int chunks, void* stream);
// out[c] = sum of parts[k][c] over the chunks, in order.
int colsum_finish(const float* parts, int chunks, int64_t cols, float* out, void* stream);
// GELU's backward (erf form) with the column sums of its result: dx = dy * gelu'(h), and parts as
// colsum would give for dx. dy, h and dx are [rows, cols] in dtype; dx may not alias dy or h.
int gelu_backward_colsum(int32_t dtype, const void* dy, const void* h, void* dx, int64_t rows, int64_t cols,
                         float* parts, int chunks, void* stream);

}  // namespace cuda
}  // namespace armap
