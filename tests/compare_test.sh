#!/usr/bin/env bash
# End-to-end tests of `transfix compare` on real models: an identical pair, mobilenet_v2 opset 9 vs
# opset 17 on natural images, a real conversion fault (PyTorch 1.13 exports bilinear upsampling at
# opset 9 as Upsample, which has no half-pixel mode), input-contract adaptation, skipped bad
# images, and exit codes (0 equivalent, 1 not, 2 error).
set -uo pipefail
TF=${1:?usage: compare_test.sh path/to/transfix}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
IMAGES=$CACHE/images
MOBILENET=$CACHE/fixtures/mobilenet_v2
PY=/usr/bin/python3
TINY=$ROOT/examples/tiny_cnn.onnx
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0 skipped=0

source "$(dirname "$0")/lib.sh"

json() {  # json NAME FILE PYTHON_EXPR: the expression over `r` (the report) must be true
  local name=$1 file=$2 expr=$3
  if $PY -c "import json,sys; r=json.load(open('$file')); sys.exit(0 if ($expr) else 1)"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: report $file does not satisfy: $expr"
  fi
}

skip() { skipped=$((skipped + 1)); echo "SKIP $1"; }

# ---- usage and input errors: exit 2
check no-data 2 "exactly one of" -- "$TF" compare "$TINY" "$TINY"
check two-data 2 "exactly one of" -- "$TF" compare "$TINY" "$TINY" --random 2 --npy "$T"
check missing-model 2 "does not exist" -- "$TF" compare "$TINY" "$T/nope.onnx" --random 2
check bad-preset 2 "unknown preprocessing" -- "$TF" compare "$TINY" "$TINY" --random 2 --preprocess imagenet
check bad-flip-rate 2 "max-flip-rate" -- "$TF" compare "$TINY" "$TINY" --random 2 --max-flip-rate 2
echo "not a model" > "$T/garbage.onnx"
check source-unloadable 2 "CRASH" -- "$TF" compare "$T/garbage.onnx" "$TINY" --random 2

# ---- a target that does not load is a CRASH finding (exit 1), not an abort
check target-unloadable 1 "crash: target load" -- "$TF" compare "$TINY" "$T/garbage.onnx" --random 2 --report "$T/crash.json"
json target-unloadable-report "$T/crash.json" "r['verdict'] == 'CRASH' and r['crashes'][0]['stage'] == 'load'"

# ---- identical model on random data: EQUIVALENT, exit 0, zero flips
check identical-random 0 "verdict: EQUIVALENT" -- "$TF" compare "$TINY" "$TINY" --random 5 --seed 3 --report "$T/ident.json"
json identical-random-report "$T/ident.json" \
  "r['outputs'][0]['top1']['flips'] == 0 and r['outputs'][0]['error']['max_abs'] == 0 and r['data']['samples'] == 5"

# ---- input contract: the same CNN taking NHWC input under another name
$PY - "$TINY" "$T/tiny_nhwc.onnx" <<'PYEOF'
import sys, onnx
from onnx import helper, TensorProto
m = onnx.load(sys.argv[1])
g = m.graph
old = g.input[0]
dims = [d.dim_value for d in old.type.tensor_type.shape.dim]
new = helper.make_tensor_value_info("image_nhwc", TensorProto.FLOAT, [dims[0], dims[2], dims[3], dims[1]])
node = helper.make_node("Transpose", ["image_nhwc"], [old.name], perm=[0, 3, 1, 2])
g.node.insert(0, node)
g.input.remove(old)
g.input.insert(0, new)
onnx.save(m, sys.argv[2])
PYEOF
check contract-nhwc 0 "transposed NCHW -> NHWC" -- "$TF" compare "$TINY" "$T/tiny_nhwc.onnx" --random 3 --report "$T/nhwc.json"
json contract-nhwc-report "$T/nhwc.json" \
  "r['verdict'] == 'EQUIVALENT' and any('by shape' in n for n in r['contract'])"

