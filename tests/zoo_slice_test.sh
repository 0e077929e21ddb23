#!/usr/bin/env bash
# A slice of the corpus of real conversions (docs/zoo.md): MobileNetV2 (Keras 3, 96x96) through every
# converter of the zoo's TF venv (TFLiteConverter in five modes, tf2onnx at two opsets, Keras' ONNX
# export), each target run in its deployment runtime (LiteRT, ONNX Runtime) on 64 natural samples, then
# transfix on each pair. Conversions are cached; judgements are redone with this build.
# Asserted: every converter converts; every target runs in its runtime; transfix's interpreter agrees with
# the runtime on every target (but the dynamic-range one: LiteRT's hybrid kernels quantize activations on
# the fly, transfix does not yet); every conversion is faithful by the runtimes' ground truth and transfix
# raises no alarm on any of them, float16, dynamic-range, int8 and 16x8 included (compare exits 0, within
# the intended precision where there is one; localize 0 findings). Then faults injected into the int8 and
# float16 conversions must still be found: compare exits 1 and localize puts its top fault on the op.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: zoo_slice_test.sh BUILD_DIR}" && pwd)
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
MODEL=keras_mobilenet_v2_96
if [[ ! -f $CACHE/images/images.txt ]]; then echo "SKIP zoo slice: no natural images in $CACHE (make fixtures)"; exit 0; fi
mkdir -p "$BUILD/artifacts"
ZOO_MODELS=$MODEL ZOO_REJUDGE=1 ZOO_DOC="$BUILD/artifacts/zoo_slice.md" "$ROOT/scripts/zoo.sh" "$BUILD" || { echo "FAIL zoo.sh"; exit 1; }
/usr/bin/python3 - "$CACHE/zoo/$MODEL" <<'PY'
import json, os, sys
d = sys.argv[1]
passed = failed = 0
def check(name, ok, detail=""):
    global passed, failed
    if ok: passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: {detail}")
convs = sorted(c for c in os.listdir(d) if os.path.isfile(os.path.join(d, c, "record.json")))
check("every conversion kind present", len(convs) == 8, convs)
for c in convs:
    r = json.load(open(os.path.join(d, c, "record.json")))
    j = json.load(open(os.path.join(d, c, "judge.json")))
    check(f"{c} converts", r.get("ok"), r.get("error"))
    check(f"{c} runs in its runtime", "truth" in j, j.get("skipped"))
    if "truth" not in j: continue
    t, said = j["truth"], j["transfix"]
    iv = said["interpreter_vs_runtime"]
    if c == "tflite_dynamic":
        # LiteRT's hybrid kernels quantize the float activations to int8 on the fly; transfix runs the
        # dequantized weights in float, so it is not the runtime's arithmetic yet: reported.
        print(f"info {c}: transfix's interpreter vs {j['runtime']}: {iv['verdict']} (hybrid kernels not simulated)")
    else:
        check(f"{c}: transfix's interpreter == {j['runtime']}", iv["verdict"] == "EQUIVALENT", iv)
    e = t["error"]
    line = (f"{c}: {j['runtime']} error max {e['max']:.3g} mean {e['mean']:.3g} (budget {t['budget_max']:.3g}) -> "
            f"{'faithful' if t['faithful'] else 'FAULTY'}; transfix compare {said['compare']['verdict']}, "
            f"localize {said['localize']['findings']} findings")
    check(f"{c} faithful by the runtimes", t["faithful"], line)
    check(f"{c}: no alarm from compare", said["compare"]["exit"] == 0, line)
    check(f"{c}: no finding from localize", said["localize"]["findings"] == 0, line)
    print("ok   " + line)
print(f"zoo slice: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
status=$?

# Faults injected into the intended-precision conversions: the budget must not hide them.
TF=$BUILD/transfix D=$CACHE/zoo/$MODEL T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
for case in tflite_int8:bias-dropped tflite_int8:weights-transposed tflite_int8:channel-permutation tflite_int8:dilation \
            tflite_16x8:bn-folded-twice tflite_fp16:activation-swapped tflite_fp16:activation-dropped; do
  conv=${case%%:*} kind=${case#*:} bad=$T/${conv}_$kind.tflite
  "$TF" mutate "$D/$conv/target.tflite" --fault "$kind" --seed 1 -o "$bad" >"$T/log" 2>&1 || { echo "FAIL mutate $case: $(tail -1 "$T/log")"; failed=$((failed + 1)); continue; }
  node=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['node'])" "${bad%.tflite}.truth.json")
  "$TF" compare "$D/source.h5" "$bad" --npy "$D/x.npy" >"$T/cmp" 2>&1; code=$?
  if [[ $code == 1 ]]; then passed=$((passed + 1)); echo "ok   $case: compare $(grep '^verdict' "$T/cmp")"
  else failed=$((failed + 1)); echo "FAIL $case: compare exit $code (want 1): $(grep -E 'intended precision|^verdict' "$T/cmp" | cut -c1-300)"; fi
  "$TF" localize "$D/source.h5" "$bad" --npy "$D/x.npy" --report "$T/loc.json" >/dev/null 2>&1
  if /usr/bin/python3 -c "
import json, sys
r = json.load(open(sys.argv[1])); f = r['faults']
top = f[r['root_causes'][0]['faults'][0]]['target'] if f else None
sys.exit(0 if top and \"'\" + sys.argv[2] in top['op'] else 1)" "$T/loc.json" "$node"; then  # (a rewritten op may end in /pre_activation)
    passed=$((passed + 1)); echo "ok   $case: localize's top root cause is pinned to the mutated op"
  else
    failed=$((failed + 1)); echo "FAIL $case: localize: $(/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print([c['summary'][:160] for c in r['root_causes']][:3])" "$T/loc.json") (mutated: $node)"
  fi
done
echo "injected faults in intended-precision conversions: $passed passed, $failed failed"
(( failed == 0 && status == 0 ))
