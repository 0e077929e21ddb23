#!/usr/bin/env bash
# transfix convert across formats, each side run by an independent runtime on the same seeded input:
#  - ONNX -> TFLite (examples/tiny_cnn.onnx, tests/make_convert_cases.py's, ../shared: wonnx/opt-mnist, onnxconverter_common/
#    image_classifier32): ONNX Runtime on the .onnx vs the TFLite interpreter (tfjs-tflite) on the
#    written .tflite, and transfix on the written .tflite, within 1e-5 of the output scale;
#  - TFLite -> ONNX (every float .tflite in ../shared): the TFLite interpreter on the original vs
#    ONNX Runtime on the written .onnx, 1e-5 (hybrid models 1e-2: TFLite quantizes activations on
#    the fly, ONNX computes in float); quantized models exit 2 with a clear error.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: tflite_convert_test.sh BUILD_DIR}" && pwd)
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
ok() { passed=$((passed + 1)); echo "ok   $*"; }

# Seeded uniform [-1, 1) inputs (dynamic dims as 1): prints "NAME<TAB>FILE" lines.
make_inputs() {
  "$BUILD/transfix" inspect --json "$1" >"$T/inspect.json" 2>&1 || return 1
  mkdir -p "$2"
  /usr/bin/python3 -c 'import json, sys, numpy as np
rng = np.random.default_rng(5)
for i, v in enumerate(json.load(open(sys.argv[1]))["inputs"]):
    f = "%s/%d.npy" % (sys.argv[2], i)
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in v["shape"]]
    np.save(f, rng.uniform(-1, 1, shape).astype(v["dtype"]))
    print(v["name"] + "\t" + f)' "$T/inspect.json" "$2"
}

compare_dirs() {  # what ours ref rel
  local good=1
  for ref in "$3"/*.npy; do
    if res=$("$BUILD/tests/npy_close" "$2/$(basename "$ref")" "$ref" --rel "$4"); then ok "$1 $(basename "$ref"): $res"
    else fail "$1 $(basename "$ref"): $res"; good=0; fi
  done
}

# ceil_bn.onnx: MaxPool ceil_mode (end padding, one of them a Pad node) and a BatchNormalization no
# Conv folds (MUL + ADD), made by tests/make_convert_cases.py.
/usr/bin/python3 "$ROOT/tests/make_convert_cases.py" "$T/cases" >"$T/log" 2>&1 || fail "make_convert_cases.py: $(tail -1 "$T/log")"
onnx_models=("$ROOT/examples/tiny_cnn.onnx" "$T/cases/ceil_bn.onnx")
for m in wonnx/opt-mnist.onnx onnxconverter_common/image_classifier32.onnx; do
  if [[ -f $SHARED/$m ]]; then onnx_models+=("$SHARED/$m"); else echo "SKIP $m: $SHARED not found"; fi
done
for model in "${onnx_models[@]}"; do
  name=$(basename "$model" .onnx)
  out="$T/$name.tflite"
  "$BUILD/transfix" convert "$model" "$out" >"$T/log" 2>&1 || { fail "$name: convert: $(tail -1 "$T/log")"; continue; }
  inputs=()
  while IFS=$'\t' read -r tensor file; do inputs+=(--input "$tensor=$file"); done < <(make_inputs "$model" "$T/$name.in")
  ort_run "$model" "${inputs[@]}" --output-dir "$T/$name.ort" >"$T/log" 2>&1 || { fail "$name: ORT: $(tail -1 "$T/log")"; continue; }
  litert_run "$out" "${inputs[@]}" --output-dir "$T/$name.tfl" >"$T/log" 2>&1 || { fail "$name: TFLite on the written file: $(tail -1 "$T/log")"; continue; }
  compare_dirs "$name (ONNX -> TFLite): TFLite interpreter vs ORT" "$T/$name.tfl" "$T/$name.ort" 1e-5
  "$BUILD/transfix" run "$out" "${inputs[@]/#--input/-i}" -o "$T/$name.tf" >"$T/log" 2>&1 || { fail "$name: transfix on the written file: $(tail -1 "$T/log")"; continue; }
  compare_dirs "$name (ONNX -> TFLite): transfix vs ORT" "$T/$name.tf" "$T/$name.ort" 1e-5
done

if [[ -d $SHARED ]]; then
  while IFS= read -r model; do
    name=$(basename "$(dirname "$model")")_$(basename "$model" .tflite)
    out="$T/$name.onnx"
    if grep -q 'tflite.quantized' <("$BUILD/transfix" inspect "$model" 2>&1); then
      "$BUILD/transfix" convert "$model" "$out" >"$T/log" 2>&1
      rc=$?
      if [[ $rc -eq 2 ]] && grep -q 'quantized integers' "$T/log" && [[ ! -e $out ]]; then ok "$name: quantized, TFLite -> ONNX exits 2 with a clear error"
      else fail "$name: quantized model: convert exited $rc: $(tail -1 "$T/log")"; fi
      continue
    fi
    "$BUILD/transfix" convert "$model" "$out" >"$T/log" 2>&1 || { fail "$name: convert: $(tail -1 "$T/log")"; continue; }
    rel=1e-5
    grep -q 'DequantizeLinear' <("$BUILD/transfix" inspect "$model" 2>&1) && rel=1e-2
    inputs=()
    while IFS=$'\t' read -r tensor file; do inputs+=(--input "$tensor=$file"); done < <(make_inputs "$model" "$T/$name.in")
    litert_run "$model" "${inputs[@]}" --output-dir "$T/$name.tfl" >"$T/log" 2>&1 || { fail "$name: TFLite: $(tail -1 "$T/log")"; continue; }
    ort_run "$out" "${inputs[@]}" --output-dir "$T/$name.ort" >"$T/log" 2>&1 || { fail "$name: ORT on the written file: $(tail -1 "$T/log")"; continue; }
    compare_dirs "$name (TFLite -> ONNX, rel $rel): ORT vs TFLite interpreter" "$T/$name.ort" "$T/$name.tfl" $rel
  done < <(find "$SHARED" -name '*.tflite' | sort)
else
  echo "SKIP TFLite -> ONNX: $SHARED not found"
fi
echo "tflite convert: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
