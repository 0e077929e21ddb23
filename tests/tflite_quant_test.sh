#!/usr/bin/env bash
# Quantized TFLite models in ../shared/models (those with tflite.quantized nodes): transfix's integer
# kernels vs the TFLite interpreter (LiteRT, tools/python/litert_run.py), and transfix's dequantized mode vs
# its integer mode, on 3 seeded random inputs (uniform over the integer range) and, for image-shaped
# inputs, one natural image (~/.cache/transfix/images, resized; pixel p -> p for uint8, p - 128 for int8).
#  - --quant-mode int-xnnpack must match the TFLite interpreter bit for bit (0 quantization steps):
#    that interpreter runs convolutions and fully connected layers in its XNNPACK delegate, which
#    requantizes in float; --quant-mode int (the built-in kernels' fixed-point arithmetic) is
#    reported against it, not asserted (double rounding: a step here and there, amplified by SOFTMAX);
#  - dequantized mode (float with every quantized tensor rounded to its grid) must stay within
#    DEQ_STEPS (10) output quantization steps of int-xnnpack; its distance to int is reported.
#    Both compute the same per layer up to float near-ties (one element in thousands one step
#    apart), but later layers spread such a step and SOFTMAX outputs amplify it (measured: max 8,
#    mostly 0-2).
# Every output's max difference in steps is printed. Skips, saying why, when ../shared is absent.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: tflite_quant_test.sh BUILD_DIR}" && pwd)
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
IMAGES=${TRANSFIX_IMAGES:-${TRANSFIX_CACHE:-$HOME/.cache/transfix}/images}
DEQ_STEPS=${DEQ_STEPS:-10}
if [[ ! -d $SHARED ]]; then
  echo "SKIP: $SHARED not found (third-party models live beside the repo, not in it)"
  echo "quantized tflite models: 0 passed, 0 failed, 1 skipped"
  exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# make_inputs INSPECT_JSON DIR: writes DIR/<case>/<i>.npy and prints "<case>\t--input\tNAME=FILE..." per case.
make_inputs() {
  /usr/bin/python3 - "$1" "$2" "$IMAGES" <<'EOF'
import glob, json, os, sys
import numpy as np
spec, out, images = json.load(open(sys.argv[1]))["inputs"], sys.argv[2], sys.argv[3]
cases = {}
for seed in (1, 2, 3):
    rng = np.random.default_rng(seed)
    case = []
    for v in spec:
        info = np.iinfo(v["dtype"]) if np.issubdtype(np.dtype(v["dtype"]), np.integer) else None
        x = rng.integers(info.min, info.max + 1, v["shape"]) if info else rng.uniform(-1, 1, v["shape"])
        case.append(x.astype(v["dtype"]))
    cases["random%d" % seed] = case
pictures = sorted(glob.glob(os.path.join(images, "*.png")) + glob.glob(os.path.join(images, "*.jpg")))
v = spec[0] if len(spec) == 1 else None
if pictures and v and len(v["shape"]) == 4 and v["shape"][3] in (1, 3) and v["dtype"] in ("uint8", "int8"):
    from PIL import Image
    img = Image.open(pictures[0]).convert("L" if v["shape"][3] == 1 else "RGB").resize((v["shape"][2], v["shape"][1]))
    x = np.asarray(img, dtype=np.int32).reshape(v["shape"])
    cases["image"] = [(x - 128 if v["dtype"] == "int8" else x).astype(v["dtype"])]
for name, case in cases.items():
    os.makedirs(os.path.join(out, name))
    args = []
    for i, (x, s) in enumerate(zip(case, spec)):
        f = os.path.join(out, name, "%d.npy" % i)
        np.save(f, x)
        args += ["--input", "%s=%s" % (s["name"], f)]
    print("\t".join([name] + args))
EOF
}

# steps INSPECT_JSON INT_DIR OTHER_DIR MODE: max |difference| per output in output quantization steps
# (MODE int: OTHER is integer; dequantized: OTHER is float on the output grid). Prints
# "<output> <steps> <differing elements>/<total>" lines.
steps() {
  /usr/bin/python3 - "$@" <<'EOF'
import json, os, re, sys
import numpy as np
spec, a_dir, b_dir, mode = json.load(open(sys.argv[1]))["outputs"], sys.argv[2], sys.argv[3], sys.argv[4]
for v in spec:
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", v["name"])
    a = np.load(os.path.join(a_dir, stem + ".npy")).astype(np.float64)
    b = np.load(os.path.join(b_dir, stem + ".npy")).astype(np.float64)
    if mode == "dequantized":
        q = v["quant"]
        b = b / q["scale"][0] + q["zero_point"][0]
    if a.shape != b.shape:
        print("%s shape %s vs %s" % (stem, a.shape, b.shape)); continue
    d = np.abs(a - b)
    print("%s %g %d/%d" % (stem, d.max() if d.size else 0, (d > 0.5).sum(), d.size))
EOF
}

