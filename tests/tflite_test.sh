#!/usr/bin/env bash
# transfix vs the TFLite interpreter (LiteRT from PyPI ai-edge-litert, tools/python/litert_run.py) on every
# .tflite model in ../shared/models, same seeded random input:
#  - float models: each output within 1e-5 of the output scale (npy_close --rel). Hybrid models
#    (int8 weights, float activations) get 1e-2: TFLite's hybrid kernels quantize the activations
#    to int8 on the fly, transfix computes in float with dequantized weights (docs/tflite.md);
#  - quantized models (tflite.quantized nodes): inspect works here; tflite_quant_test.sh runs them.
# Skips, saying why, when ../shared is absent.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: tflite_test.sh BUILD_DIR}" && pwd)
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
if [[ ! -d $SHARED ]]; then
  echo "SKIP: $SHARED not found (third-party models live beside the repo, not in it)"
  echo "tflite models: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
while IFS= read -r model; do
  name=$(basename "$model" .tflite)
  if ! "$BUILD/transfix" inspect "$model" >"$T/inspect" 2>&1; then fail "$name: inspect: $(tail -1 "$T/inspect")"; continue; fi
  # Quantized models (integer kernels) have their own test: tflite_quant_test.sh.
  if grep -q 'tflite.quantized:' "$T/inspect"; then
    passed=$((passed + 1)); echo "ok   $name: quantized; inspect works (runs in tflite_quant_test.sh)"; continue
  fi
  rel=1e-5
  grep -q 'DequantizeLinear' "$T/inspect" && rel=1e-2
  # Seeded uniform [-1, 1) inputs from the model's declared inputs (not `run --dump-all`: TFLite
  # tensor names can be longer than a file name may be).
  mkdir -p "$T/$name.in"
  "$BUILD/transfix" inspect --json "$model" >"$T/inspect.json" 2>&1
  inputs=()
  while IFS=$'\t' read -r tensor file; do inputs+=(--input "$tensor=$file"); done < <(
    /usr/bin/python3 -c 'import json, sys, numpy as np
rng = np.random.default_rng(7)
for i, v in enumerate(json.load(open(sys.argv[1]))["inputs"]):
    f = "%s/%d.npy" % (sys.argv[2], i)
    integer = np.issubdtype(np.dtype(v["dtype"]), np.integer)
    x = rng.integers(-4, 5, v["shape"]) if integer else rng.uniform(-1, 1, v["shape"])
    np.save(f, x.astype(v["dtype"]))
    print(v["name"] + "\t" + f)' "$T/inspect.json" "$T/$name.in")
  if ! "$BUILD/transfix" run "$model" "${inputs[@]/#--input/-i}" -o "$T/$name.tf" >"$T/log" 2>&1; then
    fail "$name: transfix: $(tail -1 "$T/log")"; continue
  fi
  if ! litert_run "$model" "${inputs[@]}" --output-dir "$T/$name.ref" >"$T/log" 2>&1; then
    fail "$name: TFLite: $(tail -1 "$T/log")"; continue
  fi
  for out in "$T/$name.tf"/*.npy; do
    if res=$("$BUILD/tests/npy_close" "$out" "$T/$name.ref/$(basename "$out")" --rel $rel); then
      passed=$((passed + 1)); echo "ok   $name $(basename "$out") (rel $rel): $res"
    else
      fail "$name $(basename "$out") (rel $rel): $res"
    fi
  done
done < <(find "$SHARED" -name '*.tflite' | sort)
echo "tflite models: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
