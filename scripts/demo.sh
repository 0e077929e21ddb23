#!/usr/bin/env bash
# The newcomer's first look: what transfix sees in a model, running it in fp32 and in the fp64
# oracle, and how close it is to PyTorch's own output for the same input.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
TF="$BUILD/transfix"
EX=examples
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

if [[ -t 1 ]]; then B=$'\033[1m' N=$'\033[0m'; else B="" N=""; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }

say "1. What is in the model?   transfix inspect $EX/tiny_cnn.onnx"
"$TF" inspect "$EX/tiny_cnn.onnx"

say "2. Run it (fp32, as the model says)   transfix run ... --output DIR"
"$TF" run "$EX/tiny_cnn.onnx" --input "$EX/tiny_cnn_input.npy" --output "$OUT/fp32"

say "3. Run it again with every float op in double: the oracle   --precision fp64"
"$TF" run "$EX/tiny_cnn.onnx" --input "$EX/tiny_cnn_input.npy" --output "$OUT/fp64" --precision fp64 --dump-all "$OUT/dump"

say "4. How far apart are they?"
/usr/bin/python3 - "$OUT" "$EX/tiny_cnn_expected.npy" <<'PY'
import glob, os, sys
import numpy as np
out, expected_path = sys.argv[1], sys.argv[2]
fp32 = np.load(glob.glob(os.path.join(out, "fp32", "*.npy"))[0]).astype(np.float64)
fp64 = np.load(glob.glob(os.path.join(out, "fp64", "*.npy"))[0])
torch_out = np.load(expected_path).astype(np.float64)
scale = np.abs(fp64).max()
print(f"  transfix fp32 vs fp64 oracle : max abs diff {np.abs(fp32 - fp64).max():.3e}  (rounding noise of this model)")
print(f"  PyTorch fp32 vs fp64 oracle  : max abs diff {np.abs(torch_out - fp64).max():.3e}")
print(f"  transfix fp32 vs PyTorch     : max abs diff {np.abs(fp32 - torch_out).max():.3e}  (output scale {scale:.3f})")
print(f"  top-1 class: transfix {int(fp32.argmax())}, PyTorch {int(torch_out.argmax())}")
n = len(glob.glob(os.path.join(out, "dump", "*.npy")))
print(f"  --dump-all wrote {n} intermediate tensors (index.json maps them to nodes)")
PY
IMAGES=${TRANSFIX_CACHE:-$HOME/.cache/transfix}/images
[[ -n $(ls "$IMAGES" 2>/dev/null) ]] || tools/natural_images.sh >/dev/null 2>&1 || true
say "5. A real converter fault: PyTorch 1.13 exports bilinear nn.Upsample at opset 9 as Upsample
   (no half-pixel mode). Compare the opset-9 export against the correct opset-11 one on natural photos:
   transfix compare examples/upsample_opset11.onnx examples/upsample_opset9.onnx --images ... --limit 12"
set +e
"$TF" compare "$EX/upsample_opset11.onnx" "$EX/upsample_opset9.onnx" --images "$IMAGES" --limit 12 --preprocess raw01
code=$?
set -e
echo "(exit code $code: 0 equivalent, 1 not equivalent -- a CI pipeline can gate on it)"

say "6. Where and why?   transfix localize examples/upsample_opset11.onnx examples/upsample_opset9.onnx --images ...
   (maps every tensor of the conversion to the source, feeds each op the source's own values, and
   diagnoses the ops that introduce error)"
set +e
"$TF" localize "$EX/upsample_opset11.onnx" "$EX/upsample_opset9.onnx" --images "$IMAGES" --preprocess raw01
set -e

say "7. Fix it and prove it:   transfix repair ... -o fixed.onnx
   (applies the suggested fix, keeps it only if it helps on the data, writes the model, compares again)"
"$TF" repair "$EX/upsample_opset11.onnx" "$EX/upsample_opset9.onnx" --images "$IMAGES" --preprocess raw01 \
  -o "$OUT/upsample_fixed.onnx" | sed -n '/^repair:/,$p'

printf '\nNext: transfix --help lists every command.\n'
