#!/usr/bin/env bash
# The TorchScript importer against libtorch itself (tests/torchscript_reference.cpp): the seven
# torchvision fixtures' model.pt (torch.jit.trace) and hand-made models covering ops torchvision lacks
# (tools/make_torchscript_models.py, generated into the cache). fp32 within 1e-4 of the output scale
# (or twice libtorch's own fp32 noise floor), fp64 within 1e-10 of libtorch's double run. Then the CLI
# on .pt files: inspect/run/convert (the converted ONNX must match libtorch in ONNX Runtime) and bad
# inputs (exit 2 naming the file).
# Usage: torchscript_test.sh BUILD_DIR
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: torchscript_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
REF=$BUILD/tests/torchscript_reference
export OMP_WAIT_POLICY=PASSIVE  # libtorch's spinning OpenMP threads slow everything on a busy 2-core machine
CLOSE=$BUILD/tests/npy_close
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
FX=$CACHE/fixtures
TS=$CACHE/torchscript
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
source "$ROOT/tests/lib.sh"

if ! TRANSFIX_CACHE=$CACHE /usr/bin/python3 "$ROOT/tools/make_torchscript_models.py" >"$T/gen.log" 2>&1; then
  echo "SKIP hand-made TorchScript models: /usr/bin/python3 with torch could not write them:"; tail -3 "$T/gen.log"
else
  for m in resample norms pools shapes scripted adaptive_odd padding runtime_shapes; do
    check "libtorch-$m" 0 "^ok" -- "$REF" check "$TS/$m.pt" "$TS/${m}_input.npy"
  done
  # An op without a lowering: exit 2 naming the op and the module it sits in.
  check unsupported-op 2 "unsupported.pt: aten::roll at module 'block.1'" -- "$TF" inspect "$TS/unsupported.pt"

  # CLI on a .pt: inspect, run, convert to ONNX (ONNX Runtime must agree with libtorch).
  check inspect 0 "format: +torchscript" -- "$TF" inspect "$TS/resample.pt"
  check run 0 "output" -- "$TF" run "$TS/shapes.pt" --input "$TS/shapes_input.npy" -o "$T/run"
  for m in resample norms pools shapes scripted adaptive_odd padding; do
    "$REF" check "$TS/$m.pt" "$TS/${m}_input.npy" --save-ref "$T/$m.ref.npy" >/dev/null
    check "convert-$m" 0 "wrote" -- "$TF" convert "$TS/$m.pt" "$T/$m.onnx"
    check "ort-$m" 0 "" -- ort_run "$T/$m.onnx" --input "$TS/${m}_input.npy" --output-dir "$T/$m.ort"
    check "ort-vs-libtorch-$m" 0 "" -- "$CLOSE" "$T/$m.ort/output.npy" "$T/$m.ref.npy" --rel 1e-4
  done

  check run-random-no-shape 2 "input 'x' has no recorded shape" -- "$TF" run "$TS/norms.pt" --random

  # Bad inputs: not TorchScript, corrupted, truncated, empty: exit 2 and the file named.
  check bad-state-dict 2 "state_dict.pt.*(not a readable TorchScript|TorchScript)" -- "$TF" inspect "$TS/state_dict.pt"
  # (libtorch does not checksum tensor records: bytes flipped inside weights load silently. This hits
  # the zip's central directory.)
  size=$(stat -c %s "$TS/resample.pt")
  cp "$TS/resample.pt" "$T/corrupt.pt"
  printf 'garbage!%.0s' {1..8} | dd of="$T/corrupt.pt" bs=1 seek=$((size - 300)) conv=notrunc status=none
  check bad-corrupt-zip 2 "corrupt.pt: not a readable TorchScript archive" -- "$TF" inspect "$T/corrupt.pt"
  check bad-corrupt-pickle 2 "corrupt_pickle.pt: not a readable TorchScript archive" -- "$TF" inspect "$TS/corrupt_pickle.pt"
  head -c 3000 "$TS/norms.pt" > "$T/truncated.pt"
  check bad-truncated 2 "truncated.pt" -- "$TF" run "$T/truncated.pt" --random
  : > "$T/empty.pt"
  check bad-empty 2 "empty.pt" -- "$TF" inspect "$T/empty.pt"
  head -c 5000 /dev/urandom > "$T/random.pth"
  check bad-random 2 "random.pth" -- "$TF" inspect "$T/random.pth"
