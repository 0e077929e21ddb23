#!/usr/bin/env bash
# Quantized (int8 / uint8) one-op TFLite models (the q_* cases of tests/tflite_ops/make_op_models.py,
# FlatBuffers JSON compiled by flatc, not written by transfix): LOGISTIC, TANH, HARD_SWISH, RELU,
# RELU6, RELU_N1_TO_1, LEAKY_RELU, MEAN, SUM, REDUCE_MAX, SUB and uint8 DIV (constant second operand,
# with and without fused RELU), and a squeeze-excite block chaining HARD_SWISH, MEAN,
# LOGISTIC and MUL. The input holds every integer of its type (shuffled, seed 3).
# Also the 16x8 models of tests/tflite_ops/make_int16_models.py (q16_*: int16 activations, int8
# weights, int64 / int32 bias: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL, MAX_POOL_2D,
# AVERAGE_POOL_2D and a small network), on uniform random int16 inputs (seed 3); the interpreter
# runs them in its built-in kernels (XNNPACK takes no int16), so both integer modes must match it.
#  - transfix --quant-mode int-xnnpack must equal the TFLite interpreter (tools/node/tflite_run.js)
#    bit for bit, and so must --quant-mode int, except for the cases the interpreter's XNNPACK
#    delegate takes (LOGISTIC, LEAKY_RELU, MEAN over H, W: XNNPACK_CASES, checked against the
#    interpreter's profile), where int (TFLite's built-in kernels' arithmetic) is reported, not asserted;
#  - --quant-mode dequantized (float, outputs rounded to their grid) within DEQ_STEPS (1) steps;
#  - transfix convert: the TFLite interpreter gives bit-identical outputs on the written file, and
#    so does transfix; flatc's dump of it keeps every tensor's type, shape and quantization;
#  - Arm NN (build/armnn_run, when built) is reported against TFLite, not asserted.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: tflite_quant_ops_test.sh BUILD_DIR}" && pwd)
DEQ_STEPS=${DEQ_STEPS:-1}
XNNPACK_CASES='^q_(logistic|leaky_relu|mean_hw|mean_same_quant|squeeze_excite|sub|elu|requantize|resize_bilinear)'
# uint8 DIV: for a dividend of magnitude 1 or 2 and a divisor of 128 steps or more, the interpreter's
# rounding shift reaches 32 bits and wraps (see quantized_div); the integer modes reproduce it, the
# float simulation cannot: dequantized is reported, not asserted, for these cases.
# int16 CONCATENATION copies integers whatever the inputs' scales (see quantized_concat); the float
# simulation rescales them, as the scales say. int16 RESIZE_BILINEAR 4x8 -> 7x13: TFLite's 10-bit
# position scales (585/1024 for 4/7) move the sample points by up to ~0.002 pixel; between neighbours a
# random int16 input makes up to 65535 steps apart that is ~100 steps, which the float simulation,
# sampling at the exact positions, does not have.
DEQ_QUIRK_CASES='^(q_div_|q16_concat_rescaled|q16_resize_bilinear$)'
# int16 SOFTMAX: TFLite's exp table stops at -10 (exp(-10) is about 1.5 output steps of 1/32768), so
# every element far below its row's maximum still adds about one step to the sum: with 100 elements a
# row's largest probability comes out ~0.1% low. The float simulation has no such floor: up to
# DEQ_SOFTMAX16_STEPS steps apart (43 measured on q16_softmax_beta_wide).
DEQ_SOFTMAX16_STEPS=64
# int16 LOGISTIC / TANH interpolate a 256-entry table: 2 steps of 2^-15 from the float functions
# (measured), 11 where the interpreter takes gemmlowp's path (next lines).
DEQ_TABLE16_STEPS=12
# int16 LOGISTIC / TANH with an input scale of exactly 2^-12: the interpreter takes gemmlowp's
# fixed-point path there, transfix its table path (quantized_lut.cpp): within INT_POT16_STEPS.
INT_POT16_CASES='^q16_(logistic|tanh)_pot_scale'
INT_POT16_STEPS=12
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$ROOT/tests/tflite_ops/make_op_models.py" "$T" || exit 1
/usr/bin/python3 "$ROOT/tests/tflite_ops/make_int16_models.py" "$T" || exit 1
passed=0 failed=0
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# steps MODEL_JSON A.npy B.npy: max |A - B| in output quantization steps and how many elements
# differ; a float file holds dequantized values (on the output grid) and is read back in steps.
steps() {
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
import numpy as np
m = json.load(open(sys.argv[1]))
g = m["subgraphs"][0]
q = g["tensors"][g["outputs"][0]].get("quantization")  # none on a float output (DEQUANTIZE): compared as is
def load(f):
    a = np.load(f)
    if a.dtype.kind == "f" and q:
        a = np.round(a.astype(np.float64) / np.float32(q["scale"][0])) + q["zero_point"][0]
    return a.astype(np.float64)
a, b = load(sys.argv[2]), load(sys.argv[3])
if a.shape != b.shape:
    print("shape %s vs %s" % (a.shape, b.shape)); sys.exit()
d = np.abs(a - b)
print("%g %d/%d" % (d.max(), (d > 0).sum(), d.size))
PY
}