if [[ -f $MOBILENET/model_opset9.onnx && -f $MOBILENET/model_opset17.onnx && -d $IMAGES ]]; then
  # ---- .npy input: the fixture's preprocessed image
  check npy-input 0 "verdict: EQUIVALENT" -- "$TF" compare "$MOBILENET/model_opset17.onnx" "$MOBILENET/model_opset17.onnx" \
    --npy "$MOBILENET/input.npy" "$MOBILENET/input_2.npy" --calibration-samples 1

  # ---- mobilenet_v2 opset 9 vs opset 17 on natural images (first 8, calibrated on the first 4)
  check mobilenet-opsets 0 "output 'output' \[1, 1000\] classification: EQUIVALENT" -- \
    "$TF" compare "$MOBILENET/model_opset9.onnx" "$MOBILENET/model_opset17.onnx" --images "$IMAGES" --limit 8 \
    --calibration-samples 4 --report "$T/mobilenet.json" --per-sample
  json mobilenet-opsets-report "$T/mobilenet.json" \
    "r['verdict'] == 'EQUIVALENT' and r['data']['samples'] == 8 and r['calibration']['samples'] == 4 \
     and r['outputs'][0]['top1']['flips_beyond_noise'] == 0 and r['outputs'][0]['noise_floor']['max_abs'] > 0 \
     and len(r['per_sample']) == 8 and r['source']['preprocess']['crop'] == [224, 224]"

  # ---- a bad image in the folder is skipped, counted and listed
  mkdir -p "$T/imgs/sub"
  cp "$IMAGES/skimage_chelsea.png" "$IMAGES/opencv_squirrel_cls.jpg" "$T/imgs/"
  cp "$IMAGES/skimage_coffee.png" "$T/imgs/sub/"
  echo "this is not a jpeg" > "$T/imgs/sub/broken.jpg"
  head -c 3000 "$IMAGES/opencv_baboon.jpg" > "$T/imgs/truncated.jpg"
  echo "notes" > "$T/imgs/README.txt"
  check bad-images 0 "3 compared, 2 skipped" -- "$TF" compare "$MOBILENET/model_opset17.onnx" "$MOBILENET/model_opset17.onnx" \
    --images "$T/imgs" --calibration-samples 1 --report "$T/bad.json"
  json bad-images-report "$T/bad.json" \
    "r['data']['samples'] == 3 and sorted(s['id'] for s in r['data']['skipped']) == ['sub/broken.jpg', 'truncated.jpg'] \
     and r['data']['ignored_files'] == 1"
else
  skip "mobilenet_v2 fixture or natural images missing (make fixtures)"
fi

# ---- a real conversion fault: bilinear upsampling exported at opset 9 (Upsample, asymmetric
# coordinates) vs opset 11 (Resize, half_pixel = what PyTorch computes)
if $PY -c "import torch" 2>/dev/null; then
  $PY - "$T" <<'PYEOF' 2>/dev/null
import sys, torch, torch.nn as nn
torch.manual_seed(0)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv2 = nn.Conv2d(8, 5, 3, padding=1)
        self.fc = nn.Linear(5, 10)
    def forward(self, x):
        y = self.conv2(self.up(torch.relu(self.conv1(x))))
        return y, self.fc(y.mean(dim=(2, 3)))
m = Net().eval()
x = torch.rand(1, 3, 32, 32)
for opset in (9, 11):
    torch.onnx.export(m, x, f"{sys.argv[1]}/upsample_opset{opset}.onnx", opset_version=opset,
                      input_names=["input"], output_names=["seg", "logits"])
PYEOF
  DATA=(--random 4)
  [[ -d $IMAGES ]] && DATA=(--images "$IMAGES" --limit 4 --preprocess raw01)
  check upsample-correct 0 "verdict: EQUIVALENT" -- "$TF" compare "$T/upsample_opset11.onnx" "$T/upsample_opset11.onnx" "${DATA[@]}"
  check upsample-fault 1 "output 'seg' \[1, 5, 64, 64\] dense: (DEGRADED|DIVERGENT)" -- \
    "$TF" compare "$T/upsample_opset11.onnx" "$T/upsample_opset9.onnx" "${DATA[@]}" --report "$T/upsample.json"
  json upsample-fault-report "$T/upsample.json" \
    "r['verdict'] != 'EQUIVALENT' and r['exit_code'] == 1 and r['outputs'][0]['error_in_noise_units']['max_abs'] > 1000"
  # A loose user tolerance accepts it; the calibrated verdict does not.
  check upsample-user-tolerance 0 "verdict: EQUIVALENT" -- \
    "$TF" compare "$T/upsample_opset11.onnx" "$T/upsample_opset9.onnx" "${DATA[@]}" --atol 1 --max-flip-rate 1
else
  skip "torch not available in $PY"
fi

