#!/usr/bin/env bash
# transfix vs PyTorch and vs ONNX Runtime on the seven torchvision fixtures, every exported opset,
# two natural images each. Tolerance: fp32 within 1e-4 of the output scale, or within twice the
# model's own fp32 noise floor n where that is larger (the noise floor is how far PyTorch's fp32
# output is from an fp64 reference: PyTorch in double when the fixtures include it, else transfix's
# fp64 mode). That bound is for transfix vs the fp64 reference; against another fp32 runtime both
# sides carry rounding noise, so the bound is the sum: 2n (transfix) + n (the other) = 3n.
# Top-1 must agree with PyTorch.
# Usage: fixtures_test.sh BUILD_DIR   (fixtures are generated into $TRANSFIX_CACHE first if missing)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: fixtures_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
CLOSE=$BUILD/tests/npy_close
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
FX=$CACHE/fixtures
ORT=ort_run
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$ROOT/scripts/fixtures.sh" >"$T/fixtures.log" 2>&1 || { echo "fixture generation failed:"; tail -20 "$T/fixtures.log"; exit 1; }

passed=0 failed=0
expect_close() {  # expect_close LABEL A.npy B.npy REL
  local out
  if out=$("$CLOSE" "$2" "$3" --rel "$4"); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: $out"; fi
  [[ -n ${VERBOSE:-} ]] && echo "  $1: $out"
}
rel_of() { "$CLOSE" "$1" "$2" --rel 1 | sed -E 's/.* rel ([^ ]+) .*/\1/'; }

for dir in "$FX"/*/; do
  m=$(basename "$dir")
  for img in "" _2; do
    ref="$dir/output$img.npy"
    # The model's fp32 noise floor on this image.
    if [[ -f "$dir/output${img}_fp64.npy" ]]; then
      oracle="$dir/output${img}_fp64.npy"
    else
      "$TF" run "$dir/model_opset17.onnx" --input "$dir/input$img.npy" --precision fp64 -o "$T/$m$img.fp64" >/dev/null
      oracle="$T/$m$img.fp64/output.npy"
    fi
    noise=$(rel_of "$ref" "$oracle")
    tol=$(awk -v n="$noise" 'BEGIN { t = 2 * n; print (t > 1e-4 ? t : 1e-4) }')
    tol_pair=$(awk -v n="$noise" 'BEGIN { t = 3 * n; print (t > 1e-4 ? t : 1e-4) }')
    echo "$m$img: fp32 noise floor (PyTorch fp32 vs fp64) $noise of output scale -> tolerance $tol (vs fp32 runtimes $tol_pair)"
    for model in "$dir"/model_opset*.onnx; do
      o=$(basename "$model" .onnx)
      if ! "$TF" run "$model" --input "$dir/input$img.npy" -o "$T/$m$img.$o.tf" >"$T/run.log" 2>&1; then
        failed=$((failed + 1)); echo "FAIL $m/$o: transfix run: $(tail -1 "$T/run.log")"; continue
      fi
      expect_close "$m/$o$img transfix vs PyTorch" "$T/$m$img.$o.tf/output.npy" "$ref" "$tol_pair"
      expect_close "$m/$o$img transfix vs fp64 reference" "$T/$m$img.$o.tf/output.npy" "$oracle" "$tol"
      if $ORT "$model" --input "input=$dir/input$img.npy" --output-dir "$T/$m$img.$o.ort" --threads 2 >"$T/ort.log" 2>&1; then
        expect_close "$m/$o$img transfix vs ONNX Runtime" "$T/$m$img.$o.tf/output.npy" "$T/$m$img.$o.ort/output.npy" "$tol_pair"
      else
        failed=$((failed + 1)); echo "FAIL $m/$o: ONNX Runtime run failed: $(tail -1 "$T/ort.log")"
      fi
    done
  done
done
# The fp64 oracle itself: squeezenet1_1 has no BatchNorm, so its ONNX export carries PyTorch's exact
# weights and transfix's fp64 run must reproduce PyTorch's double run to ~1e-14. (The other exports fold
# BatchNorm into conv weights in float32, which moves them 1e-5..1e-4 away from PyTorch's double run:
# a weight-precision change made by the converter, not noise.)
sq=$FX/squeezenet1_1
if [[ -f $sq/output_fp64.npy ]]; then
  for o in "$sq"/model_opset*.onnx; do
    "$TF" run "$o" --input "$sq/input.npy" --precision fp64 -o "$T/sq64" >/dev/null
    expect_close "squeezenet1_1/$(basename "$o" .onnx) transfix fp64 vs PyTorch fp64" "$T/sq64/output.npy" "$sq/output_fp64.npy" 1e-10
  done
fi
echo "fixtures: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
