// Stands in for kernels/src/attention_cudnn.cpp where it does not compile against the host's
// PyTorch (see README.md here): attention: cudnn is refused at model creation, flash attention
// runs as by default.
#include "../src/internal.h"

namespace armap {

bool cudnn_attention_built() { return false; }

at::Tensor cudnn_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, bool, double) {
  fail(ARMAP_ERR_UNSUPPORTED, "cudnn attention: this backend was built without it (its source did not compile "
                              "against this PyTorch; see build/cuda/attention_cudnn_cpp.log)");
}

}  // namespace armap
