#!/usr/bin/env bash
# Keras .h5 reader:
#  1. tiny .h5 files written with h5py (tools/make_keras_cases.py) vs numpy references computed
#     from Keras/TensorFlow's semantics: every layer class of the reader, Sequential, Functional with
#     several inputs/outputs, a nested model called twice (shared weights), weights-only .h5 +
#     architecture JSON beside it, the input-contract metadata of Rescaling/Normalization;
#  2. malformed and hostile files: exit 2 with a message naming the file (and layer), never a crash;
#  3. the .h5 models in ../shared/models vs their float TFLite conversions (same seeded random
#     inputs; `transfix compare`), and mobilenet_v1_0.25_224 on natural images (top-1 sanity).
# Usage: keras_test.sh BUILD_DIR
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: keras_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
PY=/usr/bin/python3
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
IMAGES=${TRANSFIX_CACHE:-$HOME/.cache/transfix}/images
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0 skipped=0
source "$(dirname "$0")/lib.sh"
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }

if ! $PY -c 'import h5py' 2>/dev/null; then
  echo "SKIP: python3-h5py is not installed (scripts/deps.sh installs it)"
  echo "keras: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
$PY "$ROOT/tools/make_keras_cases.py" "$T/cases" || { echo "FAIL make_keras_cases.py"; exit 1; }

