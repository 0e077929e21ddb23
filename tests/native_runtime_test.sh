#!/usr/bin/env bash
# compare --target-runtime armnn and --source-runtime libtorch: the same comparisons with Arm NN
# (tools/armnn_run, CpuRef) or libtorch (tools/torch_run) running a side instead of transfix's
# interpreter. Verdicts must agree with the interpreter's, and the runtime's error must stay within a
# few noise floors of the interpreter's (numbers read from the JSON reports); a mutated target stays
# not equivalent; a runtime given the wrong format is refused (exit 2). Shared-model cases skip when
# ../shared/models is absent; Arm NN cases when armnn_run was not built.
set -uo pipefail
BUILD=$(cd "${1:?usage: native_runtime_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
MOBILENET=$CACHE/fixtures/mobilenet_v2
IMAGES=$CACHE/images
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0 skipped=0
source "$(dirname "$0")/lib.sh"

skip() { skipped=$((skipped + 1)); echo "SKIP $1"; }

# agree NAME NATIVE.json OWN.json VERDICTS FACTOR: both reports have the same verdict, one of VERDICTS
# (a|b), the native one names its runtime, and every output's max abs error differs by at most FACTOR x
# the interpreter run's noise floor (or 1% of that error, for targets far from equivalent); FACTOR "Nq":
# N quantization steps of the target's output.
agree() {
  local name=$1 native=$2 own=$3 verdict=$4 factor=$5
  if $PY - "$native" "$own" "$verdict" "$factor" <<'EOF'; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name"; fi
import json, re, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
verdict, factor = sys.argv[3], sys.argv[4]
native = [s for s in ("source", "target") if a[s]["runtime"] != "transfix"]
ok = a["verdict"] == b["verdict"] and re.fullmatch(verdict, a["verdict"]) and len(native) == 1 and a[native[0]].get("runtime_version")
for i, (oa, ob) in enumerate(zip(a["outputs"], b["outputs"])):
    d = abs(oa["error"]["max_abs"] - ob["error"]["max_abs"])
    floor, unit = ob["noise_floor"]["max_abs"], "noise floors"
    if factor.endswith("q"):
        floor, unit = a["target"]["outputs"][i]["quant"]["scale"][0], "output steps"
    print("  %s %s: run by %s, max abs %.3g vs %.3g with the interpreter (difference %.2f %s of %.3g)" % (
        sys.argv[1].split("/")[-1], oa["source_name"], a[native[0]]["runtime"] + " " + a[native[0]]["runtime_version"], oa["error"]["max_abs"],
        ob["error"]["max_abs"], d / floor if floor else (0 if d == 0 else float("inf")), unit, floor))
    factor = float(factor.rstrip("q"))
    ok = ok and (d <= factor * floor or d <= 0.01 * ob["error"]["max_abs"])
print("  verdicts: %s (native) / %s (interpreter), want %s" % (a["verdict"], b["verdict"], verdict))
sys.exit(0 if ok else 1)
EOF
}

# twice NAME VERDICT FACTOR -- compare args...: runs the comparison with the native runtime option given
# and without it, and checks they agree.
twice() {
  local name=$1 verdict=$2 factor=$3
  shift 4
  "$TF" compare "$@" --report "$T/$name.native.json" >"$T/$name.log" 2>&1
  local args=() skip_next=0
  for a in "$@"; do  # the same command without --*-runtime X
    if ((skip_next)); then skip_next=0; continue; fi
    if [[ $a == --source-runtime || $a == --target-runtime ]]; then skip_next=1; continue; fi
    args+=("$a")
  done
  "$TF" compare "${args[@]}" --report "$T/$name.own.json" >>"$T/$name.log" 2>&1
  agree "$name" "$T/$name.native.json" "$T/$name.own.json" "$verdict" "$factor" || tail -5 "$T/$name.log"
}

# ---- wrong formats and unknown runtimes: exit 2, one line
TINY=$ROOT/examples/tiny_cnn.onnx
check armnn-onnx 2 "^transfix: error: --target-runtime armnn runs TFLite models; .*tiny_cnn.onnx is ONNX$" -- \
  "$TF" compare "$TINY" "$TINY" --random 2 --target-runtime armnn
check libtorch-onnx 2 "^transfix: error: --source-runtime libtorch runs TorchScript models; .*tiny_cnn.onnx is ONNX$" -- \
  "$TF" compare "$TINY" "$TINY" --random 2 --source-runtime libtorch
"$TF" convert "$TINY" "$T/tiny.tflite" >/dev/null
check ort-tflite 2 "^transfix: error: --target-runtime ort runs ONNX models; .*tiny.tflite is TFLite$" -- \
  "$TF" compare "$TINY" "$T/tiny.tflite" --random 2 --target-runtime ort
mkdir -p "$T/no_tools"
check armnn-not-built 2 "^transfix: error: --target-runtime armnn: armnn_run was not built" -- \
  env TRANSFIX_TOOLS_DIR="$T/no_tools" "$TF" compare "$T/tiny.tflite" "$T/tiny.tflite" --random 2 --target-runtime armnn
check unknown-runtime 2 "must be transfix, ort, litert, armnn or libtorch" -- \
  "$TF" compare "$TINY" "$TINY" --random 2 --source-runtime tflite

# ---- libtorch: TorchScript fixture vs its ONNX export, natural images
if [[ -f $MOBILENET/model.pt ]]; then
  twice libtorch-mobilenet EQUIVALENT 4 -- "$MOBILENET/model.pt" "$MOBILENET/model_opset17.onnx" --images "$IMAGES" \
    --limit 4 --source-runtime libtorch
  check libtorch-not-built 2 "^transfix: error: --source-runtime libtorch: torch_run was not found" -- env \
    TRANSFIX_TOOLS_DIR="$T/no_tools" "$TF" compare "$MOBILENET/model.pt" "$MOBILENET/model.pt" --random 1 --source-runtime libtorch
  # The model against itself: libtorch vs the interpreter directly.
  twice libtorch-self EQUIVALENT 4 -- "$MOBILENET/model.pt" "$MOBILENET/model.pt" --images "$IMAGES" --limit 2 \
    --source-runtime libtorch
  # The negative check: a conv's output channels permuted in the ONNX target.
  "$TF" mutate "$MOBILENET/model_opset17.onnx" --fault channel-permutation --seed 1 -o "$T/mnv2_perm.onnx" >/dev/null
  twice libtorch-mutated "DIVERGENT|DEGRADED" 0 -- "$MOBILENET/model.pt" "$T/mnv2_perm.onnx" --images "$IMAGES" --limit 4 \
    --source-runtime libtorch
else
  skip "libtorch: $MOBILENET/model.pt missing (make fixtures)"
fi

# ---- armnn
if [[ ! -x $BUILD/armnn_run ]]; then
  skip "armnn: $BUILD/armnn_run not built (Arm NN not found)"
else
  # A fixture converted by transfix, Arm NN running the converted file.
  if [[ -f $MOBILENET/model_opset17.onnx ]]; then
    "$TF" convert "$MOBILENET/model_opset17.onnx" "$T/mnv2.tflite" >/dev/null
    twice armnn-mobilenet EQUIVALENT 4 -- "$MOBILENET/model_opset17.onnx" "$T/mnv2.tflite" --images "$IMAGES" --limit 2 \
      --target-runtime armnn
    "$TF" mutate "$T/mnv2.tflite" --fault weights-transposed --seed 1 -o "$T/mnv2_wt.tflite" >/dev/null
    twice armnn-mutated "DIVERGENT|DEGRADED" 0 -- "$MOBILENET/model_opset17.onnx" "$T/mnv2_wt.tflite" --images "$IMAGES" \
      --limit 2 --target-runtime armnn
  else
    skip "armnn fixture: $MOBILENET/model_opset17.onnx missing (make fixtures)"
  fi
  if [[ -d $SHARED/mlcommons_tiny ]]; then
    RESNET8=$SHARED/mlcommons_tiny/ic_resnet8_cifar10
    # float: the model against itself, Arm NN running the target
    twice armnn-float EQUIVALENT 4 -- "${RESNET8}_float.tflite" "${RESNET8}_float.tflite" --random 4 --target-runtime armnn
    # int8 (int8 input and output tensors: quantized by compare's contract, dequantized back): the model
    # against itself, then against its float original. Arm NN requantizes with a float multiplier (as
    # TFLite's XNNPACK delegate), the interpreter's default int mode as TFLite's built-in kernels: on
    # resnet8 that is up to 15 output steps apart (docs/tflite.md); vww is bit-exact on random inputs.
    VWW=$SHARED/mlcommons_tiny/vww_mobilenetv1_025_96
    twice armnn-int8-self EQUIVALENT 0 -- "${VWW}_int8.tflite" "${VWW}_int8.tflite" --random 4 --target-runtime armnn
    twice armnn-int8 DEGRADED 4q -- "${RESNET8}_float.tflite" "${RESNET8}_int8.tflite" --random 4 --target-runtime armnn
    # On natural images the int8 VWW model under Arm NN is 6 output steps from the interpreter's int mode
    # but within one step of --quant-mode int-xnnpack, which compare accepts for an integer output (its
    # tolerance is at least one step of the source's output grid).
    if [[ -d $IMAGES ]]; then
      check armnn-int8-images-int 1 "verdict: DEGRADED" -- "$TF" compare "${VWW}_int8.tflite" "${VWW}_int8.tflite" \
        --images "$IMAGES" --preprocess raw01 --target-runtime armnn
      check armnn-int8-images-xnnpack 0 "int-xnnpack arithmetic" -- "$TF" compare "${VWW}_int8.tflite" "${VWW}_int8.tflite" \
        --images "$IMAGES" --preprocess raw01 --target-runtime armnn --quant-mode int-xnnpack --report "$T/xnn.json"
      if $PY -c "import json,sys; r=json.load(open('$T/xnn.json')); o=r['outputs'][0]
sys.exit(0 if r['source']['quant_mode'] == 'int-xnnpack' and 'quant_mode' not in r['target'] and o['tolerance']['quantization_step'] == 1/256
         and 0 < o['error']['max_abs'] <= o['tolerance']['abs'] else 1)"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL armnn-int8-images-xnnpack report"; fi
    else
      skip "int-xnnpack vs Arm NN on natural images: $IMAGES missing"
    fi
    # uint8 (TOCO's MobileNet v1 0.25): Arm NN is 1-2 steps off TFLite here (tests/armnn_expected.tsv).
    MNV1=$SHARED/tflite2onnx/mobilenet_v1_0.25_128
    twice armnn-uint8 DEGRADED 8q -- "$MNV1.tflite" "${MNV1}_quant.tflite" --random 3 --target-runtime armnn
    # A model Arm NN 20.08 cannot parse: the target's prepare crash, with Arm NN's message.
    check armnn-refuses 1 "crash: target prepare: Arm NN could not load the model: .*PRELU" -- \
      "$TF" compare "$SHARED/tflite2onnx_ops/prelu.float32.tflite" "$SHARED/tflite2onnx_ops/prelu.float32.tflite" \
      --random 2 --target-runtime armnn
  else
    skip "armnn shared models: $SHARED/mlcommons_tiny not found"
  fi
fi

# ---- litert (the TFLite / LiteRT interpreter, default kernels with XNNPACK) and ort (ONNX Runtime)
source "$ROOT/tests/runtimes.sh"
check litert-onnx 2 "^transfix: error: --target-runtime litert runs TFLite models; .*tiny_cnn.onnx is ONNX$" -- \
  "$TF" compare "$TINY" "$TINY" --random 2 --target-runtime litert
# Without its Python package the runtime is refused in one line naming what to install, exit 2.
python3 -m venv --without-pip "$T/empty_venv"
check litert-missing 2 "^transfix: error: --target-runtime litert: LiteRT is not installed: .* cannot import ai-edge-litert and numpy; run scripts/deps.sh" -- \
  env TRANSFIX_PYTHON="$T/empty_venv/bin/python" "$TF" compare "$T/tiny.tflite" "$T/tiny.tflite" --random 2 --target-runtime litert
check ort-missing 2 "^transfix: error: --target-runtime ort: ONNX Runtime is not installed: .* cannot import onnxruntime and numpy; run scripts/deps.sh" -- \
  env TRANSFIX_PYTHON="$T/empty_venv/bin/python" "$TF" compare "$TINY" "$TINY" --random 2 --target-runtime ort
check python-missing 2 "^transfix: error: --source-runtime ort: no Python interpreter at '/nonexistent/python'" -- \
  env TRANSFIX_PYTHON=/nonexistent/python "$TF" compare "$TINY" "$TINY" --random 2 --source-runtime ort
# ONNX Runtime's offline optimization writes its fused contrib ops (com.microsoft FusedConv: Conv + Relu
# here) into the saved model: transfix reads them as the ops they fuse, and agrees with ORT on the file.
"$PYRT" -c 'import sys, onnxruntime as ort
o = ort.SessionOptions(); o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
o.optimized_model_filepath = sys.argv[2]; ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])' \
  "$TINY" "$T/tiny_ort_opt.onnx"
