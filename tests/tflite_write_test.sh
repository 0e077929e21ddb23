#!/usr/bin/env bash
# The TFLite writer on every .tflite model in ../shared/models: `transfix convert` writes it back
# (tflite -> tflite) and
#  - the real TFLite interpreter (LiteRT, tools/python/litert_run.py) gives bit-identical outputs on the
#    original and the written file (same seeded input);
#  - float models: transfix gives bit-identical outputs on both;
#  - tensor names of inputs/outputs, quantization of every input/output, description, metadata and
#    signatures are the same (transfix inspect --json of both, the file path aside);
#  - when tools/armnn_run was built: Arm NN (CpuRef) parses the written file and agrees with itself
#    on the original (bit-identical) whenever it can run the original.
# Skips, saying why, when ../shared is absent.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
source "$ROOT/tests/runtimes.sh"
BUILD=$(cd "${1:?usage: tflite_write_test.sh BUILD_DIR}" && pwd)
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
if [[ ! -d $SHARED ]]; then
  echo "SKIP: $SHARED not found (third-party models live beside the repo, not in it)"
  exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
ok() { passed=$((passed + 1)); echo "ok   $*"; }

# Seeded inputs for a model's declared inputs: prints "NAME<TAB>FILE" lines.
make_inputs() {  # model dir
  "$BUILD/transfix" inspect --json "$1" >"$T/inspect.json" 2>&1 || return 1
  mkdir -p "$2"
  /usr/bin/python3 -c 'import json, sys, numpy as np
rng = np.random.default_rng(11)
for i, v in enumerate(json.load(open(sys.argv[1]))["inputs"]):
    f = "%s/%d.npy" % (sys.argv[2], i)
    integer = np.issubdtype(np.dtype(v["dtype"]), np.integer)
    x = rng.integers(-100, 100, v["shape"]) if integer else rng.uniform(-1, 1, v["shape"])
    np.save(f, x.astype(v["dtype"]))
    print(v["name"] + "\t" + f)' "$T/inspect.json" "$2"
}

