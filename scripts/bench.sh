#!/usr/bin/env bash
# Benchmarks (printed ratios, never pass/fail gates):
#  - batch-1 fp32 latency, 2 threads: transfix vs ONNX Runtime (graph optimization "all") in the same run
#  - peak memory of resnet101 inference vs its weight bytes
#  - conformance pass count, fp64/fp32 overhead
#  - TorchScript: import time of resnet101's model.pt, transfix vs libtorch latency on the fixtures' model.pt
#  - kernel micro-benchmarks (bench_kernels)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
TF=$BUILD/transfix
FX=${TRANSFIX_CACHE:-$HOME/.cache/transfix}/fixtures
ITER=${BENCH_ITERATIONS:-20}
THREADS=${BENCH_THREADS:-2}
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }

echo "== Inference latency, batch 1, $THREADS threads, fp32, median of $ITER runs (after 3 warm-up)"
printf '%-14s %12s %12s %8s\n' model transfix_ms ort_ms ratio
for m in mobilenet_v2 resnet101 inception_v3; do
  model=$FX/$m/model_opset17.onnx
  tf=$("$TF" bench "$model" --input "$FX/$m/input.npy" --threads "$THREADS" --iterations "$ITER" --warmup 3 --json | json 'd["latency_ms"]["median"]')
  ort=$(node "$ROOT/tools/node/ort_run.js" "$model" --input "input=$FX/$m/input.npy" --bench "$ITER" --warmup 3 --threads "$THREADS" | json 'd["latency_ms"]["median"]')
  printf '%-14s %12.2f %12.2f %7.2fx\n' "$m" "$tf" "$ort" "$(calc "$tf / $ort")"
done

echo
echo "== Peak memory, resnet101 inference (target: weights + 150 MB at most)"
m=$FX/resnet101/model_opset17.onnx
peak=$("$TF" bench "$m" --input "$FX/resnet101/input.npy" --threads "$THREADS" --iterations 3 --warmup 1 --json | json 'd["peak_memory_bytes"]')
weights=$("$TF" inspect --json "$m" | json 'd["parameters"]["bytes"]')
echo "weights $(calc "$weights / 1e6") MB, peak RSS $(calc "$peak / 1e6") MB, overhead $(calc "($peak - $weights) / 1e6") MB"

echo
echo "== fp64 (oracle) vs fp32 latency"
for m in mobilenet_v2 resnet101; do
  f32=$("$TF" bench "$FX/$m/model_opset17.onnx" --input "$FX/$m/input.npy" --iterations 5 --warmup 1 --json | json 'd["latency_ms"]["median"]')
  f64=$("$TF" bench "$FX/$m/model_opset17.onnx" --input "$FX/$m/input.npy" --iterations 5 --warmup 1 --precision fp64 --json | json 'd["latency_ms"]["median"]')
  printf '%-14s fp32 %8.2f ms  fp64 %8.2f ms  overhead %.2fx\n' "$m" "$f32" "$f64" "$(calc "$f64 / $f32")"
done

SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
if compgen -G "$SHARED/*/*.h5" >/dev/null; then
  echo
  echo "== Keras .h5 import time (target < 1 s for the largest), median of 5 loads"
  for m in $(ls -S "$SHARED"/*/*.h5); do
    loads=$(for _ in 1 2 3 4 5; do "$TF" bench "$m" --iterations 1 --warmup 0 --threads "$THREADS" --json | json 'd["load_ms"]'; done | sort -g)
    printf '%-36s %6.1f MB  load %8.1f ms\n' "$(basename "$m")" "$(calc "$(stat -c %s "$m") / 1e6")" "$(sed -n 3p <<<"$loads")"
  done
fi

echo
echo "== ONNX conformance (libonnx-testdata)"
"$BUILD/tests/transfix_conformance" /usr/share/libonnx-testdata/data | tail -1
"$BUILD/tests/transfix_conformance" /usr/share/libonnx-testdata/data --precision fp64 | tail -1

REF=$BUILD/tests/torchscript_reference
if [[ -x $REF && -f $FX/resnet101/model.pt ]]; then
  echo
  echo "== TorchScript import (target < 3 s for resnet101): transfix inspect, wall time incl. loading libtorch"
  t0=$(date +%s.%N)
  "$TF" inspect "$FX/resnet101/model.pt" >/dev/null
  echo "resnet101 model.pt: $(calc "$(date +%s.%N) - $t0") s"
  echo
  echo "== TorchScript fixtures: transfix vs libtorch forward, batch 1, $THREADS threads, fp32, median of $ITER runs"
  printf '%-20s %9s %12s %12s %8s\n' model import_s transfix_ms libtorch_ms ratio
  for dir in "$FX"/*/; do
    [[ -f $dir/model.pt ]] || continue
    # libtorch's OpenMP threads spin-wait by default; beside transfix's own pool in one process on 2
    # busy cores that made libtorch 10-100x slower (squeezenet1_1: 2.3 s vs 19 ms passive).
    r=$(OMP_WAIT_POLICY=PASSIVE "$REF" bench "$dir/model.pt" "$dir/input.npy" --iterations "$ITER" --threads "$THREADS")
    printf '%-20s %9.2f %12.2f %12.2f %7.2fx\n' "$(basename "$dir")" "$(json 'd["reimport_s"]' <<<"$r")" \
      "$(json 'd["transfix_ms"]' <<<"$r")" "$(json 'd["libtorch_ms"]' <<<"$r")" "$(json 'd["ratio"]' <<<"$r")"
  done
fi

if [[ -x $BUILD/bench/bench_kernels ]]; then
  echo
  echo "== Kernel micro-benchmarks"
  "$BUILD/bench/bench_kernels" --benchmark_min_time=0.2 2>/dev/null
fi
