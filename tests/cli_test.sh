#!/usr/bin/env bash
# End-to-end tests of the transfix command: exit codes (0 ok, 1 finding, 2 usage/input error),
# inspect/run/convert/bench, and hostile files (clear error naming the file, exit 2, never a crash).
set -uo pipefail
TF=${1:?usage: cli_test.sh path/to/transfix}
DATA=/usr/share/libonnx-testdata/data
CONV=$DATA/pytorch-converted/test_Conv2d/model.onnx
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0

source "$(dirname "$0")/lib.sh"

check version 0 "transfix [0-9]" -- "$TF" --version
check help 0 "inspect" -- "$TF" --help
check no-subcommand 2 "" -- "$TF"
check unknown-subcommand 2 "" -- "$TF" frobnicate
check unknown-flag 2 "" -- "$TF" inspect "$CONV" --frob

check inspect 0 "ops: +Conv 1" -- "$TF" inspect "$CONV"
check inspect-json 0 '"format": "onnx"' -- "$TF" inspect --json "$CONV"
check run-random 0 "float32 \[" -- "$TF" run "$CONV" --random -o "$T/out32"
check run-output-file 0 "" -- test -s "$(ls "$T"/out32/*.npy | head -1)"
check run-fp64 0 "float64 \[" -- "$TF" run "$CONV" --random --precision fp64 -o "$T/out64"
check run-bad-precision 2 "fp32 or fp64" -- "$TF" run "$CONV" --random --precision fp16
check run-bad-quant-mode 2 "int, int-xnnpack or dequantized" -- "$TF" run "$CONV" --random --quant-mode fp8
# A float model runs the same in every quantization mode.
check run-float-dequantized 0 "float32 \\[" -- "$TF" run "$CONV" --random --quant-mode dequantized
check run-missing-input 2 "no data for model input" -- "$TF" run "$CONV"
check run-unknown-input 2 "has no input 'nope'" -- "$TF" run "$CONV" --input "nope=$T/x.npy"
check dump-all 0 "dumped every tensor" -- "$TF" run "$CONV" --random --dump-all "$T/dump"
check dump-index 0 '"op": "Conv"' -- cat "$T/dump/index.json"

# Wrong input shape: the conv's own output fed back as its input.
cp "$(ls "$T"/out32/*.npy | head -1)" "$T/small.npy"
check run-wrong-shape 2 "expects shape" -- "$TF" run "$CONV" --input "$T/small.npy"

check convert 0 "wrote" -- "$TF" convert "$CONV" "$T/conv_rt.onnx"
check convert-same-outputs 0 "" -- bash -c "'$TF' run '$T/conv_rt.onnx' --random -o '$T/rt' >/dev/null && cmp <(tail -c +129 '$T'/out32/*.npy) <(tail -c +129 '$T'/rt/*.npy)"
cp "$CONV" "$T/self.onnx"
check convert-onto-input 2 "refusing to overwrite" -- "$TF" convert "$T/self.onnx" "$T/self.onnx"
check bench 0 "latency \(ms\)" -- "$TF" bench "$CONV" --iterations 2 --warmup 1 --threads 1

# Hostile and broken files: exit 2 with a message that names the file.
: > "$T/empty.onnx"
head -c 4000 /dev/urandom > "$T/random.onnx"
head -c 300 "$DATA/pytorch-converted/test_Conv2d/model.onnx" > "$T/truncated.onnx"
echo "this is not a model" > "$T/text.onnx"
mkdir -p "$T/dir.onnx"
for f in empty random truncated text dir; do
  check "bad-$f" 2 "$f.onnx" -- "$TF" inspect "$T/$f.onnx"
  check "bad-run-$f" 2 "$f.onnx" -- "$TF" run "$T/$f.onnx" --random
done
check missing-file 2 "no such file|not found|not a readable" -- "$TF" inspect "$T/missing.onnx"
check bad-npy 2 "not a .npy file" -- "$TF" run "$CONV" --input "$T/text.onnx"

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