# Every .npy in dir A is byte-identical to the one of the same name in dir B.
same_outputs() {
  local a=$1 b=$2 n=0
  for f in "$a"/*.npy; do
    [[ -f $f ]] || return 1
    cmp -s "$f" "$b/$(basename "$f")" || { echo "differs: $(basename "$f")"; return 1; }
    n=$((n + 1))
  done
  [[ $n -gt 0 ]]
}

# inspect --json without the path: what a round trip must keep.
summary() { "$BUILD/transfix" inspect --json "$1" | /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
print(json.dumps({k: d.get(k) for k in ("inputs", "outputs", "metadata", "producer", "ops", "nodes")}, sort_keys=True))'; }

# description, metadata bytes, signatures, quantization by tensor name: from flatc's JSON dumps.
file_facts() {  # original written
  flatc --json --strict-json --raw-binary -o "$T/json_a" "$ROOT/src/formats/tflite/tflite_schema.fbs" -- "$1" 2>/dev/null &&
    flatc --json --strict-json --raw-binary -o "$T/json_b" "$ROOT/src/formats/tflite/tflite_schema.fbs" -- "$2" 2>/dev/null &&
    /usr/bin/python3 "$ROOT/tests/tflite_ops/same_file_facts.py" "$T/json_a/$(basename "${1%.tflite}").json" "$T/json_b/$(basename "${2%.tflite}").json"
}

while IFS= read -r model; do
  name=$(basename "$(dirname "$model")")_$(basename "$model" .tflite)
  out="$T/$name.written.tflite"
  if ! "$BUILD/transfix" convert "$model" "$out" >"$T/log" 2>&1; then fail "$name: convert: $(tail -1 "$T/log")"; continue; fi
  if [[ "$(summary "$model")" != "$(summary "$out")" ]]; then
    fail "$name: inputs/outputs/meta differ after the round trip"; diff <(summary "$model") <(summary "$out") | head -5; continue
  fi
  if facts=$(file_facts "$model" "$out"); then ok "$name: $facts"; else fail "$name: $facts"; continue; fi
  inputs=()
  while IFS=$'\t' read -r tensor file; do inputs+=(--input "$tensor=$file"); done < <(make_inputs "$model" "$T/$name.in")
  if ! litert_run "$model" "${inputs[@]}" --output-dir "$T/$name.orig" >"$T/log" 2>&1; then
    # TFLite Micro's person_detect: the interpreter rejects the original (a 1-D bias quantized along
    # axis 3); the written file (axis 0) must run, and agree with Arm NN bit for bit.
    why=$(tail -1 "$T/log")
    litert_run "$out" "${inputs[@]}" --output-dir "$T/$name.back" >"$T/log" 2>&1 ||
      { fail "$name: TFLite runs neither the original ($why) nor the written file: $(tail -1 "$T/log")"; continue; }
    ok "$name: TFLite cannot run the original ($why); the written file runs"
    if [[ -x $BUILD/armnn_run ]]; then  # Arm NN's int8 requantization rounds differently (tests/armnn_expected.tsv)
      "$BUILD/armnn_run" "$out" "${inputs[@]}" --output-dir "$T/$name.arm2" >"$T/log" 2>&1 ||
        { fail "$name: Arm NN cannot run the written file: $(tail -1 "$T/log")"; continue; }
      for f in "$T/$name.back"/*.npy; do
        echo "note $name written file, Arm NN vs TFLite: $("$BUILD/tests/npy_close" "$T/$name.arm2/$(basename "$f")" "$f" | head -1)"
      done
    fi
    continue
  fi
  if ! litert_run "$out" "${inputs[@]}" --output-dir "$T/$name.back" >"$T/log" 2>&1; then
    fail "$name: TFLite on the written file: $(tail -1 "$T/log")"; continue
  fi
  if same_outputs "$T/$name.orig" "$T/$name.back" >"$T/log"; then ok "$name: TFLite interpreter, original == written"
  else fail "$name: TFLite interpreter outputs differ after the round trip: $(cat "$T/log")"; continue; fi
  if ! grep -q 'tflite.quantized' <("$BUILD/transfix" inspect "$model" 2>&1); then
    "$BUILD/transfix" run "$model" "${inputs[@]/#--input/-i}" -o "$T/$name.tf1" >"$T/log" 2>&1 &&
      "$BUILD/transfix" run "$out" "${inputs[@]/#--input/-i}" -o "$T/$name.tf2" >>"$T/log" 2>&1 &&
      same_outputs "$T/$name.tf1" "$T/$name.tf2" >>"$T/log" 2>&1 &&
      ok "$name: transfix, original == written" || fail "$name: transfix outputs differ after the round trip: $(tail -1 "$T/log")"
  fi
  if [[ -x $BUILD/armnn_run ]]; then
    if "$BUILD/armnn_run" "$model" "${inputs[@]}" --output-dir "$T/$name.arm1" >"$T/log" 2>&1; then
      if "$BUILD/armnn_run" "$out" "${inputs[@]}" --output-dir "$T/$name.arm2" >"$T/log" 2>&1 &&
         same_outputs "$T/$name.arm1" "$T/$name.arm2" >"$T/log"; then ok "$name: Arm NN, original == written"
      else fail "$name: Arm NN on the written file: $(tail -1 "$T/log")"; fi
    else
      echo "note $name: Arm NN cannot run the original ($(tail -1 "$T/log")); written file not checked with it"
    fi
  fi
done < <(find "$SHARED" -name '*.tflite' | sort)

# Files over 2 GB keep their weights after the FlatBuffer (Buffer.offset / size from the file's start).
# TRANSFIX_TFLITE_EXTERNAL_ABOVE=0 makes the writer use that layout for any model: every constant
# buffer of the written file must hold an offset (16-aligned, past the FlatBuffer) and a size and no
# data, and transfix must give bit-identical outputs on it. (The TFLite interpreter of tfjs-tflite and
# Arm NN 20.08 predate the layout and cannot load it.)
for model in "$SHARED"/mlcommons_tiny/vww_mobilenetv1_025_96_int8.tflite "$SHARED"/mlcommons_tiny/kws_dscnn_float.tflite; do
  [[ -f $model ]] || { echo "SKIP external buffers: $model missing"; continue; }
  name=external_$(basename "$model" .tflite) out=$T/external_$(basename "$model")
  TRANSFIX_TFLITE_EXTERNAL_ABOVE=0 "$BUILD/transfix" convert "$model" "$out" >"$T/log" 2>&1 || { fail "$name: convert: $(tail -1 "$T/log")"; continue; }
  flatc --json --strict-json --raw-binary -o "$T/ext" "$ROOT/src/formats/tflite/tflite_schema.fbs" -- "$out" 2>/dev/null
  layout=$(/usr/bin/python3 -c 'import json, os, sys
m = json.load(open(sys.argv[1])); size = os.path.getsize(sys.argv[2])
used = {t["buffer"] for g in m["subgraphs"] for t in g["tensors"] if t.get("buffer", 0) > 0}
bad = [i for i in used if m["buffers"][i].get("data") or m["buffers"][i].get("offset", 0) % 16 or
       not 1 < m["buffers"][i].get("offset", 0) <= size - m["buffers"][i].get("size", 0)]
print("%d constant buffers after the FlatBuffer" % len(used) if used and not bad else "bad buffers %s" % bad[:5])' \
    "$T/ext/$(basename "$out" .tflite).json" "$out")
  [[ $layout == *"after the FlatBuffer" ]] && ok "$name: $layout" || fail "$name: $layout"
  inputs=()
  while IFS=$'\t' read -r tensor file; do inputs+=(-i "$tensor=$file"); done < <(make_inputs "$model" "$T/$name.in")
  "$BUILD/transfix" run "$model" "${inputs[@]}" -o "$T/$name.a" >"$T/log" 2>&1 && "$BUILD/transfix" run "$out" "${inputs[@]}" -o "$T/$name.b" >>"$T/log" 2>&1 &&
    same_outputs "$T/$name.a" "$T/$name.b" >>"$T/log" 2>&1 && ok "$name: transfix, inline == external weights" ||
    fail "$name: outputs differ with external weights: $(tail -1 "$T/log")"
done
echo "tflite write: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
