#!/usr/bin/env bash
# localize / mutate / repair on TFLite targets. The source is the mobilenet_v2 fixture (ONNX, NCHW); the
# target is that model converted by `transfix convert` to .tflite (NHWC), then mutated as a .tflite:
#  - the clean conversion gives no faults;
#  - one fault kind of each category: the real TFLite interpreter (tfjs-tflite) sees the mutant differ
#    from ONNX Runtime's run of the source (the fault is real), localize pins the mutated op at top 1 with
#    the category of the ground truth, repair writes a .tflite that compare calls EQUIVALENT, and that
#    file agrees with ONNX Runtime's source outputs in the TFLite interpreter and in Arm NN.
set -uo pipefail
BUILD=$(cd "${1:?usage: localize_tflite_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
CLOSE=$BUILD/tests/npy_close
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0 skipped=0
source "$(dirname "$0")/lib.sh"
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

FIX=$CACHE/fixtures/mobilenet_v2
if [[ ! -f $FIX/model_opset13.onnx ]]; then
  echo "SKIP: no mobilenet_v2 fixture (the fixtures test builds it)"
  exit 0
fi
SRC=$FIX/model_opset13.onnx IN=$FIX/input.npy
truth() { $PY -c "import json; print(json.load(open('$1'))['$2'])"; }
report() {  # report NAME FILE PYTHON_EXPR over r
  if $PY -c "import json,sys; r=json.load(open('$2')); sys.exit(0 if ($3) else 1)"; then passed=$((passed + 1)); else
    fail "$1: $2 does not satisfy: $3"; fi
}
# runtime_vs_ort NAME RUNTIME MODEL WANT: the runtime's output on MODEL vs ONNX Runtime's on the source,
# within 1e-4 of the output scale (WANT=agree) or not (WANT=differ).
ort_run "$SRC" --input "input=$IN" --output-dir "$T/ort" >/dev/null 2>&1 || { fail "ONNX Runtime on the source"; exit 1; }
runtime_vs_ort() {
  local name=$1 runtime=$2 model=$3 want=$4 out=$T/run_$RANDOM
  if [[ $runtime == tflite ]]; then litert_run "$model" --input "input=$IN" --output-dir "$out" >"$T/log" 2>&1
  else "$BUILD/armnn_run" "$model" --input "input=$IN" --output-dir "$out" >"$T/log" 2>&1; fi || { fail "$name: $runtime could not run $model: $(tail -1 "$T/log")"; return; }
  local res
  if res=$("$CLOSE" "$out/output.npy" "$T/ort/output.npy" --rel 1e-4 2>&1); then [[ $want == agree ]]; else [[ $want == differ ]]; fi &&
    { passed=$((passed + 1)); echo "ok   $name: $runtime vs ONNX Runtime ($want): $res"; } || fail "$name: $runtime vs ONNX Runtime should $want: $res"
}

check convert 0 "wrote" -- "$TF" convert "$SRC" "$T/clean.tflite"
check clean-pair 0 "faults: none" -- "$TF" localize "$SRC" "$T/clean.tflite" --npy "$IN"

# One fault kind of each category (input, parameters, hyperparameters, graph), and a layout Transpose with a wrong perm.
for kind in input-normalization channel-permutation transpose-perm pads activation-dropped; do
  bad=$T/bad_$kind.tflite
  if ! "$TF" mutate "$T/clean.tflite" --fault "$kind" --seed 1 -o "$bad" >"$T/log" 2>&1; then fail "mutate-$kind: $(tail -1 "$T/log")"; continue; fi
  runtime_vs_ort "mutant-$kind" tflite "$bad" differ
  node=$(truth "${bad%.tflite}.truth.json" node) cat=$(truth "${bad%.tflite}.truth.json" category)
  "$TF" localize "$SRC" "$bad" --npy "$IN" --report "$T/loc_$kind.json" >/dev/null 2>&1
  # Top 1 names the mutated op: a target op of that name (a fused activation's op is labelled by its
  # output, the node by the convolution's '/pre_activation' value), or the source op it was converted
  # from (the converter keeps tensor names; torch names a node's output '<node>_output_0').
  report "localize-$kind" "$T/loc_$kind.json" \
    "len(r['faults']) >= 1 and r['faults'][0]['category'] == '$cat' and (any(\"'\" + '$node'.removesuffix('/pre_activation') + \"'\" in op for op in r['faults'][0]['target']['ops']) or any('$node'.startswith(op.split(\"'\")[1] + '_output_0') for op in r['faults'][0]['source']['ops']))"
  fixed=$T/fixed_$kind.tflite
  check "repair-$kind" 0 "verdict after repair: EQUIVALENT" -- \
    "$TF" repair "$SRC" "$bad" --npy "$IN" "$FIX/input_2.npy" -o "$fixed"
  [[ -f $fixed ]] || continue
  runtime_vs_ort "repaired-$kind" tflite "$fixed" agree
  if [[ -x $BUILD/armnn_run ]]; then runtime_vs_ort "repaired-$kind" armnn "$fixed" agree
  else skipped=$((skipped + 1)); echo "SKIP repaired-$kind in Arm NN: armnn_run not built"; fi
done

# Intentionally quantized targets (MLPerf Tiny float vs int8 TFLite, the same network): a quantized
# value is compared within 3 steps of its grid plus a bound for its layer's weight and input rounding
# (and, for SOFTMAX and LOGISTIC, whose fixed 1/256 output grid is finer than their input's, the
# input's rounding carried through), with the source clipped to its representable range: a clean
# quantized conversion has no fault (before: DS-CNN 14 faults, VWW 23, then a SOFTMAX "unexplained
# numeric error" on each). compare judges them against int8 simulated on the source: EQUIVALENT
# within int8. From the Keras sources (BatchNorm written as a scale and a shift) too.
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}/mlcommons_tiny
IMAGES=$CACHE/images
for m in kws_dscnn ic_resnet8_cifar10; do
  if [[ ! -f $SHARED/${m}_int8.tflite ]]; then skipped=$((skipped + 1)); echo "SKIP quantized-clean-$m: $SHARED/${m}_int8.tflite missing"; continue; fi
  "$TF" localize "$SHARED/${m}_float.tflite" "$SHARED/${m}_int8.tflite" --random 4 --probes 4 --report "$T/q_$m.json" >/dev/null 2>&1
  report "quantized-clean-$m" "$T/q_$m.json" "len(r['faults']) == 0"
