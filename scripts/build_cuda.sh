#!/usr/bin/env bash
# Builds build/libarmap_cuda.so from kernels/ against the libtorch that PyTorch installs (CUDA).
# Needs g++ (C++17), nvcc's headers (CUDA_HOME) and PyTorch >= 2; no Go toolchain.
#   LIBTORCH=/path/to/torch  the torch package folder (default: python3 -c 'import torch')
#   CUDA_HOME=/usr/local/cuda
#   JOBS=N                   parallel compiles (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
TD=${LIBTORCH:-$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
JOBS=${JOBS:-$(nproc)}
OUT=${BUILD_DIR:-build}
[ -d "$TD/include" ] || { echo "build_cuda: no libtorch headers under $TD/include (set LIBTORCH)" >&2; exit 1; }
# PyTorch wheels use the C++11 ABI; ask the installed torch when python is there.
ABI=1
if command -v python3 >/dev/null && python3 -c 'import torch' 2>/dev/null; then
  ABI=$(python3 -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
fi
rm -rf "$OUT/cuda"  # objects of deleted sources must not be linked
mkdir -p "$OUT/cuda"
FLAGS=(-O2 -std=c++17 -fPIC -fvisibility=hidden -DARMAP_CUDA -D_GLIBCXX_USE_CXX11_ABI=$ABI
       -Ikernels/include -I"$TD/include" -I"$TD/include/torch/csrc/api/include" -I"$CUDA_HOME/include")
t0=$(date +%s)
pids=()
srcs=()
for src in kernels/src/*.cpp; do
  name=$(basename "${src%.cpp}")
  g++ "${FLAGS[@]}" -c "$src" -o "$OUT/cuda/$name.o" 2> "$OUT/cuda/$name.log" &
  pids+=($!)
  srcs+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 0.2; done
done
fail=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    fail=1
    echo "build_cuda: kernels/src/${srcs[$i]}.cpp failed:" >&2
    grep -E "error|note: candidate" "$OUT/cuda/${srcs[$i]}.log" | head -20 >&2
  fi
done
[ $fail = 0 ] || { echo "build_cuda: compile failed (full logs in $OUT/cuda/*.log)" >&2; exit 1; }
g++ -shared -o "$OUT/libarmap_cuda.so" "$OUT"/cuda/*.o -L"$TD/lib" -Wl,-rpath,"$TD/lib" \
  -Wl,--no-as-needed -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10 -Wl,--as-needed \
  -L"$CUDA_HOME/lib64" -lcudart
echo "build_cuda: $OUT/libarmap_cuda.so in $(( $(date +%s) - t0 )) s (torch $(python3 -c 'import torch;print(torch.__version__)' 2>/dev/null || echo '?'))"
