#!/usr/bin/env bash
# Benchmarks (printed ratios, never pass/fail gates):
#  - batch-1 fp32 latency, 2 threads: transfix vs ONNX Runtime (graph optimization "all") in the same run
#  - peak memory of resnet101 inference vs its weight bytes
#  - conformance pass count, fp64/fp32 overhead
#  - TorchScript: import time of resnet101's model.pt, transfix vs libtorch latency on the fixtures' model.pt
#  - kernel micro-benchmarks (bench_kernels)
#  - TFLite: transfix vs the TFLite interpreter (LiteRT, XNNPACK) vs Arm NN CpuRef, one thread;
#    reader speed and memory on a 100 MB .tflite written by transfix's own writer
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
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
  ort=$(ort_run "$model" --input "input=$FX/$m/input.npy" --bench "$ITER" --warmup 3 --threads "$THREADS" | json 'd["latency_ms"]["median"]')
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
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
echo
echo "== TFLite latency, batch 1, 1 thread, median of $ITER runs (Arm NN: mean) — transfix vs LiteRT vs Arm NN CpuRef"
printf '%-34s %12s %12s %12s %10s %10s\n' model transfix_ms tflite_ms armnn_ms tf/tflite armnn/tf
for m in tflite2onnx/mobilenet_v1_0.25_128 tflite2onnx/mobilenet_v1_0.25_128_quant mlcommons_tiny/vww_mobilenetv1_025_96_float \
         mlcommons_tiny/vww_mobilenetv1_025_96_int8; do
  model=$SHARED/$m.tflite
  [[ -f $model ]] || { echo "$m: not found (skipped)"; continue; }
  input=$(mktemp --suffix .npy)
  name=$("$TF" inspect --json "$model" | /usr/bin/python3 -c 'import json, sys, numpy as np
v = json.load(sys.stdin)["inputs"][0]
rng = np.random.default_rng(1)
integer = np.issubdtype(np.dtype(v["dtype"]), np.integer)
x = rng.integers(0, 100, v["shape"]) if integer else rng.uniform(-1, 1, v["shape"])
np.save(sys.argv[1], x.astype(v["dtype"])); print(v["name"])' "$input")
  tf=$( ("$TF" bench "$model" --input "$input" --threads 1 --iterations "$ITER" --warmup 3 --json | json 'd["latency_ms"]["median"]') 2>/dev/null || echo nan)
  tfl=$( (litert_run "$model" --input "$name=$input" --bench "$ITER" | json 'd["latency_ms"]["median"]') 2>/dev/null || echo nan)
  arm=nan
  [[ -x $BUILD/armnn_run ]] && arm=$("$BUILD/armnn_run" "$model" --input "$name=$input" --output-dir "$(mktemp -d)" --repeat "$ITER" 2>/dev/null | awk '/latency_ms/ { print $2 }')
  ratio() { [[ $1 == nan || -z $2 || $2 == nan ]] && echo "-" || calc "$1 / $2"; }
  printf '%-34s %12s %12s %12s %10s %10s\n' "$(basename "$m")" "$tf" "$tfl" "${arm:-nan}" "$(ratio "$tf" "$tfl")" "$(ratio "${arm:-nan}" "$tf")"
  rm -f "$input"
done
echo "(transfix nan: integer kernels for quantized TFLite ops not available in this build; LiteRT runs"
echo " its XNNPACK delegate; Arm NN CpuRef is Arm's unoptimized reference backend)"

echo
echo "== TFLite reader: a 100 MB .tflite (one FULLY_CONNECTED 5120x5120, written by transfix convert)"
big=${TRANSFIX_CACHE:-$HOME/.cache/transfix}/bench/big_fc_100mb.tflite
if [[ ! -f $big ]]; then
  mkdir -p "$(dirname "$big")"
  /usr/bin/python3 -c 'import numpy as np, onnx, sys
from onnx import helper, numpy_helper, TensorProto
n = 5120
w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32), "w")
g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "big_fc",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])], [w])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])' "${big%.tflite}.onnx"
  "$TF" convert "${big%.tflite}.onnx" "$big" >/dev/null
  rm -f "${big%.tflite}.onnx"
