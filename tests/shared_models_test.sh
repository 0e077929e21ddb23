#!/usr/bin/env bash
# transfix vs ONNX Runtime on the third-party ONNX models in ../shared/models (seeded random
# input; outputs within 1e-4 of the output scale). Skips, saying why, when ../shared is absent.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: shared_models_test.sh BUILD_DIR}" && pwd)
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
if [[ ! -d $SHARED ]]; then
  echo "SKIP: $SHARED not found (third-party models live beside the repo, not in it)"
  echo "shared models: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
while IFS= read -r model; do
  name=$(basename "$model" .onnx)
  # --dump-all writes the random input first (0000_<input>.npy), which ONNX Runtime then gets too.
  if ! "$BUILD/transfix" run "$model" --random --seed 7 -o "$T/$name.tf" --dump-all "$T/$name.dump" >"$T/log" 2>&1; then
    failed=$((failed + 1)); echo "FAIL $name: transfix: $(tail -1 "$T/log")"; continue
  fi
  inputs=()
  for f in "$T/$name.dump"/0000_*.npy; do inputs+=(--input "$(basename "$f" .npy | sed 's/^0000_//')=$f"); done
  if ! ort_run "$model" "${inputs[@]}" --output-dir "$T/$name.ort" >"$T/log" 2>&1; then
    failed=$((failed + 1)); echo "FAIL $name: ONNX Runtime: $(tail -1 "$T/log")"; continue
  fi
  for out in "$T/$name.tf"/*.npy; do
    if res=$("$BUILD/tests/npy_close" "$out" "$T/$name.ort/$(basename "$out")" --rel 1e-4); then
      passed=$((passed + 1)); echo "ok   $name $(basename "$out"): $res"
    else
      failed=$((failed + 1)); echo "FAIL $name $(basename "$out"): $res"
    fi
  done
done < <(find "$SHARED" -name '*.onnx' | sort)
echo "shared models: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