# bit_exact LABEL MODE REFERENCE DIR_A DIR_B: every output of DIR_A equals DIR_B's (0 quantization steps).
bit_exact() {
  local label=$1 mode=$2 ref=$3 out steps count
  while read -r out steps count; do
    if [[ $steps == 0 ]]; then
      passed=$((passed + 1)); echo "ok   $label $out: $mode == $ref (0 steps)"
    else
      fail "$label $out: $mode vs $ref: max $steps steps, $count elements differ"
    fi
  done < <(steps "$T/inspect.json" "$4" "$5" int)
}

while IFS= read -r model; do
  name=$(basename "$model" .tflite)
  [[ $model == */tflite2onnx/* ]] && name="tflite2onnx_$name"
  "$BUILD/transfix" inspect --json "$model" >"$T/inspect.json" 2>"$T/log" || { fail "$name: inspect: $(tail -1 "$T/log")"; continue; }
  grep -q '"tflite.quantized:' "$T/inspect.json" || continue
  while IFS=$'\t' read -r case inputs; do
    read -ra args <<<"$inputs"
    dir="$T/$name/$case"
    ok=1
    for mode in int int-xnnpack dequantized; do
      if ! "$BUILD/transfix" run "$model" "${args[@]/#--input/-i}" --quant-mode $mode -o "$dir/$mode" >"$T/log" 2>&1; then
        fail "$name $case: transfix --quant-mode $mode: $(tail -1 "$T/log")"; ok=0
      fi
    done
    [[ $ok == 1 ]] || continue
    while read -r out deq_steps deq_count; do
      if awk -v s="$deq_steps" -v m="$DEQ_STEPS" 'BEGIN { exit !(s <= m) }'; then
        passed=$((passed + 1)); echo "ok   $name $case $out: dequantized vs int-xnnpack: max $deq_steps steps ($deq_count differ)"
      else
        fail "$name $case $out: dequantized vs int-xnnpack: max $deq_steps steps ($deq_count differ) > $DEQ_STEPS"
      fi
    done < <(steps "$T/inspect.json" "$dir/int-xnnpack" "$dir/dequantized" dequantized)
    while read -r out deq_steps deq_count; do
      echo "info $name $case $out: dequantized vs int: max $deq_steps steps ($deq_count differ)"
    done < <(steps "$T/inspect.json" "$dir/int" "$dir/dequantized" dequantized)
    if ! litert_run "$model" "${args[@]}" --output-dir "$dir/ref" >"$T/log" 2>&1; then
      if grep -qE "Can't initialize model|invalid quantization parameters" "$T/log"; then
        echo "skip $name $case: the TFLite interpreter cannot load this model ($(tail -1 "$T/log"))"
      else
        fail "$name $case: TFLite: $(tail -1 "$T/log")"
      fi
      continue
    fi
    bit_exact "$name $case" int-xnnpack "TFLite" "$dir/int-xnnpack" "$dir/ref"
    # TFLite's reference integer arithmetic (int) is not what the interpreter runs by default (its XNNPACK
    # delegate takes the convolutions): reported against the default, asserted against the interpreter's
    # reference kernels, which define it.
    while read -r out steps count; do
      echo "info $name $case $out: int (built-in kernels' arithmetic) vs TFLite with XNNPACK: max $steps steps, $count differ"
    done < <(steps "$T/inspect.json" "$dir/int" "$dir/ref" int)
    if ! litert_run "$model" "${args[@]}" --output-dir "$dir/reference" --kernels reference >"$T/log" 2>&1; then
      fail "$name $case: TFLite reference kernels: $(tail -1 "$T/log")"; continue
    fi
    bit_exact "$name $case" int "TFLite's reference kernels" "$dir/int" "$dir/reference"
  done < <(make_inputs "$T/inspect.json" "$T/$name.in")
done < <(find "$SHARED" -name '*.tflite' | sort)
echo "quantized tflite models: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
