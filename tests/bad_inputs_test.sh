#!/usr/bin/env bash
# Inputs the fuzz targets (tools/fuzz, docs/fuzzing.md) found crashing, hanging or allocating too
# much, kept under tests/data/bad_inputs/<kind>/ once fixed. Each must make the command that reads
# that kind of file exit 2 with a one-line error naming the file; anything else (exit 0 or 1, a
# crash, a sanitizer report: 86 under make test-asan, a timeout) fails. Files named *_valid.* are
# inputs that crashed transfix but are valid: their command must exit 0.
#   onnx/*.onnx, keras/*.h5                     transfix inspect FILE
#   keras/X.json (weights: keras/X.weights.h5)  transfix inspect X.json+X.weights.h5
#   tflite_run/*.tflite                         transfix run FILE --random (the fuzz target runs models)
#   npy/*.npy                                   transfix run examples/tiny_cnn.onnx --input FILE
#   merge/*.json                                transfix merge FILE
#   coverage/*.json                             transfix coverage examples/tiny_cnn.onnx --against FILE
# Usage: bad_inputs_test.sh TRANSFIX
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRANSFIX=${1:?usage: bad_inputs_test.sh TRANSFIX}
D=$ROOT/tests/data/bad_inputs
MODEL=$ROOT/examples/tiny_cnn.onnx
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
shopt -s nullglob
for f in "$D"/*/*; do
  [[ -f $f ]] || continue
  kind=$(basename "$(dirname "$f")") name=$(basename "$f")
  [[ $name == *.md ]] && continue
  case $kind/$name in
    keras/*.weights.h5) continue ;;
    onnx/*.onnx | keras/*.h5) cmd=(inspect "$f") ;;
    keras/*.json) cmd=(inspect "$f+${f%.json}.weights.h5") ;;
    tflite_run/*.tflite) cmd=(run "$f" --random -o "$T/out") ;;
    npy/*.npy) cmd=(run "$MODEL" --input "$f" -o "$T/out") ;;
    merge/*.json) cmd=(merge "$f") ;;
    coverage/*.json) cmd=(coverage "$MODEL" --against "$f") ;;
    *) failed=$((failed + 1)); echo "FAIL $kind/$name: no command for this kind of file"; continue ;;
  esac
  timeout 60 "$TRANSFIX" "${cmd[@]}" >"$T/out.txt" 2>"$T/err.txt"
  rc=$?
  want=2
  [[ $name == *_valid.* ]] && want=0
  lines=$(grep -c . "$T/err.txt")
  if [[ $want -eq 0 && $rc -eq 0 ]]; then
    passed=$((passed + 1)); echo "ok   $kind/$name: exit 0 (valid input, no crash)"
  elif [[ $want -eq 2 && $rc -eq 2 && $lines -eq 1 ]] && grep -q "error" "$T/err.txt" && grep -qF "$name" "$T/err.txt"; then
    passed=$((passed + 1)); echo "ok   $kind/$name: exit 2: $(cut -c1-160 "$T/err.txt")"
  else
    failed=$((failed + 1))
    echo "FAIL $kind/$name: exit $rc (want $want, one error line naming the file; got $lines lines):"
    tail -3 "$T/err.txt" | sed 's/^/    /'
  fi
done
echo "bad inputs: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
