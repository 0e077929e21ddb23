#!/usr/bin/env bash
# Arm NN (tools/armnn_run: Debian's Arm NN 20.08 TFLite parser, CpuRef backend) on every shared
# .tflite model, compared with transfix (float models) or the TFLite interpreter (quantized models,
# which transfix cannot run yet), same seeded input. tests/armnn_expected.tsv lists the models Arm NN
# cannot run or gets wrong; the test fails when a model behaves otherwise than listed (an old
# release disagreeing is information, a change in it is news). Skips when armnn_run was not built
# or ../shared is absent.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: armnn_test.sh BUILD_DIR}" && pwd)
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
[[ -x $BUILD/armnn_run ]] || { echo "SKIP: $BUILD/armnn_run not built (Arm NN not found)"; exit 0; }
[[ -d $SHARED ]] || { echo "SKIP: $SHARED not found"; exit 0; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
expected() { awk -F'\t' -v m="$1" '$1 == m { print $2 }' "$ROOT/tests/armnn_expected.tsv"; }
while IFS= read -r model; do
  base=$(basename "$model" .tflite) name=$(basename "$(dirname "$model")")_$(basename "$model" .tflite)
  want=$(expected "$base"); want=${want:-agree}
  "$BUILD/transfix" inspect --json "$model" >"$T/inspect.json" 2>&1
  inputs=()
  while IFS=$'\t' read -r tensor file; do inputs+=(--input "$tensor=$file"); done < <(/usr/bin/python3 -c 'import json, sys, numpy as np
rng = np.random.default_rng(7)
for i, v in enumerate(json.load(open(sys.argv[1]))["inputs"]):
    f = "%s_%d.npy" % (sys.argv[2], i)
    integer = np.issubdtype(np.dtype(v["dtype"]), np.integer)
    x = rng.integers(-100, 100, v["shape"]) if integer else rng.uniform(-1, 1, v["shape"])
    np.save(f, x.astype(v["dtype"]))
    print(v["name"] + "\t" + f)' "$T/inspect.json" "$T/$name")
  if ! "$BUILD/armnn_run" "$model" "${inputs[@]}" --output-dir "$T/$name.arm" >"$T/log" 2>&1; then
    got=cannot_run why=$(grep -v '^$' "$T/log" | tail -1 | cut -c1-160)
  else
    if grep -q 'tflite.quantized' <("$BUILD/transfix" inspect "$model" 2>&1); then
      ref="TFLite"; litert_run "$model" "${inputs[@]}" --output-dir "$T/$name.ref" >"$T/log" 2>&1
    else
      ref="transfix"; "$BUILD/transfix" run "$model" "${inputs[@]/#--input/-i}" -o "$T/$name.ref" >"$T/log" 2>&1
    fi
    got=agree why="vs $ref:"
    for out in "$T/$name.ref"/*.npy; do
      res=$("$BUILD/tests/npy_close" "$T/$name.arm/$(basename "$out")" "$out" --rel 1e-5) || got=disagree
      why="$why $(echo "$res" | head -1)"
    done
  fi
  if [[ $got == "$want" ]]; then passed=$((passed + 1)); echo "ok   $name: $got (as listed) $why"
  else failed=$((failed + 1)); echo "FAIL $name: Arm NN $got, listed as $want: $why"; fi
done < <(find "$SHARED" -name '*.tflite' | sort)
echo "armnn: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
