#!/usr/bin/env bash
# The GPU check, as one command on a CUDA host, from the repository root:
#   build  builds build/libarmap_cuda.so (scripts/build_cuda.sh) unless it is there;
#   check  correctness on the GPU against the CPU path of the same backend (fixture rewards f32
#          1e-4, bf16 2e-2; f32 and bf16 training curves against the CPU float32 one);
#   peer   the peer scripts (HF transformers + PyTorch) on the same card;
#   armap  armap's workloads, merged with the peer figures into
#          bench/results/<date>-<card>.json with issue 6's ratios.
# PHASES selects phases (default "build check peer armap"), so the work can be split over calls
# that each stay under a time limit. Needs bin/armap (built on any x86-64 Linux with
# `make armap`), python3 with torch and transformers.
#   PEER_DIR  folder with peer_bench.py and varlen_bench.py (default ../shared/bench or .dev/peer)
#   FIXTURES  the HF fixtures (default ../shared/fixtures/hf or .dev/fixtures/hf)
#   WORK      where intermediate JSON goes (default .dev/gpu, kept between calls)
set -uo pipefail
cd "$(dirname "$0")/.."
pick() { for d in "$@"; do [ -e "$d" ] && { (cd "$d" && pwd); return; }; done; echo ""; }
PEER_DIR=${PEER_DIR:-$(pick ../shared/bench .dev/peer)}
FIXTURES=${FIXTURES:-$(pick ../shared/fixtures/hf .dev/fixtures/hf)}
PHASES=${PHASES:-build check peer armap}
RESULTS=${RESULTS:-bench/results}
WORK=${WORK:-.dev/gpu}
mkdir -p "$RESULTS" "$WORK"
WORK=$(cd "$WORK" && pwd)
has() { [[ " $PHASES " == *" $1 "* ]]; }
rc=0
[ -x bin/armap ] || { echo "bench_gpu: bin/armap missing (build it with make armap and carry bin/)" >&2; exit 1; }
if has build && { [ ! -f build/libarmap_cuda.so ] || [ -n "${REBUILD:-}" ]; }; then
  scripts/build_cuda.sh || exit 1
fi
export ARMAP_BACKEND=$PWD/build/libarmap_cuda.so
bin/armap info --device cuda || exit 1
if has check; then
  [ -n "$FIXTURES" ] || { echo "bench_gpu: no fixtures (set FIXTURES)" >&2; exit 1; }
  echo "== correctness"
  timeout 180 bin/armap bench check --device cuda --fixtures "$FIXTURES" > "$WORK/check.json" || rc=1
fi
if has peer; then
  [ -n "$PEER_DIR" ] && [ -f "$PEER_DIR/peer_bench.py" ] || { echo "bench_gpu: no peer scripts (set PEER_DIR)" >&2; exit 1; }
  echo "== peer (HF transformers + PyTorch) from $PEER_DIR"
  (cd "$WORK" && OUT="$WORK" PYTHONUNBUFFERED=1 timeout 300 python3 "$PEER_DIR/peer_bench.py") || rc=1
  (cd "$WORK" && OUT="$WORK" PYTHONUNBUFFERED=1 timeout 150 python3 "$PEER_DIR/varlen_bench.py") || rc=1
fi
if has armap; then
  echo "== armap"
  card=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr -c 'A-Za-z0-9\n' '-' | sed 's/-*$//')
  out="$RESULTS/$(date +%F)-${card:-gpu}.json"
  timeout 240 bin/armap bench gpu --device cuda --peer-dir "$WORK" --out "$out" || rc=1
  [ -n "${OUT:-}" ] && cp "$out" "$WORK"/*.json "$OUT/" 2>/dev/null
  echo "bench_gpu: wrote $out"
fi
exit $rc
