#!/usr/bin/env bash
# TFLite operators the shared models do not exercise: one small model per operator, written as
# FlatBuffers JSON by tests/tflite_ops/make_op_models.py and compiled by flatc (not by transfix).
# Each must agree with the real TFLite interpreter (LiteRT, tools/python/litert_run.py) within 1e-5 of the
# output scale, and survive transfix's writer: the interpreter gives bit-identical outputs on the
# written file.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: tflite_ops_test.sh BUILD_DIR}" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$ROOT/tests/tflite_ops/make_op_models.py" "$T" || exit 1
passed=0 failed=0
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
for json in "$T"/*.json; do
  name=$(basename "$json" .json)
  [[ $name == q_* ]] && continue  # quantized one-op models: tests/tflite_quant_ops_test.sh
  flatc -b -o "$T" "$ROOT/src/formats/tflite/tflite_schema.fbs" "$json" || { fail "$name: flatc"; continue; }
  model="$T/$name.tflite"
  /usr/bin/python3 -c 'import numpy as np, sys, json
m = json.load(open(sys.argv[1]))
shape = m["subgraphs"][0]["tensors"][0]["shape"]
np.save(sys.argv[2], np.random.default_rng(3).uniform(-2, 2, shape).astype(np.float32))' "$json" "$T/$name.x.npy"
  if ! "$BUILD/transfix" run "$model" -i "x=$T/$name.x.npy" -o "$T/$name.tf" >"$T/log" 2>&1; then
    fail "$name: transfix: $(tail -1 "$T/log")"; continue
  fi
  if ! litert_run "$model" --input "x=$T/$name.x.npy" --output-dir "$T/$name.ref" >"$T/log" 2>&1; then
    fail "$name: TFLite: $(tail -1 "$T/log")"; continue
  fi
  good=1
  for out in "$T/$name.ref"/*.npy; do
    res=$("$BUILD/tests/npy_close" "$T/$name.tf/$(basename "$out")" "$out" --rel 1e-5) || { good=0; fail "$name $(basename "$out"): $res"; }
  done
  [[ $good -eq 1 ]] || continue
  if ! "$BUILD/transfix" convert "$model" "$T/$name.written.tflite" >"$T/log" 2>&1; then fail "$name: convert: $(tail -1 "$T/log")"; continue; fi
  litert_run "$T/$name.written.tflite" --input "x=$T/$name.x.npy" --output-dir "$T/$name.back" >"$T/log" 2>&1 ||
    { fail "$name: TFLite on the written file: $(tail -1 "$T/log")"; continue; }
  for out in "$T/$name.ref"/*.npy; do
    cmp -s "$out" "$T/$name.back/$(basename "$out")" || { good=0; fail "$name: written file gives other outputs ($(basename "$out"))"; }
  done
  [[ $good -eq 1 ]] || continue
  # Description, metadata bytes, signatures and tensor facts, from flatc's JSON dump of the written file.
  flatc --json --strict-json --raw-binary -o "$T/back_json" "$ROOT/src/formats/tflite/tflite_schema.fbs" -- "$T/$name.written.tflite" 2>/dev/null
  if ! facts=$(/usr/bin/python3 "$ROOT/tests/tflite_ops/same_file_facts.py" "$json" "$T/back_json/$name.written.json"); then
    fail "$name: $facts"; continue
  fi
  passed=$((passed + 1)); echo "ok   $name: transfix == TFLite, written file == original; $facts"
done
echo "tflite ops: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