fi

if [[ -n ${TRANSFIX_SKIP_SLOW:-} ]]; then
  echo "SKIP torchvision fixtures: TRANSFIX_SKIP_SLOW is set (real-size models are too slow under sanitizers)"
elif [[ ! -d $FX ]]; then
  echo "SKIP torchvision fixtures: $FX is missing (the fixtures suite generates it: ctest -R '^fixtures$')"
else
  for dir in "$FX"/*/; do
    [[ -f $dir/model.pt ]] || continue
    check "libtorch-$(basename "$dir")" 0 "^ok" -- "$REF" check "$dir/model.pt" "$dir/input.npy"
  done
  # A real model with traced shape arithmetic (channel shuffle: size -> floor_divide -> view), converted
  # to ONNX and run in ONNX Runtime against PyTorch's own output.
  sh=$FX/shufflenet_v2_x1_0
  if [[ -f $sh/model.pt ]]; then
    check convert-shufflenet 0 "wrote" -- "$TF" convert "$sh/model.pt" "$T/shufflenet.onnx"
    check ort-shufflenet 0 "" -- ort_run "$T/shufflenet.onnx" --input "$sh/input.npy" --output-dir "$T/shufflenet.ort"
    check ort-vs-pytorch-shufflenet 0 "" -- "$CLOSE" "$T/shufflenet.ort/output.npy" "$sh/output.npy" --rel 1e-4
  fi
fi
# The use case: a TorchScript source against its ONNX conversion.
sq=$FX/squeezenet1_1
if [[ -f $sq/model.pt && -f $sq/model_opset17.onnx ]]; then
  check compare-pt-onnx 0 "verdict: EQUIVALENT" -- "$TF" compare "$sq/model.pt" "$sq/model_opset17.onnx" --npy "$sq/input.npy" "$sq/input_2.npy"
  # TorchScript records no input shapes: they come from the target's input, so --random works and a
  # 2-row .npy is 2 samples (both failed before: no recorded shape; one sample the target rejected).
  check compare-pt-random 0 "2 random samples.*|verdict: EQUIVALENT" -- "$TF" compare "$sq/model.pt" "$sq/model_opset17.onnx" --random 2
  /usr/bin/python3 -c "import numpy as np, sys; np.save(sys.argv[3], np.concatenate([np.load(sys.argv[1]), np.load(sys.argv[2])]))" \
    "$sq/input.npy" "$sq/input_2.npy" "$T/two_rows.npy"
  check compare-pt-rows 0 "2 compared" -- "$TF" compare "$sq/model.pt" "$sq/model_opset17.onnx" --npy "$T/two_rows.npy"
fi
# Repair across formats: the ONNX export of a TorchScript model with an activation dropped (ReLU in
# SqueezeNet, ReLU6 in MobileNetV2, whose clamp bounds TorchScript computes from constants). localize
# finds the op missing, repair splices the source's segment into the ONNX model, and ONNX Runtime runs
# the repaired file as the TorchScript source computes.
for name in squeezenet1_1 mobilenet_v2; do
  d=$FX/$name
  [[ -f $d/model.pt && -f $d/model_opset13.onnx ]] || { echo "SKIP repair-pt-onnx-$name: fixture missing"; continue; }
  "$TF" mutate "$d/model_opset13.onnx" --fault activation-dropped --seed 1 -o "$T/${name}_bad.onnx" >/dev/null 2>&1
  check "repair-pt-onnx-$name" 0 "verdict after repair: EQUIVALENT" -- \
    "$TF" repair "$d/model.pt" "$T/${name}_bad.onnx" --npy "$d/input.npy" "$d/input_2.npy" -o "$T/${name}_fixed.onnx"
  check "repair-pt-onnx-$name-before-ort" 1 "verdict: DIVERGENT" -- \
    "$TF" compare "$d/model.pt" "$T/${name}_bad.onnx" --npy "$d/input.npy" "$d/input_2.npy" --target-runtime ort
  check "repair-pt-onnx-$name-ort" 0 "verdict: EQUIVALENT" -- \
    "$TF" compare "$d/model.pt" "$T/${name}_fixed.onnx" --npy "$d/input.npy" "$d/input_2.npy" --target-runtime ort
done
echo "torchscript: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
