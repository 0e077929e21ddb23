#!/usr/bin/env bash
# End-to-end tests of `transfix mutate`, `localize` and `repair`:
#  - the real PyTorch 1.13 fault (bilinear Upsample exported at opset 9) is pinned to the Upsample node as a
#    coordinate-mode hyperparameter fault, and repaired to EQUIVALENT; the repaired file runs in ONNX Runtime
#    and agrees with ONNX Runtime's run of the source model;
#  - every fault kind that applies to examples/tiny_cnn.onnx (and a few on squeezenet) is localized at the
#    mutated node with the right category (ground truth from `mutate`), and repaired; each repaired model is
#    checked in ONNX Runtime against the source;
#  - clean pairs (the same model at other opsets) give no faults;
#  - bad usage exits 2.
set -uo pipefail
BUILD=$(cd "${1:?usage: localize_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
CLOSE=$BUILD/tests/npy_close
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
ORT=ort_run
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0 skipped=0
source "$(dirname "$0")/lib.sh"

truth() { $PY -c "import json; print(json.load(open('$1'))['$2'])"; }
report() {  # report NAME FILE PYTHON_EXPR over r
  if $PY -c "import json,sys; r=json.load(open('$2')); sys.exit(0 if ($3) else 1)"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $1: $2 does not satisfy: $3"; fi
}
# ort_agrees NAME SOURCE REPAIRED INPUT: ONNX Runtime runs both; outputs agree within 1e-4 of the output scale.
ort_agrees() {
  local name=$1 src=$2 fixed=$3 input=$4
  mkdir -p "$T/ort_s" "$T/ort_f"
  rm -f "$T"/ort_s/* "$T"/ort_f/*
  if ! $ORT "$src" --input "$input" --output-dir "$T/ort_s" >/dev/null 2>&1 ||
     ! $ORT "$fixed" --input "$input" --output-dir "$T/ort_f" >/dev/null 2>&1; then
    failed=$((failed + 1)); echo "FAIL $name: ONNX Runtime could not run the models"; return
  fi
  local ok=1
  for f in "$T"/ort_s/*.npy; do
    "$CLOSE" "$f" "$T/ort_f/$(basename "$f")" --rel 1e-4 >/dev/null 2>&1 || ok=0
  done
  if ((ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name: repaired model disagrees in ONNX Runtime"; fi
}

# ---- bad usage
TINY=$ROOT/examples/tiny_cnn.onnx
check mutate-unknown-kind 2 "unknown fault kind" -- "$TF" mutate "$TINY" --fault nope -o "$T/x.onnx"
check mutate-not-applicable 2 "does not apply" -- "$TF" mutate "$TINY" --fault resize-coordinate-mode -o "$T/x.onnx"
check mutate-over-input 2 "refusing" -- "$TF" mutate "$TINY" --fault pads -o "$TINY"
check localize-no-data 2 "exactly one of" -- "$TF" localize "$TINY" "$TINY"
check repair-over-input 2 "refusing" -- "$TF" repair "$TINY" "$TINY" --random 1 -o "$TINY"
check localize-identical 0 "faults: none" -- "$TF" localize "$TINY" "$TINY" --random 1

# ---- the real Upsample fault
UP9=$ROOT/examples/upsample_opset9.onnx UP11=$ROOT/examples/upsample_opset11.onnx
check upsample-localized 1 "hyperparameters: coordinate_transformation_mode at Upsample '/up/Upsample'" -- \
  "$TF" localize "$UP11" "$UP9" --random 1 --report "$T/up.json"
report upsample-report "$T/up.json" "r['faults'][0]['category'] == 'hyperparameters' and any(x['kind'] == 'torch-onnx-upsample-asymmetric' for x in r['faults'][0]['findings']) and len(r['faults']) == 1"
check upsample-repaired 0 "verdict after repair: EQUIVALENT" -- "$TF" repair "$UP11" "$UP9" --random 4 -o "$T/up_fixed.onnx"
$PY - "$T/up_input.npy" <<'PYEOF'
import numpy as np, sys
np.save(sys.argv[1], np.random.default_rng(7).random((1, 3, 64, 64), dtype=np.float32))
PYEOF
ort_agrees upsample-ort "$UP11" "$T/up_fixed.onnx" "input=$T/up_input.npy"
check upsample-repaired-clean 0 "faults: none" -- "$TF" localize "$UP11" "$T/up_fixed.onnx" --random 1
# A clean pair (tiny_cnn and its conversion to TFLite): no edit, no file, exit 0.
"$TF" convert "$TINY" "$T/tiny_clean.tflite" >/dev/null 2>&1
check repair-clean-pair 0 "no fault found: the target is left as it is, nothing written" -- \
  "$TF" repair "$TINY" "$T/tiny_clean.tflite" --random 2 -o "$T/tiny_clean_fixed.tflite"
[[ ! -e $T/tiny_clean_fixed.tflite ]] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL repair-clean-pair wrote a file"; }

# ---- a real fault of ONNX's own version converter: upgrading the opset-9 Upsample to opset 11 drops the
# asymmetric coordinate mode (onnx/onnx#8480); localize pins it, and says which tool did it
if $PY -c "import onnx" 2>/dev/null; then
  $PY -c "import onnx, sys; from onnx import version_converter as v
onnx.save(v.convert_version(onnx.load(sys.argv[1]), 11), sys.argv[2])" "$UP9" "$T/up9_to11.onnx"
  check version-converter-localized 1 "coordinate_transformation_mode at Resize" -- \
    "$TF" localize "$UP9" "$T/up9_to11.onnx" --random 1 --report "$T/vc.json"
  report version-converter-tool "$T/vc.json" "any(x['kind'] == 'onnx-version-converter-resize-10-11' for x in r['faults'][0]['findings'])"
  check version-converter-repaired 0 "verdict after repair: EQUIVALENT" -- "$TF" repair "$UP9" "$T/up9_to11.onnx" --random 3 -o "$T/vc_fixed.onnx"
else
  skipped=$((skipped + 1)); echo "SKIP version-converter case: python3-onnx missing"
fi

# ---- mutate corpus on tiny_cnn: localize at the mutated node, right category, repaired, checked in ORT
$PY - "$T/tiny_input.npy" <<'PYEOF'
import numpy as np, sys
np.save(sys.argv[1], np.random.default_rng(3).random((1, 3, 32, 32), dtype=np.float32))
PYEOF
for kind in input-layout input-normalization channel-order weights-fp16 weights-int8 weights-transposed \
            channel-permutation bias-dropped bn-folded-twice epsilon pads stride dilation activation-dropped; do
  out=$T/tiny_$kind.onnx
  if ! "$TF" mutate "$TINY" --fault "$kind" --seed 2 -o "$out" >/dev/null 2>&1; then
    failed=$((failed + 1)); echo "FAIL mutate-$kind: mutate failed"; continue
  fi
  node=$(truth "${out%.onnx}.truth.json" node) cat=$(truth "${out%.onnx}.truth.json" category)
  "$TF" localize "$TINY" "$out" --npy "$T/tiny_input.npy" --report "$T/loc_$kind.json" >/dev/null 2>&1
  report "localize-$kind" "$T/loc_$kind.json" \
    "len(r['faults']) >= 1 and r['faults'][0]['category'] == '$cat' and any('$node' in op for op in r['faults'][0]['target']['ops'] + r['faults'][0]['source']['ops'])"
  check "repair-$kind" 0 "verdict after repair: EQUIVALENT" -- \
    "$TF" repair "$TINY" "$out" --random 3 -o "$T/fixed_$kind.onnx"
  [[ -f $T/fixed_$kind.onnx ]] && ort_agrees "repair-$kind-ort" "$TINY" "$T/fixed_$kind.onnx" "input=$T/tiny_input.npy"
done

# ---- an intended float16 target (every weight and activation float16, float32 model inputs and outputs
# through Casts, as float16 converters write it): its rounding is judged against the source's own
# float16 local noise, so the clean conversion has no faults; a kernel transposed on top of it is the only
# fault, diagnosed exactly (up to the float16 rounding); the repair keeps every weight float16 and gives
# the clean float16 model's outputs in ONNX Runtime.
if $PY -c "import onnx" 2>/dev/null; then
  $PY "$ROOT/tests/make_fp16_onnx.py" "$TINY" "$T/fp16.onnx" "$T/fp16_bad.onnx"
  check fp16-clean 0 "faults: none" -- "$TF" localize "$TINY" "$T/fp16.onnx" --npy "$T/tiny_input.npy"
  "$TF" localize "$TINY" "$T/fp16_bad.onnx" --npy "$T/tiny_input.npy" --report "$T/fp16_bad.json" >/dev/null 2>&1
  report fp16-bad-localized "$T/fp16_bad.json" \
    "len(r['faults']) == 1 and r['faults'][0]['category'] == 'parameters' and 'kernel transposed' in r['faults'][0]['findings'][0]['kind']
     and any('features.4' in op for op in r['faults'][0]['target']['ops'])"
  "$TF" repair "$TINY" "$T/fp16_bad.onnx" --npy "$T/tiny_input.npy" -o "$T/fp16_fixed.onnx" >"$T/fp16_repair.log" 2>&1
  if [[ -f $T/fp16_fixed.onnx ]] && $PY -c "import onnx, sys; m = onnx.load(sys.argv[1])
sys.exit(0 if all(t.data_type == onnx.TensorProto.FLOAT16 for t in m.graph.initializer) else 1)" "$T/fp16_fixed.onnx"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL fp16-repair-stays-fp16: $(tail -3 "$T/fp16_repair.log")"
  fi
  [[ -f $T/fp16_fixed.onnx ]] && ort_agrees fp16-repair-ort "$T/fp16.onnx" "$T/fp16_fixed.onnx" "input=$T/tiny_input.npy"
else
  skipped=$((skipped + 1)); echo "SKIP float16 target cases: python3-onnx missing"
fi

# ---- fixtures: clean pairs and a few faults on a real network (skipped when the fixture cache is absent)
# fixture_fault NAME DIR KIND CONDITION: mutate DIR's opset-13 model with KIND (seed 1), localize on
# its input (the report must satisfy CONDITION, a Python expression over r, node, cat = the ground
# truth), repair on both inputs to EQUIVALENT.
fixture_fault() {
  local name=$1 dir=$2 kind=$3 condition=$4 out=$T/$1_$3.onnx
  "$TF" mutate "$dir/model_opset13.onnx" --fault "$kind" --seed 1 -o "$out" >/dev/null 2>&1
  local node cat
  node=$(truth "${out%.onnx}.truth.json" node) cat=$(truth "${out%.onnx}.truth.json" category)
  "$TF" localize "$dir/model_opset13.onnx" "$out" --npy "$dir/input.npy" --report "$T/${name}_$kind.json" >/dev/null 2>&1
  report "$name-localize-$kind" "$T/${name}_$kind.json" "(lambda node, cat: $condition)('$node', '$cat')"
  check "$name-repair-$kind" 0 "verdict after repair: EQUIVALENT" -- \
    "$TF" repair "$dir/model_opset13.onnx" "$out" --npy "$dir/input.npy" "$dir/input_2.npy" -o "$T/${name}_fixed_$kind.onnx"
}
SQ=$CACHE/fixtures/squeezenet1_1
if [[ -f $SQ/model_opset13.onnx ]]; then
  for o in 9 17; do
    check "clean-squeezenet-$o" 0 "faults: none" -- "$TF" localize "$SQ/model_opset13.onnx" "$SQ/model_opset$o.onnx" --npy "$SQ/input.npy"
  done
  for kind in concat-axis stride weights-transposed; do
    fixture_fault squeezenet "$SQ" "$kind" \
      "r['faults'][0]['category'] == cat and any(node in op for op in r['faults'][0]['target']['ops'] + r['faults'][0]['source']['ops'])"
  done
else
  skipped=$((skipped + 1)); echo "SKIP squeezenet cases: no fixture cache (the fixtures test builds it)"
fi

# ShuffleNet's channel shuffle (Reshape -> Transpose -> Reshape after a Concat): a Concat on axis 2 of
# two [C, H, W] halves happens to perform the shuffle itself, and a perm swapping H and W of a square
# map is a clean match up to a permutation. Both must be found at the mutated node, not after it.
SH=$CACHE/fixtures/shufflenet_v2_x1_0
if [[ -f $SH/model_opset13.onnx ]]; then
  for kind in concat-axis transpose-perm; do
    fixture_fault shufflenet "$SH" "$kind" \
      "len(r['faults']) == 1 and r['faults'][0]['category'] == cat and len(r['faults'][0]['target']['ops']) == 1 and node in r['faults'][0]['target']['ops'][0]"
  done
else
  skipped=$((skipped + 1)); echo "SKIP shufflenet cases: no fixture cache (the fixtures test builds it)"
fi

echo "localize tests: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