# --shard I/N + merge: three shards of 9 random samples, merged, give what one run over all 9 gives
# (calibration covers every sample in both, so the noise floors agree too); and bad merges are refused.
"$TF" mutate "$TINY" --fault weights-int8 -o "$T/tiny_int8.onnx" >/dev/null
SHARDED=(compare "$TINY" "$T/tiny_int8.onnx" --random 9 --seed 5 --calibration-samples 9)
"$TF" "${SHARDED[@]}" --report "$T/full.json" >/dev/null
for i in 1 2 3; do "$TF" "${SHARDED[@]}" --shard "$i/3" --report "$T/shard$i.json" >/dev/null; done
check merge-shards 1 "3 shard reports merged\): 9 compared" -- "$TF" merge "$T/shard1.json" "$T/shard2.json" "$T/shard3.json" \
  --report "$T/merged.json"
json merge-equals-full "$T/merged.json" "(lambda f, m: f['verdict'] == m['verdict'] and f['data']['samples'] == m['data']['samples'] == 9
  and f['outputs'][0]['error']['max_abs'] == m['outputs'][0]['error']['max_abs']
  and abs(f['outputs'][0]['error']['mean_abs'] - m['outputs'][0]['error']['mean_abs']) <= 1e-12 * f['outputs'][0]['error']['mean_abs']
  and f['outputs'][0]['noise_floor']['max_abs'] == m['outputs'][0]['noise_floor']['max_abs']
  and f['outputs'][0]['top1']['flips_beyond_noise'] == m['outputs'][0]['top1']['flips_beyond_noise']
  and m['shard'] == {'index': 0, 'count': 3, 'merged_reports': 3})(__import__('json').load(open('$T/full.json')), r)"
json shard-samples "$T/shard2.json" "r['data']['samples'] == 3 and r['shard']['index'] == 1 and r['shard']['count'] == 3"
check merge-repeated-shard 2 "repeats shard 1 of 3" -- "$TF" merge "$T/shard1.json" "$T/shard1.json"
check merge-other-models 2 "compares other models" -- "$TF" merge "$T/shard1.json" "$T/ident.json"
check bad-shard 2 "--shard must be I/N" -- "$TF" compare "$TINY" "$TINY" --random 2 --shard 4/3

# --target-runtime / --source-runtime ort: the same comparisons with ONNX Runtime running a side. The
# verdicts agree with transfix's own runs and the numbers stay at the noise floor apart.
check ort-target 1 "run by ort" -- "$TF" compare "$TINY" "$T/tiny_int8.onnx" --random 4 --seed 2 --target-runtime ort \
  --report "$T/ort.json"
"$TF" compare "$TINY" "$T/tiny_int8.onnx" --random 4 --seed 2 --report "$T/own.json" >/dev/null
json ort-target-agrees "$T/ort.json" "(lambda a, b: a['verdict'] == b['verdict'] == 'DEGRADED' and a['target']['runtime'] == 'ort'
  and abs(a['outputs'][0]['error']['max_abs'] - b['outputs'][0]['error']['max_abs']) <= 8 * b['outputs'][0]['noise_floor']['max_abs'])(
  r, __import__('json').load(open('$T/own.json')))"
check ort-both-sides 0 "verdict: EQUIVALENT" -- "$TF" compare "$TINY" "$TINY" --random 3 --source-runtime ort --target-runtime ort
"$TF" convert "$TINY" "$T/tiny.tflite" >/dev/null
check ort-not-onnx 2 "error: --target-runtime ort runs ONNX models; .*tiny.tflite is TFLite" -- \
  "$TF" compare "$TINY" "$T/tiny.tflite" --random 2 --target-runtime ort
check bad-runtime 2 "must be transfix, ort, litert, armnn or libtorch" -- "$TF" compare "$TINY" "$TINY" --random 2 --target-runtime tflite

