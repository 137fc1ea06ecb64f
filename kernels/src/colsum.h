// Column sums of a [rows, cols] matrix: the gradient of a linear layer's bias, the sum of its output
// gradient over every token. Plain C++ (see add_norm.h for why); the kernels are in colsum.cu.
#pragma once

#include <cstdint>

namespace armap {
namespace cuda {

// Whether the kernels take this matrix: cols a multiple of one 16-byte vector (8 bf16/f16 or 4
// float32 elements). The caller also ensures a contiguous, 16-byte aligned input.
bool colsum_supported(int32_t dtype, int64_t cols);
// How many row chunks colsum splits the rows into (0 on error): parts holds that many rows of cols
// floats, which the caller sums (in a fixed order, so the result is deterministic).
int colsum_chunks(int64_t rows, int64_t cols, int32_t dtype, int device);
// parts[chunk][c] = sum of x[r][c] over the chunk's rows. Returns 0 or a cudaError_t.
int colsum(int32_t dtype, const void* x, int64_t rows, int64_t cols, float* parts, int chunks, void* stream);

}  // namespace cuda
}  // namespace armap