done
VWW=$SHARED/vww_mobilenetv1_025_96
if [[ -f ${VWW}_int8.tflite && -d $IMAGES ]]; then
  for src in "${VWW}_float.tflite" "${VWW}.h5"; do
    name=quantized-clean-vww-from-${src##*.}
    "$TF" localize "$src" "${VWW}_int8.tflite" --images "$IMAGES" --preprocess raw01 --probes 4 --report "$T/q_vww.json" >/dev/null 2>&1
    report "$name" "$T/q_vww.json" "len(r['faults']) == 0"
    check "$name-compare" 0 "verdict: EQUIVALENT within int8" -- "$TF" compare "$src" "${VWW}_int8.tflite" --images "$IMAGES" --preprocess raw01
  done
else skipped=$((skipped + 1)); echo "SKIP quantized-clean-vww: ${VWW}_int8.tflite or $IMAGES missing"; fi

# One root cause, one finding, and its repair confirmed in LiteRT: the MLPerf Tiny ToyCar autoencoder's
# TFLite file folds every BatchNorm into its FULLY_CONNECTED layers with the weights exact but biases
# off by up to 7% of their largest value (the converter folded other BatchNorm statistics than the
# Keras file holds). Localize says so once (bias differs at 9 ops); repair restores all nine at once
# (one at a time, no single fix shows at the outputs) and LiteRT runs the repaired file as the source.
TOY=$SHARED/ad_autoencoder_toycar
if [[ -f $TOY.h5 && -f ${TOY}_float.tflite ]]; then
  "$TF" localize "$TOY.h5" "${TOY}_float.tflite" --random 4 --report "$T/toy.json" >/dev/null 2>&1
  report "toycar-one-root-cause" "$T/toy.json" \
    "len(r['root_causes']) == 1 and r['root_causes'][0]['kind'] == 'bias differs' and len(r['root_causes'][0]['faults']) == 9 and all('FULLY_CONNECTED' in f['target']['op'] for f in r['faults'])"
  check toycar-repair 0 "verdict after repair: EQUIVALENT" -- "$TF" repair "$TOY.h5" "${TOY}_float.tflite" --random 4 -o "$T/toy_fixed.tflite"
  check toycar-before-litert 1 "verdict: DEGRADED" -- "$TF" compare "$TOY.h5" "${TOY}_float.tflite" --random 16 --target-runtime litert
  check toycar-repaired-litert 0 "verdict: EQUIVALENT" -- "$TF" compare "$TOY.h5" "$T/toy_fixed.tflite" --random 16 --target-runtime litert
else skipped=$((skipped + 1)); echo "SKIP toycar: $TOY.h5 missing"; fi

# A uint8 MobileNet v1 whose weights were retrained for quantization (TF's hosted quant model) against
# its float sibling: one root cause (the weights differ beyond their uint8 rounding), not 21 "8-bit grid
# without metadata" findings; the whole network quantizes better than post-training uint8 would, so
# compare calls it EQUIVALENT within uint8.
MV1=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}/tflite2onnx/mobilenet_v1_0.25_128
if [[ -f ${MV1}_quant.tflite && -d $IMAGES ]]; then
  "$TF" localize "${MV1}.tflite" "${MV1}_quant.tflite" --images "$IMAGES" --preprocess raw01 --report "$T/mv1.json" >/dev/null 2>&1
  report "mobilenet-v1-uint8-retrained-one-cause" "$T/mv1.json" \
    "len(r['root_causes']) == 1 and r['root_causes'][0]['kind'] == 'weights differ' and all('8-bit grid' not in x['detail'] for f in r['faults'] for x in f['findings'])"