# ---- 1. tiny models vs numpy
for model in "$T"/cases/*.h5; do
  name=$(basename "$model" .h5)
  inputs=()
  for i in 0 1 2; do [[ -f $T/cases/$name.in$i.npy ]] && inputs+=(-i "$T/cases/$name.in$i.npy"); done
  if ! "$TF" run "$model" "${inputs[@]}" -o "$T/$name.out" >"$T/log" 2>&1; then fail "$name: run: $(tail -1 "$T/log")"; continue; fi
  "$TF" inspect --json "$model" >"$T/$name.json"
  i=0
  while IFS= read -r out; do
    if res=$("$BUILD/tests/npy_close" "$T/$name.out/$out.npy" "$T/cases/$name.out$i.npy" --rel 1e-5); then
      ok "$name output $i ($out): $res"
    else
      fail "$name output $i ($out): $res"
    fi
    i=$((i + 1))
  done < <($PY -c 'import json,sys; [print(o["name"]) for o in json.load(open(sys.argv[1]))["outputs"]]' "$T/$name.json")
  [[ -f $T/cases/$name.out$i.npy ]] && fail "$name: model has $i outputs, the reference more"
done

# Architecture JSON + weights under other names (as hls4ml and many repositories ship them): the JSON
# alone finds MODEL_weights.h5 beside it, the weights file alone finds MODEL.json, an explicit pair is
# ARCH.json+WEIGHTS.h5; each gives the reference outputs, and compare takes the pair on either side.
mkdir -p "$T/hls" "$T/pair"
cp "$T/cases/weights_only.h5" "$T/hls/model_weights.h5"; cp "$T/cases/weights_only.json" "$T/hls/model.json"
cp "$T/cases/weights_only.h5" "$T/pair/w.h5"; cp "$T/cases/weights_only.json" "$T/pair/arch.json"
pair_inputs=()
for i in 0 1 2; do [[ -f $T/cases/weights_only.in$i.npy ]] && pair_inputs+=(-i "$T/cases/weights_only.in$i.npy"); done
for spec in "$T/hls/model.json" "$T/hls/model_weights.h5" "$T/pair/arch.json+$T/pair/w.h5"; do
  rm -rf "$T/pair.out"
  if "$TF" run "$spec" "${pair_inputs[@]}" -o "$T/pair.out" >"$T/log" 2>&1 && first=$(ls "$T/pair.out" | head -1) &&
     res=$("$BUILD/tests/npy_close" "$T/pair.out/$first" "$T/cases/weights_only.out0.npy" --rel 1e-5); then
    ok "json+weights ${spec#$T/}: $res"
  else fail "json+weights ${spec#$T/}: $(tail -1 "$T/log")"; fi
done
check json-weights-compare 0 'verdict: EQUIVALENT' -- "$TF" compare "$T/hls/model.json" "$T/pair/arch.json+$T/pair/w.h5" --random 2
rm "$T/pair/w.h5"; cp "$T/cases/weights_only.json" "$T/pair/lonely.json"
check json-without-weights 2 'lonely.json: a Keras architecture JSON needs its weights: none found beside it' -- "$TF" inspect "$T/pair/lonely.json"

# Provenance and input contract.
check format 0 '^keras$' -- $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["format"])' "$T/convolutions.json"
check contract-range 0 'input_contract.image.value_range = 0,255' -- "$TF" inspect "$T/cases/preprocessing_lambda.h5"
check contract-layout 0 'input_contract.image.layout = NHWC' -- "$TF" inspect "$T/cases/preprocessing_lambda.h5"
check contract-normalization 0 'input_contract.image.normalization_mean' -- "$TF" inspect "$T/cases/preprocessing_lambda.h5"
check contract-uint8 0 'input_contract.pixels.dtype = uint8' -- "$TF" inspect "$T/cases/uint8_input.h5"
check batch-symbolic 0 'x  float32 \[batch, 9, 8, 4\]' -- "$TF" inspect "$T/cases/convolutions.h5"
check convert-onnx 0 '' -- "$TF" convert "$T/cases/shapes.h5" "$T/shapes.onnx"
check converted-runs 0 '' -- "$TF" run "$T/shapes.onnx" -i "$T/cases/shapes.in0.npy" -o "$T/shapes_onnx.out"
check converted-same 0 '' -- "$BUILD/tests/npy_close" "$T/shapes_onnx.out/up_bilinear.npy" "$T/cases/shapes.out9.npy" --rel 1e-5
check fp64 0 '' -- "$TF" run "$T/cases/convolutions.h5" -i "$T/cases/convolutions.in0.npy" --precision fp64 -o "$T/conv64"

# ---- 2. malformed and hostile files: exit 2, one message naming the file (and the layer)
B=$T/cases/bad
check no-config 2 'no_config.h5: no model_config attribute .*no_config.json' -- "$TF" inspect "$B/no_config.h5"
check missing-weight 2 "missing_bias.h5: layer 'conv' \\(Conv2D\\): weight 'bias' is missing" -- "$TF" inspect "$B/missing_bias.h5"
check wrong-shape 2 "wrong_shape.h5: layer 'conv' \\(Conv2D\\): weight 'kernel' has shape \\[3, 3, 3, 4\\], expected \\[3, 3, 2, 4\\]" -- "$TF" inspect "$B/wrong_shape.h5"
check unsupported-layer 2 "layer 'conv3d' \\(Conv3D\\): layer class Conv3D is not supported" -- "$TF" inspect "$B/unsupported_layer.h5"
check huge-dims 2 "huge_dims.h5: layer 'conv' \\(Conv2D\\): weight 'kernel': dataset .* more than the file" -- "$TF" inspect "$B/huge_dims.h5"
check dangling 2 "dangling.h5: layer 'conv': its inputs are never computed" -- "$TF" inspect "$B/dangling.h5"
check name-clash 2 "name_clash.h5: layer '.*' \\((Conv2D|Activation)\\): value name 'conv/pre_activation' is produced twice" -- "$TF" inspect "$B/name_clash.h5"
check deep-args 2 "deep_args.h5: layer 'conv': inbound node arguments nested too deeply" -- "$TF" inspect "$B/deep_args.h5"
check nested-too-deep 2 'nested_too_deep.h5: models nested more than 32 deep' -- "$TF" inspect "$B/nested_too_deep.h5"
check bad-json 2 'bad_json.h5: model_config attribute is not valid JSON' -- "$TF" inspect "$B/bad_json.h5"
check not-hdf5 2 'not_hdf5.h5: not an HDF5 file' -- "$TF" inspect "$B/not_hdf5.h5"
check truncated 2 'truncated.h5: ' -- "$TF" inspect "$B/truncated.h5"
lines=$("$TF" inspect "$B/truncated.h5" 2>&1 | wc -l)  # HDF5's own error stack is not printed
if [[ $lines -eq 1 ]]; then ok "hdf5-quiet: one line of error output"; else fail "hdf5-quiet: $lines lines of error output"; fi
# Files on which libhdf5 1.10 itself crashes (corrupt global heap behind a string attribute) or loops:
# the HDF5 part runs in a child process, so both are clean errors (found by byte-flipping a case file).
D=$ROOT/tests/data/keras
check hdf5-crash 2 'hdf5_library_crash.h5: the HDF5 library crashed reading this file' -- "$TF" inspect "$D/hdf5_library_crash.h5"
check hdf5-loop 2 'hdf5_library_loop.h5: reading the HDF5 file did not finish within 3 s' -- env TRANSFIX_HDF5_TIMEOUT=3 "$TF" inspect "$D/hdf5_library_loop.h5"
printf 'PK\003\004 a zip archive' >"$T/v3.keras"
check keras-v3-zip 2 'v3.keras: Keras v3 .keras archives are not supported' -- "$TF" inspect "$T/v3.keras"
cp "$B/no_config.h5" "$T/arch.h5"
echo '{"class_name": "Functional", "config": [' >"$T/arch.json"
check bad-arch-json 2 'arch.json is not valid JSON' -- "$TF" inspect "$T/arch.h5"

# ---- 3. shared models: .h5 vs its float TFLite conversion
M=$SHARED/mlcommons_tiny
if [[ ! -d $M ]]; then
  skip "$M not found (third-party models live beside the repo, not in it)"
else
  for name in ic_resnet8_cifar10 vww_mobilenetv1_025_96; do
    check "$name-vs-tflite" 0 'verdict: EQUIVALENT' -- "$TF" compare "$M/$name.h5" "$M/${name}_float.tflite" --random 8 --seed 3
  done
  # The autoencoder's TFLite file disagrees (max abs ~0.6 on outputs of scale ~40): its biases equal
  # beta - mean * gamma / sqrt(var + eps), i.e. each Dense layer's own bias was dropped when the
  # batch norm after it was folded in (docs/keras.md). The .h5 with its Dense biases zeroed must agree.
  check ad-vs-tflite-fault 1 'verdict: (DEGRADED|DIVERGENT)' -- "$TF" compare "$M/ad_autoencoder_toycar.h5" "$M/ad_autoencoder_toycar_float.tflite" --random 8 --seed 3
  $PY - "$M/ad_autoencoder_toycar.h5" "$T/ad_no_dense_bias.h5" <<'EOF'
import shutil, sys, h5py
shutil.copy(sys.argv[1], sys.argv[2])
with h5py.File(sys.argv[2], "a") as f:
    g = f["model_weights"]
    for name in g:
        if name.startswith("dense") and name != "dense_9":  # dense_9 has no batch norm after it
            g[name][name]["bias:0"][...] = 0
EOF
  check ad-fault-explained 0 'verdict: EQUIVALENT' -- "$TF" compare "$T/ad_no_dense_bias.h5" "$M/ad_autoencoder_toycar_float.tflite" --random 8 --seed 3
  if [[ -d $IMAGES ]]; then
    check vww-images 0 'verdict: EQUIVALENT' -- "$TF" compare "$M/vww_mobilenetv1_025_96.h5" "$M/vww_mobilenetv1_025_96_float.tflite" --images "$IMAGES" --preprocess raw01 --limit 8
    check resnet8-images 0 'verdict: EQUIVALENT' -- "$TF" compare "$M/ic_resnet8_cifar10.h5" "$M/ic_resnet8_cifar10_float.tflite" --images "$IMAGES" --preprocess raw255 --limit 8
  else
    skip "natural images: $IMAGES not found"
  fi
fi
MN=$SHARED/st_modelzoo/mobilenet_v1_0.25_224_imagenet.h5
if [[ -f $MN && -f $IMAGES/skimage_coffee.png ]]; then
  # Keras applications' MobileNet preprocessing: x / 127.5 - 1. ImageNet class 967 = espresso, 285 = Egyptian cat.
  for pair in skimage_coffee.png:967 skimage_chelsea.png:285; do
    img=${pair%%:*} want=${pair##*:}
    $PY -c 'import sys, numpy as np; from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB").resize((224, 224), Image.BILINEAR)
np.save(sys.argv[2], np.asarray(im, np.float32)[None] / 127.5 - 1)' "$IMAGES/$img" "$T/$img.npy"
    "$TF" run "$MN" -i "$T/$img.npy" -o "$T/$img.out" >/dev/null 2>&1
    got=$($PY -c 'import sys, numpy as np; print(int(np.load(sys.argv[1]).argmax()))' "$T/$img.out/predictions.npy" 2>/dev/null)
    if [[ $got == "$want" ]]; then ok "mobilenet_v1_0.25_224 $img: top-1 $got"; else fail "mobilenet_v1_0.25_224 $img: top-1 '$got', want $want"; fi
  done
else
  skip "mobilenet_v1_0.25_224_imagenet.h5 or natural images not found"
fi

echo "keras: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