fi
size=$(stat -c %s "$big")
# inspect loads the whole model (verifier, every tensor, lowering) without computing: its peak RSS
# shows whether the weights were copied (they are views of the mapping, pages never touched).
read -r secs kb < <(/usr/bin/time -f '%e %M' "$TF" inspect "$big" 2>&1 >/dev/null | tail -1)
load=$("$TF" bench "$big" --threads 1 --iterations 1 --warmup 0 --json | json 'd["load_ms"]')
echo "file $(calc "$size / 1e6") MB: load_model $(calc "$load") ms; inspect: ${secs} s wall, peak RSS $(calc "$kb / 1e3") MB (no copy of the weights: RSS << file size)"

IMAGES=${TRANSFIX_CACHE:-$HOME/.cache/transfix}/images
if [[ -n $(ls "$IMAGES"/*.jpg "$IMAGES"/*.png 2>/dev/null) && -f $FX/mobilenet_v2/model_opset13.onnx ]]; then
  echo
  echo "== compare over 1,000 images: mobilenet_v2 opset 13 vs opset 17, $THREADS threads (target: at most"
  echo "   1.3x two plain inference passes; fp64 calibration on the first 8 samples, compare's default)"
  # 1,000 image files: the natural images repeated under distinct names (compare decodes every file).
  many=$(mktemp -d)
  mapfile -t pics < <(ls "$IMAGES"/*.jpg "$IMAGES"/*.png 2>/dev/null)
  for i in $(seq 0 999); do ln -s "${pics[$((i % ${#pics[@]}))]}" "$many/$(printf 'img%04d' "$i").${pics[$((i % ${#pics[@]}))]##*.}"; done
  src=$FX/mobilenet_v2/model_opset13.onnx tgt=$FX/mobilenet_v2/model_opset17.onnx
  # Two plain passes: each model's median batch-1 latency (transfix bench) x the number of images.
  lat() { "$TF" bench "$1" --input "$FX/mobilenet_v2/input.npy" --threads "$THREADS" --iterations 50 --warmup 5 --json | json 'd["latency_ms"]["median"]'; }
  # This machine's speed drifts by 20% from minute to minute: each size runs three times, each run
  # against the plain-pass time measured just before it; the median ratio is the result.
  printf '%-7s %10s %14s %8s %14s\n' images compare_s two_passes_s ratio peak_rss_MB
  for n in 100 1000; do
    ratios=()
    for rep in 1 2 3; do
      pass_ms=$(calc "$(lat "$src") + $(lat "$tgt")")
      read -r secs kb < <(/usr/bin/time -f '%e %M' "$TF" compare "$src" "$tgt" --images "$many" --limit "$n" \
        --threads "$THREADS" 2>&1 >/dev/null | tail -1)
      base=$(calc "$pass_ms * $n / 1000")
      ratios+=("$(calc "$secs / $base")")
      printf '%-7s %10.1f %14.1f %7.2fx %14.1f\n' "$n" "$secs" "$base" "$(calc "$secs / $base")" "$(calc "$kb / 1e3")"
    done
    echo "$n images: median ratio $(printf '%s\n' "${ratios[@]}" | sort -g | sed -n 2p)x"
  done
  rm -rf "$many"
fi

if [[ -x $BUILD/bench/bench_coverage ]]; then
  echo
  echo "== Coverage: every ONNX model of the backend test data + the fixtures (target < 10 s for 1,000 models)"
  for n in 1 3 5; do "$BUILD/bench/bench_coverage" --n $n /usr/share/libonnx-testdata/data "$FX"; echo; done
fi

if [[ -x $BUILD/bench/bench_kernels ]]; then
  echo
  echo "== Kernel micro-benchmarks"
  "$BUILD/bench/bench_kernels" --benchmark_min_time=0.2 2>/dev/null
fi
