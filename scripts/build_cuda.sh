#!/usr/bin/env bash
# Builds build/libarmap_cuda.so from kernels/ against the libtorch that PyTorch installs (CUDA),
# and build/add_norm_test_cuda (the fused kernels' check: `build/add_norm_test_cuda cuda`).
# Needs g++ (C++17), nvcc (CUDA_HOME) and PyTorch >= 2; no Go toolchain.
#   LIBTORCH=/path/to/torch  the torch package folder (default: python3 -c 'import torch')
#   CUDA_HOME=/usr/local/cuda
#   CUDA_ARCHS="80 90"       compute capabilities to build kernels/src/*.cu for (default: the
#                            visible GPU's, else 80 and 90)
#   JOBS=N                   parallel compiles (default: all cores)
#   ARMAP_STRICT=1           fail instead of building kernels/fallback/ for a source that does not
#                            compile (by default the backend is built with that feature off)
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
FLAGS=(-O2 -std=c++17 -fPIC -fvisibility=hidden -fopenmp-simd -DARMAP_CUDA -D_GLIBCXX_USE_CXX11_ABI=$ABI
       -Ikernels/include -I"$TD/include" -I"$TD/include/torch/csrc/api/include" -I"$CUDA_HOME/include")
NVCC=${NVCC:-$CUDA_HOME/bin/nvcc}
[ -x "$NVCC" ] || NVCC=$(command -v nvcc || true)
[ -n "$NVCC" ] || { echo "build_cuda: no nvcc under $CUDA_HOME/bin or on PATH (set CUDA_HOME)" >&2; exit 1; }
if [ -z "${CUDA_ARCHS:-}" ]; then
  CUDA_ARCHS=$(python3 -c 'import torch; m, n = torch.cuda.get_device_capability(); print(f"{m}{n}")' 2>/dev/null || echo "80 90")
fi
# Machine code for each architecture, plus PTX of the newest for GPUs built after this.
GENCODE=()
last=""
for a in $CUDA_ARCHS; do
  [[ $a =~ ^[0-9]+a?$ ]] || { echo "build_cuda: CUDA_ARCHS entry '$a' is not a compute capability such as 90" >&2; exit 1; }
  GENCODE+=(-gencode "arch=compute_$a,code=sm_$a")
  last=$a
done
[ -n "$last" ] || { echo "build_cuda: CUDA_ARCHS is empty" >&2; exit 1; }
GENCODE+=(-gencode "arch=compute_$last,code=compute_$last")
NVFLAGS=(-O3 -std=c++17 -Xcompiler -fPIC,-fvisibility=hidden -Ikernels/include "${GENCODE[@]}")
t0=$(date +%s)
pids=()
srcs=()
names=()
for src in kernels/src/*.cpp kernels/src/*.cu; do
  [ -e "$src" ] || continue
  name=$(basename "$src")
  name=${name//./_}
  if [[ $src == *.cu ]]; then
    "$NVCC" "${NVFLAGS[@]}" -c "$src" -o "$OUT/cuda/$name.o" 2> "$OUT/cuda/$name.log" &
  else
    g++ "${FLAGS[@]}" -c "$src" -o "$OUT/cuda/$name.o" 2> "$OUT/cuda/$name.log" &
  fi
  pids+=($!)
  srcs+=("$src")
  names+=("$name")
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 0.2; done
done
fail=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "build_cuda: ${srcs[$i]} failed:" >&2
    name=${names[$i]}
    { grep -E "error|fatal|note: candidate" "$OUT/cuda/$name.log" || tail -5 "$OUT/cuda/$name.log"; } | head -20 >&2 || true
    # A feature whose source does not compile against this PyTorch/CUDA is built without it
    # (kernels/fallback/README.md) rather than losing the whole backend; ARMAP_STRICT=1 refuses.
    fb=kernels/fallback/$name.cpp
    if [ -z "${ARMAP_STRICT:-}" ] && [ -f "$fb" ] && g++ "${FLAGS[@]}" -c "$fb" -o "$OUT/cuda/$name.o"; then
      echo "build_cuda: WARNING: built $fb in place of ${srcs[$i]}: that feature is OFF in this backend" >&2
    else
      fail=1
    fi
  fi
done
[ $fail = 0 ] || { echo "build_cuda: compile failed (full logs in $OUT/cuda/*.log)" >&2; exit 1; }
LIBS=(-L"$TD/lib" -Wl,-rpath,"$TD/lib" -Wl,--no-as-needed -ltorch -ltorch_cuda -ltorch_cpu -lc10_cuda -lc10
      -Wl,--as-needed -L"$CUDA_HOME/lib64" -lcudart)
g++ -shared -o "$OUT/libarmap_cuda.so" "$OUT"/cuda/*.o "${LIBS[@]}"
g++ "${FLAGS[@]}" -o "$OUT/add_norm_test_cuda" kernels/test/add_norm_test.cpp "$OUT"/cuda/*.o "${LIBS[@]}" \
  2> "$OUT/cuda/add_norm_test.log" || { echo "build_cuda: WARNING: kernels/test/add_norm_test.cpp failed (the backend is built; its kernel check is not):" >&2
  { grep -E "error|fatal" "$OUT/cuda/add_norm_test.log" || tail -5 "$OUT/cuda/add_norm_test.log"; } | head -20 >&2 || true
  rm -f "$OUT/add_norm_test_cuda"; }
echo "build_cuda: $OUT/libarmap_cuda.so in $(( $(date +%s) - t0 )) s (torch $(python3 -c 'import torch;print(torch.__version__)' 2>/dev/null || echo '?'))"