check ort-optimized-has-fusedconv 0 "FusedConv" -- "$PY" -c 'import onnx, sys
print([n.op_type for n in onnx.load(sys.argv[1]).graph.node])' "$T/tiny_ort_opt.onnx"
check ort-optimized-reads 0 "verdict: EQUIVALENT" -- "$TF" compare "$TINY" "$T/tiny_ort_opt.onnx" --random 3
twice ort-optimized-vs-ort EQUIVALENT 8 -- "$T/tiny_ort_opt.onnx" "$T/tiny_ort_opt.onnx" --random 3 --target-runtime ort
if [[ -d $SHARED/mlcommons_tiny ]]; then
  RESNET8=$SHARED/mlcommons_tiny/ic_resnet8_cifar10
  VWW=$SHARED/mlcommons_tiny/vww_mobilenetv1_025_96
  twice litert-float EQUIVALENT 4 -- "${RESNET8}_float.tflite" "${RESNET8}_float.tflite" --random 4 --target-runtime litert
  twice litert-float-source EQUIVALENT 4 -- "${RESNET8}_float.tflite" "${RESNET8}_float.tflite" --random 4 --source-runtime litert
  # int8 under the interpreter's default kernels (XNNPACK): transfix's int-xnnpack mode is bit-exact with
  # it, so the model against itself is equivalent with 0 error.
  twice litert-int8-self EQUIVALENT 0 -- "${VWW}_int8.tflite" "${VWW}_int8.tflite" --random 4 --target-runtime litert \
    --quant-mode int-xnnpack
  twice litert-int8 DEGRADED 4q -- "${RESNET8}_float.tflite" "${RESNET8}_int8.tflite" --random 4 --target-runtime litert
else
  skip "litert shared models: $SHARED/mlcommons_tiny not found"
fi
if [[ -f $MOBILENET/model_opset17.onnx ]]; then
  twice ort-mobilenet EQUIVALENT 4 -- "$MOBILENET/model_opset17.onnx" "$MOBILENET/model_opset13.onnx" --images "$IMAGES" \
    --limit 2 --target-runtime ort
  "$TF" convert "$MOBILENET/model_opset17.onnx" "$T/mnv2.tflite" >/dev/null
  twice litert-mobilenet EQUIVALENT 4 -- "$MOBILENET/model_opset17.onnx" "$T/mnv2.tflite" --images "$IMAGES" --limit 2 \
    --target-runtime litert
else
  skip "ort/litert fixture: $MOBILENET/model_opset17.onnx missing (make fixtures)"
fi

echo "native_runtime: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
