#!/usr/bin/env bash
# End-to-end tests of `transfix coverage`:
#  - the seven torchvision fixtures: ONNX (opset 17) and TorchScript forms give the same sequence counts
#    (n = 1, 3, 5) where the graphs are equivalent; for the two whose exports differ structurally, the op
#    counts differ exactly where the exporters differ (docs/coverage.md);
#  - failure association on a mutate corpus: three dilation faults at squeezenet's 3x3 expand convolutions,
#    one channel-order fault at its first convolution, two clean pairs (other opsets): every failing report is
#    localized in the model, and the sequences through the 3x3 expand convolutions rank first;
#  - sequences untested by the corpus (a second model), exit codes, compare reports and pair lists;
#  - bad input: exit 2 with a one-line error naming the file.
# Usage: coverage_test.sh BUILD_DIR
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: coverage_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
PY=/usr/bin/python3
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
FX=$CACHE/fixtures
export OMP_WAIT_POLICY=PASSIVE  # libtorch (model.pt) spins otherwise
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0 skipped=0
source "$ROOT/tests/lib.sh"

# json_check NAME FILE PYTHON_EXPR over d (the JSON document)
json_check() {
  if $PY -c "import json,sys; d=json.load(open('$2')); sys.exit(0 if ($3) else 1)"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $1: $2 does not satisfy: $3"; fi
}

TINY=$ROOT/examples/tiny_cnn.onnx

# ---- bad input and usage
check missing-model 2 "nope.onnx: no such file" -- "$TF" coverage "$T/nope.onnx"
check bad-n 2 "--n must be 1..5" -- "$TF" coverage "$TINY" --n 6
check bad-fold 2 "--fold" -- "$TF" coverage "$TINY" --fold everything
echo '{not json' >"$T/junk.json"
check bad-against 2 "junk.json' is not valid JSON" -- "$TF" coverage "$TINY" --against "$T/junk.json"
echo '[{"source": "gone.onnx", "target": "gone.onnx", "verdict": "pass"}]' >"$T/gone.json"
check against-missing-model 2 "gone.json' names model 'gone.onnx', which does not exist" -- "$TF" coverage "$TINY" --against "$T/gone.json"
BAD=$ROOT/tests/data/tflite_bad/truncated.tflite
check bad-model 2 "truncated.tflite" -- "$TF" coverage "$BAD"
check bad-model-one-line 2 "" -- bash -c "[[ \$('$TF' coverage '$BAD' 2>&1 | wc -l) -eq 1 ]] || exit 3; exit 2"
check skip-unreadable 0 "skipped 1 unreadable model" -- "$TF" coverage "$TINY" "$BAD" --skip-unreadable

# ---- counts on the committed example: 8 data ops after folding its two BatchNorms into their Convs, and 6
# paths of 3 (the chain Conv Relu MaxPool Conv Relu GAP Flatten Gemm has 8 - 2 = 6).
check tiny-text 0 "8 ops, 6 paths, 6 distinct sequences" -- "$TF" coverage "$TINY" --json "$T/tiny.json"
json_check tiny-json "$T/tiny.json" "d['schema'] == 'transfix.coverage/1' and d['summary']['paths'] == 6 and d['models'][0]['ops'] == 8 and 'untested' not in d"
check tiny-no-bn-fold 0 "10 ops, 8 paths" -- "$TF" coverage "$TINY" --fold noops

# ---- other formats load too (TFLite, Keras) when the shared models are there
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
[[ -d $SHARED ]] || SHARED=$ROOT/../../shared/models  # a worktree one level deeper
for f in $(ls "$SHARED"/*/*.tflite 2>/dev/null | head -1) $(ls "$SHARED"/*/*.h5 2>/dev/null | head -1); do
  check "format-$(basename "$f")" 0 "\((tflite|keras)\): [0-9]+ ops" -- "$TF" coverage "$f"
done

