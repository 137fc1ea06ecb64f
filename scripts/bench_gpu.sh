#!/usr/bin/env bash
# The GPU check, as one command on a CUDA host, from the repository root:
#   1. builds build/libarmap_cuda.so (scripts/build_cuda.sh) unless it is there;
#   2. checks correctness on the GPU against the CPU path (fixture rewards f32 1e-4, bf16 2e-2,
#      a bf16 training curve against float32);
#   3. runs the peer scripts (HF transformers + PyTorch) and armap's workloads on the same card,
#      and writes bench/results/<date>-<card>.json with the ratios.
# Needs bin/armap (built on any x86-64 Linux with `make armap`), python3 with torch and
# transformers. PEER_DIR: folder with peer_bench.py and varlen_bench.py (default ../shared/bench
# or .dev/peer); FIXTURES: the HF fixtures (default ../shared/fixtures/hf or .dev/fixtures/hf).
set -uo pipefail
cd "$(dirname "$0")/.."
pick() { for d in "$@"; do [ -e "$d" ] && { echo "$d"; return; }; done; echo "$1"; }
PEER_DIR=${PEER_DIR:-$(pick ../shared/bench .dev/peer)}
FIXTURES=${FIXTURES:-$(pick ../shared/fixtures/hf .dev/fixtures/hf)}
RESULTS=${RESULTS:-bench/results}
WORK=$(mktemp -d)
mkdir -p "$RESULTS"
[ -x bin/armap ] || { echo "bench_gpu: bin/armap missing (build it with make armap and carry bin/)" >&2; exit 1; }
if [ ! -f build/libarmap_cuda.so ] || [ -n "${REBUILD:-}" ]; then
  scripts/build_cuda.sh || exit 1
fi
export ARMAP_BACKEND=$PWD/build/libarmap_cuda.so
bin/armap info --device cuda || exit 1
echo "== correctness"
bin/armap bench check --device cuda --fixtures "$FIXTURES" > "$WORK/check.json"; check_rc=$?
echo "== peer (HF transformers + PyTorch)"
(cd "$WORK" && OUT="$WORK" PYTHONUNBUFFERED=1 timeout 400 python3 "$PEER_DIR/peer_bench.py")
(cd "$WORK" && OUT="$WORK" PYTHONUNBUFFERED=1 timeout 300 python3 "$PEER_DIR/varlen_bench.py")
echo "== armap"
card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr -c 'A-Za-z0-9\n' '-' | sed 's/-*$//')
out="$RESULTS/$(date +%F)-${card:-gpu}.json"
bin/armap bench gpu --device cuda --peer-dir "$WORK" --out "$out" || exit 1
cp "$WORK"/*.json "$RESULTS/" 2>/dev/null
[ -n "${OUT:-}" ] && cp "$out" "$WORK"/*.json "$OUT/" 2>/dev/null
echo "bench_gpu: wrote $out (correctness exit $check_rc)"
exit $check_rc