else skipped=$((skipped + 1)); echo "SKIP mobilenet-v1-uint8: ${MV1}_quant.tflite missing"; fi

# Parameter repair on an intentionally quantized target keeps it quantized. Target: the int8 DS-CNN
# with one depthwise convolution's weights faulted on their own int8 grid; source: the float DS-CNN
# (the conversion's real source), then the clean int8 model (an int8 -> int8 tool). Localize must put
# the fault at top 1 on the mutated op; the repair re-quantizes the source weights with the target's
# per-channel scales (int32 bias on input scale x weight scale), so the repaired file must stay int8
# (same ops, about the same size) and give Arm NN exactly the clean model's int8 outputs. Inputs:
# MFCC-like values (normal, mean -20, sd 10), mostly inside the int8 model's calibrated ranges. From
# the float source, a repaired int8 model is DEGRADED by its intended quantization, and repair exits 0
# when nothing else remains. bn-folded-twice (channels rescaled by 0.6-1.4) and bias-dropped stay within
# the int8 rounding bound from the float source; a per-channel fit of the error finds them. dilation
# (a hyperparameter of the integer depthwise conv) is set back, the model staying int8.
Q8=$SHARED/kws_dscnn_int8.tflite
if [[ ! -f $Q8 || ! -x $BUILD/armnn_run ]]; then skipped=$((skipped + 1)); echo "SKIP int8 parameter repair: $Q8 or armnn_run missing"
else
  $PY -c "import numpy as np; x = np.random.default_rng(1).normal(-20, 10, (4, 49, 10, 1)).clip(-120, 25).astype(np.float32); np.save('$T/kws.npy', x); np.save('$T/kws1.npy', x[:1])"
  armnn_out() { rm -rf "$2"; "$BUILD/armnn_run" "$1" --input "input_1=$T/kws1.npy" --output-dir "$2" >"$T/log" 2>&1; }
  armnn_out "$Q8" "$T/q8_clean" || fail "Arm NN on $Q8: $(tail -1 "$T/log")"
  ops() { "$TF" inspect "$1" | grep '^ops:'; }
  for kind in weights-transposed channel-permutation bn-folded-twice bias-dropped dilation; do
   bad=$T/q8_$kind.tflite
   "$TF" mutate "$Q8" --fault "$kind" --seed 1 -o "$bad" >"$T/log" 2>&1 || { fail "mutate int8 $kind: $(tail -1 "$T/log")"; continue; }
   armnn_out "$bad" "$T/q8_bad" && ! "$CLOSE" "$T/q8_bad/Identity.npy" "$T/q8_clean/Identity.npy" --rel 0 >/dev/null 2>&1 &&
     passed=$((passed + 1)) || fail "int8 $kind: the mutant's Arm NN outputs should differ from the clean model's"
   node=$(truth "${bad%.tflite}.truth.json" node) cat=$(truth "${bad%.tflite}.truth.json" category)
   sources=("$SHARED/kws_dscnn_float.tflite" "$Q8")
   for source in "${sources[@]}"; do
     from=$(basename "$source" .tflite)
     "$TF" localize "$source" "$bad" --npy "$T/kws.npy" --report "$T/q8_loc_$kind.json" >/dev/null 2>&1
     report "int8-localize-$kind-from-$from" "$T/q8_loc_$kind.json" \
       "len(r['faults']) == 1 and r['faults'][0]['category'] == '$cat' and any(\"'$node'\" in op for op in r['faults'][0]['target']['ops'])"
   done
   for source in "${sources[@]}"; do
    kind_from=$kind-from-$(basename "$source" .tflite) fixed=$T/q8_fixed_$kind.tflite
    rm -f "$fixed"
    check "int8-repair-$kind_from" 0 "wrote" -- "$TF" repair "$source" "$bad" --npy "$T/kws.npy" -o "$fixed"
    [[ -f $fixed ]] || continue
    [[ $(ops "$fixed") == "$(ops "$Q8")" ]] && (( $(stat -c %s "$fixed") < $(stat -c %s "$Q8") * 11 / 10 )) &&
      { passed=$((passed + 1)); echo "ok   int8-$kind_from stays int8: $(ops "$fixed"), $(stat -c %s "$fixed") bytes"; } ||
      fail "int8-$kind_from: the repaired model is no longer int8 ($(ops "$fixed"), $(stat -c %s "$fixed") bytes)"
    if armnn_out "$fixed" "$T/q8_fixed" && res=$("$CLOSE" "$T/q8_fixed/Identity.npy" "$T/q8_clean/Identity.npy" --rel 0 2>&1); then
      passed=$((passed + 1)); echo "ok   int8-$kind_from repaired, Arm NN vs clean int8: $res"
    else fail "int8-$kind_from: Arm NN outputs of the repaired model differ from the clean int8 model: $res $(tail -1 "$T/log")"; fi
   done
  done