# ---- ONNX vs TorchScript forms of the seven fixtures
if [[ -f $FX/squeezenet1_1/model.pt ]]; then
  for dir in "$FX"/*/; do
    m=$(basename "$dir")
    [[ -f $dir/model.pt && -f $dir/model_opset17.onnx ]] || continue
    for n in 1 3 5; do
      "$TF" coverage "$dir/model_opset17.onnx" "$dir/model.pt" --n $n --per-model --json "$T/$m.$n.json" >/dev/null
      # Differences, as {sequence: [onnx paths, torchscript paths]}.
      diff=$($PY - "$T/$m.$n.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
a, b = [{s["sequence"]: s["paths"] for s in m["sequences"]} for m in d["models"]]
print(json.dumps({k: [a.get(k, 0), b.get(k, 0)] for k in sorted(set(a) | set(b)) if a.get(k, 0) != b.get(k, 0)}))
EOF
)
      case $m in
        inception_v3)  # torch.onnx: explicit zero Pad + AveragePool; TorchScript: AveragePool(count_include_pad) and nested cat
          [[ $n != 1 ]] && continue
          want='{"AveragePool": [9, 0], "AveragePool[count_pad]": [0, 9], "Concat": [11, 13], "Pad": [9, 0]}' ;;
        shufflenet_v2_x1_0)  # torch.onnx: chunk as two Slices; TorchScript: one Split
          [[ $n != 1 ]] && continue
          want='{"Slice": [26, 0], "Split": [0, 13]}' ;;
        *) want='{}' ;;
      esac
      if [[ $diff == "$want" ]]; then passed=$((passed + 1)); else
        failed=$((failed + 1)); echo "FAIL onnx-vs-torchscript $m n=$n: differences $diff, want $want"; fi
    done
  done
else
  skipped=$((skipped + 1)); echo "SKIP ONNX vs TorchScript: no fixture cache (the fixtures test builds it)"
fi

# ---- failure association on a mutate corpus (squeezenet)
SQ=$FX/squeezenet1_1
if [[ -f $SQ/model_opset17.onnx && -f $SQ/model_opset13.onnx ]]; then
  SRC=$SQ/model_opset17.onnx
  reports=()
  for at in 9 10 11; do
    "$TF" mutate "$SRC" --fault dilation --at "/features/features.$at/expand3x3/Conv" -o "$T/dil$at.onnx" >/dev/null
    "$TF" localize "$SRC" "$T/dil$at.onnx" --npy "$SQ/input.npy" --report "$T/dil$at.json" >/dev/null
    reports+=("$T/dil$at.json")
  done
  "$TF" mutate "$SRC" --fault channel-order -o "$T/chan.onnx" >/dev/null
  "$TF" localize "$SRC" "$T/chan.onnx" --npy "$SQ/input.npy" --report "$T/chan.json" >/dev/null
  for o in 13 11; do
    "$TF" localize "$SRC" "$SQ/model_opset$o.onnx" --npy "$SQ/input.npy" --report "$T/clean$o.json" >/dev/null
  done
  reports+=("$T/chan.json" "$T/clean13.json" "$T/clean11.json")
  # squeezenet is fully exercised by the clean pairs of itself: exit 0.
  check mutate-corpus 0 "against: 6 tested conversions: 2 passing, 4 failing \(4 localized\)" -- \
    "$TF" coverage "$SRC" --against "${reports[@]}" --json "$T/corpus.json"
  json_check corpus-localized "$T/corpus.json" "all(c['localized'] and c['side'] == 'source' for c in d['conversions'] if not c['passed'])"
  # The three top-ranked sequences go through a mutated 3x3 expand convolution (signature "Conv": not 1x1),
  # and the channel-order fault's sequence (through the stride-2 first Conv) ranks below them.
  json_check corpus-rank "$T/corpus.json" "len(d['failure_associated']) >= 4 and all(
      'Conv' in r['ops'] and any(\"expand3x3/Conv'\" in op for op in r['failing_example']['path'])
      for r in d['failure_associated'][:3]) and 'Conv[stride]' in d['failure_associated'][3]['sequence']"
  json_check corpus-pvalues "$T/corpus.json" "d['failure_associated'][0]['p_value'] < d['failure_associated'][3]['p_value']"
  # A second model under study: what the corpus never exercised (the example CNN's classifier head).
  check untested-exit-1 1 "GlobalAveragePool -> Flatten -> Gemm" -- \
    "$TF" coverage "$SRC" "$TINY" --against "${reports[@]}" --json "$T/two.json"
  json_check untested-json "$T/two.json" "d['exit_code'] == 1 and 'GlobalAveragePool -> Flatten -> Gemm' in d['untested'] and d['models'][0]['untested']['sequences'] == 0"

  # Compare reports and pair lists as evidence.
  "$TF" compare "$SRC" "$SQ/model_opset13.onnx" --npy "$SQ/input.npy" --calibration-samples 1 --report "$T/cmp.json" >/dev/null
  check compare-evidence 0 "1 tested conversion: 1 passing" -- "$TF" coverage "$SRC" --against "$T/cmp.json"
  printf '{"pairs": [{"source": "%s", "target": "%s", "verdict": "DIVERGENT"}]}\n' "$SRC" "$T/chan.onnx" >"$T/pairs.json"
  check pairs-unlocalized 1 "not localized: whole model counted as failing" -- "$TF" coverage "$SRC" --against "$T/pairs.json"
else
  skipped=$((skipped + 1)); echo "SKIP mutate corpus: no squeezenet fixture (the fixtures test builds it)"
fi

echo "coverage tests: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
