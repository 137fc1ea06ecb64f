// Stands in for kernels/src/profile.cpp where the host's PyTorch profiler API does not compile
// (see README.md here): profiling is refused, everything else in the backend works.
#include "../src/internal.h"

namespace armap {

bool profiler_built() { return false; }

void profile_start(bool) {
  fail(ARMAP_ERR_UNSUPPORTED, "profile: this backend was built without the profiler (its source did not compile "
                              "against this PyTorch; see build/cuda/profile_cpp.log)");
}

void profile_stop(const std::string&) { invalid("profile: no profile is running"); }

}  // namespace armap