fi

# 16x8 target (int16 activations, int8 weights, int64 bias): the classifier of
# tests/tflite_ops/make_int16_models.py (flatc-built), faulted by mutate on its own int8 weights and
# hyperparameters, with the clean 16x8 model as the source. Localize must pin the mutated op at
# top 1 with the truth's category; repair must write a file that stays 16x8 (same tensor types) and
# that the TFLite interpreter runs to exactly the clean model's outputs.
$PY "$ROOT/tests/tflite_ops/make_int16_models.py" "$T" && flatc -b -o "$T" "$ROOT/src/formats/tflite/tflite_schema.fbs" "$T/q16_classifier.json" ||
  fail "16x8: building q16_classifier"
Q16=$T/q16_classifier.tflite
$PY -c "import numpy as np; np.save('$T/q16_x.npy', np.random.default_rng(5).normal(0, 3, (4, 16, 16, 3)).astype(np.float32)); np.save('$T/q16_x1.npy', np.load('$T/q16_x.npy')[:1])"
tflite_out() { rm -rf "$2"; litert_run "$1" --input "x=$T/q16_x1.npy" --output-dir "$2" >"$T/log" 2>&1; }
tensor_types() { flatc --json --strict-json --raw-binary -o "$T/dump" "$ROOT/src/formats/tflite/tflite_schema.fbs" -- "$1" 2>/dev/null &&
  $PY -c "import json, sys; g = json.load(open(sys.argv[1]))['subgraphs'][0]; print(sorted(t.get('type', 'FLOAT32') for t in g['tensors']))" "$T/dump/$(basename "${1%.tflite}").json"; }
if [[ -f $Q16 ]] && tflite_out "$Q16" "$T/q16_clean"; then
  check q16-clean-pair 0 "faults: none" -- "$TF" localize "$Q16" "$Q16" --npy "$T/q16_x.npy"
  for kind in weights-transposed channel-permutation bias-dropped bn-folded-twice dilation; do
    bad=$T/q16_$kind.tflite fixed=$T/q16_fixed_$kind.tflite
    "$TF" mutate "$Q16" --fault "$kind" -o "$bad" >"$T/log" 2>&1 || { fail "mutate 16x8 $kind: $(tail -1 "$T/log")"; continue; }
    node=$(truth "${bad%.tflite}.truth.json" node) cat=$(truth "${bad%.tflite}.truth.json" category)
    "$TF" localize "$Q16" "$bad" --npy "$T/q16_x.npy" --report "$T/q16_loc.json" >/dev/null 2>&1
    report "q16-localize-$kind" "$T/q16_loc.json" \
      "len(r['faults']) >= 1 and r['faults'][0]['category'] == '$cat' and any(\"'$node'\" in op for op in r['faults'][0]['target']['ops'])"
    check "q16-repair-$kind" 0 "verdict after repair: EQUIVALENT" -- "$TF" repair "$Q16" "$bad" --npy "$T/q16_x.npy" -o "$fixed"
    [[ -f $fixed ]] || continue
    [[ $(tensor_types "$fixed") == "$(tensor_types "$Q16")" ]] && passed=$((passed + 1)) ||
      fail "q16-$kind: the repaired model's tensor types changed: $(tensor_types "$fixed")"
    if tflite_out "$fixed" "$T/q16_fixed" && res=$("$CLOSE" "$T/q16_fixed/y0.npy" "$T/q16_clean/y0.npy" --rel 0 2>&1); then
      passed=$((passed + 1)); echo "ok   q16-$kind repaired, TFLite interpreter vs clean 16x8: $res"
    else fail "q16-$kind: the interpreter's outputs of the repaired model differ from the clean model's: $res $(tail -1 "$T/log")"; fi
  done
else
  fail "16x8: the TFLite interpreter cannot run q16_classifier: $(tail -1 "$T/log")"
fi

echo "localize tflite tests: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
