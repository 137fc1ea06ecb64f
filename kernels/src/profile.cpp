// Kineto profiling of what the backend runs between start and stop, saved as a Chrome trace
// (chrome://tracing, Perfetto; `armap bench gpu --profile`): the per-kernel time breakdown that
// says which part of a training step to fuse next. A translation unit of its own because the
// profiler's headers are heavy and nothing else needs them.
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iomanip>

#include "internal.h"

namespace armap {

namespace {
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

// The profiler's state is per thread but CUPTI's is per process: one profile at a time.
std::atomic<bool>& profiling() {
  static std::atomic<bool> on{false};
  return on;
}
}  // namespace

bool profiler_built() { return true; }

void profile_start(bool cuda) {
  if (profiling().exchange(true)) invalid("profile: a profile is already running in this process");
  struct Release {
    bool armed = true;
    ~Release() {
      if (armed) profiling() = false;
    }
  } release;
  std::set<ActivityType> activities{ActivityType::CPU};
  if (cuda) {
#ifdef ARMAP_CUDA
    activities.insert(ActivityType::CUDA);
#else
    fail(ARMAP_ERR_UNSUPPORTED, "profile: this backend was built for CPU only");
#endif
  }
  const ProfilerConfig cfg(ProfilerState::KINETO);
  torch::autograd::profiler::prepareProfiler(cfg, activities);
  torch::autograd::profiler::enableProfiler(cfg, activities);
  release.armed = false;
}

namespace {

void json_string(std::ostream& o, const std::string& s) {
  o << '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o << '\\' << c;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      o << buf;
    } else {
      o << c;
    }
  }
  o << '"';
}

}  // namespace

// Writes the events as a Chrome trace ourselves rather than through ProfilerResult::save, which
// needs a libtorch built with Kineto (Debian's is not; PyTorch's wheels are): operators as
// "cpu_op" on their thread, device activity (kernels, copies) as "kernel" on its stream.
void profile_stop(const std::string& path) {
  if (!profiling()) invalid("profile: no profile is running");
  // Stopped before anything can fail, so that a bad path does not leave it running.
  auto result = torch::autograd::profiler::disableProfiler();
  profiling() = false;
  if (!result) fail(ARMAP_ERR_INTERNAL, "profile: the profiler returned no result");
  if (path.empty()) invalid("profile: empty trace path");
  std::ofstream o(path);
  if (!o) invalid("profile: cannot create " + path);
  o << std::fixed << std::setprecision(3) << "{\"traceEvents\":[";
  // Nanoseconds where the profiler has them (many kernels run for under a microsecond), counted
  // from the first event so that a double keeps them exact.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  auto start_ns = [](const auto& e) { return (uint64_t)e.startNs(); };
  auto dur_ns = [](const auto& e) { return (uint64_t)e.durationNs(); };
#else
  auto start_ns = [](const auto& e) { return (uint64_t)e.startUs() * 1000; };
  auto dur_ns = [](const auto& e) { return (uint64_t)e.durationUs() * 1000; };
#endif
  uint64_t base = UINT64_MAX;
  for (const auto& e : result->events()) base = std::min(base, start_ns(e));
  bool first = true;
  for (const auto& e : result->events()) {
    const double ts = (double)(start_ns(e) - base) / 1e3, dur = (double)dur_ns(e) / 1e3;
    const bool device = e.deviceType() != c10::DeviceType::CPU;
    o << (first ? "\n" : ",\n") << "{\"ph\":\"X\",\"cat\":\"" << (device ? "kernel" : "cpu_op") << "\",\"name\":";
    json_string(o, e.name());
    o << ",\"pid\":" << (device ? 1 + (int)e.deviceIndex() : 0) << ",\"tid\":"
      << (device ? (uint64_t)e.deviceResourceId() : e.startThreadId()) << ",\"ts\":" << ts << ",\"dur\":" << dur << "}";
    first = false;
  }
  o << "\n]}\n";
  o.close();
  if (!o) fail(ARMAP_ERR_INTERNAL, "profile: writing " + path + " failed");
}

}  // namespace armap