# Quantized targets: the error is split into the target's own activation quantization (target vs its
# float twin) and the rest (float twin vs source). MLPerf Tiny's VWW float and int8 TFLite files are the
# same network: flips must not come from the rest. With the target fed the wrong preprocessing ([-1, 1]
# instead of [0, 1]), the quantization part stays as it was and the flips are all in the rest.
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
VWW=$SHARED/mlcommons_tiny/vww_mobilenetv1_025_96
if [[ -f ${VWW}_int8.tflite && -d $IMAGES ]]; then
  # A clean int8 conversion is judged against int8 simulated on the source: EQUIVALENT within it.
  check quant-split 0 "verdict: EQUIVALENT within int8" -- \
    "$TF" compare "${VWW}_float.tflite" "${VWW}_int8.tflite" --images "$IMAGES" --preprocess raw01 --report "$T/quant.json"
  json quant-split-report "$T/quant.json" \
    "(lambda q, p: q['quantization']['max_abs'] > 1e-3 and q['conversion']['max_abs'] > 0 and q['conversion_flips'] == 0
       and 0.2 < q['quantization_share'] < 0.8 and p['precision'] == 'int8' and p['within']
       and r['outputs'][0]['error']['max_abs'] <= 2 * p['simulated']['max_abs'] + r['outputs'][0]['tolerance']['abs']
       and 0 < p['simulated_weights']['max_abs'] < p['simulated']['max_abs'])(r['outputs'][0]['quantization_split'], r['outputs'][0]['intended_precision'])"
  check quant-split-preprocessing 1 "verdict: DIVERGENT" -- \
    "$TF" compare "${VWW}_float.tflite" "${VWW}_int8.tflite" --images "$IMAGES" --source-preprocess raw01 \
    --target-preprocess keras-tf --report "$T/quant_pre.json"
  json quant-split-preprocessing-report "$T/quant_pre.json" \
    "(lambda q, p: q['conversion_flips'] > 0 and q['quantization_flips'] == 0 and q['conversion']['max_abs'] > 5 * p['conversion']['max_abs']
       and q['quantization']['max_abs'] < 3 * p['quantization']['max_abs'])(r['outputs'][0]['quantization_split'],
       __import__('json').load(open('$T/quant.json'))['outputs'][0]['quantization_split'])"
  json float-target-no-split "$T/ident.json" "all('quantization_split' not in o for o in r['outputs'])"
  # TOCO's uint8 MobileNet v1 writes every ReLU6 only as the conv outputs' range [0, 6] (no fused
  # activation): the float twin must clamp there too, or it is an unbounded network whose outputs have
  # nothing to do with the target's (before: twin vs target max abs 1, SNR -0.7 dB, 16 of 16 top-1
  # changes). Its float sibling is a separately trained network, so the rest is large either way; yet
  # smaller than post-training uint8 quantization of the float network costs (its simulation): the
  # retrained weights quantize better, and compare calls it EQUIVALENT within uint8 (localize says
  # the weights differ beyond their rounding).
  MV1=$SHARED/tflite2onnx/mobilenet_v1_0.25_128
  if [[ -f ${MV1}_quant.tflite ]]; then
    check quant-split-range-relu6 0 "verdict: EQUIVALENT within uint8" -- \
      "$TF" compare "${MV1}.tflite" "${MV1}_quant.tflite" --images "$IMAGES" --limit 16 --preprocess raw01 --report "$T/mv1.json"
    json quant-split-range-relu6-report "$T/mv1.json" \
      "(lambda q: q['quantization']['snr_db'] > 10 and q['quantization_flips'] <= 4)(r['outputs'][0]['quantization_split'])"
  fi
else
  skip "quantization split: ${VWW}_int8.tflite or $IMAGES missing"
fi

# A float16 target (every weight and activation float16, float32 inputs and outputs through Casts, as
# float16 converters write it): its error is split into the float16 arithmetic (target vs its float32
# twin: weights, Casts and Constants widened) and the rest. A kernel transposed on top of it must land in
# the rest, ten times the intended part and ten times the clean conversion's rest.
if $PY -c "import onnx" 2>/dev/null; then
  $PY "$ROOT/tests/make_fp16_onnx.py" "$TINY" "$T/fp16.onnx" "$T/fp16_bad.onnx"
  check fp16-split 0 "verdict: EQUIVALENT within float16" -- \
    "$TF" compare "$TINY" "$T/fp16.onnx" --random 16 --report "$T/fp16.json"
  json fp16-split-report "$T/fp16.json" \
    "(lambda q: 1e-6 < q['quantization']['max_abs'] < 1e-3 and q['conversion']['max_abs'] < 1e-3)(r['outputs'][0]['quantization_split'])"
  check fp16-fault-beyond-float16 1 "beyond float16" -- "$TF" compare "$TINY" "$T/fp16_bad.onnx" --random 16 --report "$T/fp16_bad.json"
  json fp16-split-fault-in-rest "$T/fp16_bad.json" \
    "(lambda q, c: q['conversion']['max_abs'] > 10 * q['quantization']['max_abs'] and q['conversion']['max_abs'] > 10 * c['conversion']['max_abs'])(
       r['outputs'][0]['quantization_split'], __import__('json').load(open('$T/fp16.json'))['outputs'][0]['quantization_split'])"
else
  skip "float16 split: python3-onnx missing"
fi

echo "compare tests: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