for json in "$T"/q_*.json "$T"/q16_*.json; do
  name=$(basename "$json" .json)
  flatc -b -o "$T" "$ROOT/src/formats/tflite/tflite_schema.fbs" "$json" || { fail "$name: flatc"; continue; }
  model="$T/$name.tflite"
  /usr/bin/python3 -c 'import json, sys
import numpy as np
t = json.load(open(sys.argv[1]))["subgraphs"][0]["tensors"][0]
dtype = {"INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16, "FLOAT32": np.float32}[t["type"]]
rng = np.random.default_rng(3)
if dtype == np.float32:  # QUANTIZE from float: about +-12, beyond the int16 range of its 0.0003 step
    x = rng.normal(0, 4, size=int(np.prod(t["shape"])))
elif dtype == np.int16:
    x = rng.integers(-32768, 32768, size=int(np.prod(t["shape"])))
else:
    x = np.arange(int(np.prod(t["shape"]))) % 256 + np.iinfo(dtype).min
    rng.shuffle(x)
np.save(sys.argv[2], x.astype(dtype).reshape(t["shape"]))' "$json" "$T/$name.x.npy"
  ok=1
  for mode in int int-xnnpack dequantized; do
    "$BUILD/transfix" run "$model" -i "x=$T/$name.x.npy" --quant-mode $mode -o "$T/$name.$mode" >"$T/log" 2>&1 ||
      { fail "$name: transfix --quant-mode $mode: $(tail -1 "$T/log")"; ok=0; }
  done
  [[ $ok == 1 ]] || continue
  node "$ROOT/tools/node/tflite_run.js" "$model" --input "x=$T/$name.x.npy" --output-dir "$T/$name.ref" --profile >"$T/log" 2>&1 ||
    { fail "$name: TFLite: $(tail -1 "$T/log")"; continue; }
  # The interpreter's profile must show the XNNPACK delegate exactly for the XNNPACK_CASES.
  delegated=0; grep -q '"executed_nodes":\[[^]]*TfLiteXNNPackDelegate' "$T/log" && delegated=1
  expected=0; [[ $name =~ $XNNPACK_CASES ]] && expected=1
  [[ $delegated == "$expected" ]] || { fail "$name: XNNPACK delegate used: $delegated, expected $expected ($(tail -1 "$T/log"))"; continue; }
  read -r xnn_steps xnn_count < <(steps "$json" "$T/$name.int-xnnpack/y0.npy" "$T/$name.ref/y0.npy")
  read -r int_steps int_count < <(steps "$json" "$T/$name.int/y0.npy" "$T/$name.ref/y0.npy")
  read -r deq_steps deq_count < <(steps "$json" "$T/$name.dequantized/y0.npy" "$T/$name.ref/y0.npy")
  summary="int-xnnpack $xnn_steps steps ($xnn_count), int $int_steps ($int_count), dequantized $deq_steps ($deq_count)"
  if [[ $name =~ $INT_POT16_CASES ]]; then
    awk -v a="$xnn_steps" -v b="$int_steps" -v m="$INT_POT16_STEPS" 'BEGIN { exit !(a <= m && b <= m) }' ||
      { fail "$name: integer modes vs TFLite beyond $INT_POT16_STEPS steps: $summary"; continue; }
  else
    [[ $xnn_steps == 0 ]] || { fail "$name: int-xnnpack vs TFLite: $summary"; continue; }
    if [[ $int_steps != 0 ]] && ! [[ $name =~ $XNNPACK_CASES ]]; then fail "$name: int vs TFLite: $summary"; continue; fi
  fi
  deq_limit=$DEQ_STEPS
  [[ $name == q16_softmax* ]] && deq_limit=$DEQ_SOFTMAX16_STEPS
  [[ $name =~ ^q16_(logistic|tanh) ]] && deq_limit=$DEQ_TABLE16_STEPS
  # Float probabilities (DEQUANTIZE of an int16 SOFTMAX), compared as they are: the SOFTMAX's steps.
  [[ $name == q16_classifier ]] && deq_limit=$(awk -v s="$DEQ_SOFTMAX16_STEPS" 'BEGIN { print s / 32768 }')
  awk -v s="$deq_steps" -v m="$deq_limit" 'BEGIN { exit !(s <= m) }' || [[ $name =~ $DEQ_QUIRK_CASES ]] ||
    { fail "$name: dequantized vs TFLite: $summary"; continue; }
  "$BUILD/transfix" convert "$model" "$T/$name.written.tflite" >"$T/log" 2>&1 || { fail "$name: convert: $(tail -1 "$T/log")"; continue; }
  node "$ROOT/tools/node/tflite_run.js" "$T/$name.written.tflite" --input "x=$T/$name.x.npy" --output-dir "$T/$name.back" >"$T/log" 2>&1 ||
    { fail "$name: TFLite on the written file: $(tail -1 "$T/log")"; continue; }
  cmp -s "$T/$name.ref/y0.npy" "$T/$name.back/y0.npy" || { fail "$name: TFLite gives other outputs on the written file"; continue; }
  "$BUILD/transfix" run "$T/$name.written.tflite" -i "x=$T/$name.x.npy" --quant-mode int-xnnpack -o "$T/$name.tback" >"$T/log" 2>&1 ||
    { fail "$name: transfix on the written file: $(tail -1 "$T/log")"; continue; }
  cmp -s "$T/$name.int-xnnpack/y0.npy" "$T/$name.tback/y0.npy" || { fail "$name: transfix gives other outputs on the written file"; continue; }
  # Tensor types, shapes and quantization kept, from flatc's JSON dumps of both files (flatc prints
  # floats to 6 decimals, so both sides go through it).
  flatc --json --strict-json --raw-binary -o "$T/dump" "$ROOT/src/formats/tflite/tflite_schema.fbs" -- "$model" "$T/$name.written.tflite" 2>/dev/null
  facts=$(/usr/bin/python3 "$ROOT/tests/tflite_ops/same_file_facts.py" "$T/dump/$name.json" "$T/dump/$name.written.json") ||
    { fail "$name: $facts"; continue; }
  armnn=""
  if [[ -x $BUILD/armnn_run ]]; then
    if "$BUILD/armnn_run" "$model" --input "x=$T/$name.x.npy" --output-dir "$T/$name.armnn" >"$T/log" 2>&1; then
      armnn="; Arm NN vs TFLite: $(steps "$json" "$T/$name.armnn/y0.npy" "$T/$name.ref/y0.npy") steps"
    else
      armnn="; Arm NN cannot run it: $(grep -v '^\s*$' "$T/log" | tail -1)"
    fi
  fi
  passed=$((passed + 1)); echo "ok   $name: vs TFLite: $summary; written file == original ($facts)$armnn"
done
echo "tflite quantized ops: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
