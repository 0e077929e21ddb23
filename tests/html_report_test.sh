#!/usr/bin/env bash
# The HTML reports (`--html`) of localize, compare, repair and coverage, rendered in headless Chromium (driven by
# chromedriver, tools/python/render_report.py): each page loads without console errors or exceptions,
# fetches nothing, has its key elements, answers hover/click on the chart; full-page screenshots are
# kept in BUILD/artifacts/html/. The data embedded in each page validates against the JSON Schemas in
# docs/schemas (jsonschema, tools/python/validate_report.py), and so do the --report files. Numbers on the page
# come from the report, so the report's new fields are checked against hand-derived facts.
set -uo pipefail
BUILD=$(cd "${1:?usage: html_report_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
ART=$BUILD/artifacts/html
PY=/usr/bin/python3
PYRT=${TRANSFIX_PYTHON:-$ROOT/.venv/bin/python}  # runs tools/python/{render,validate}_report.py
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$ART"
passed=0 failed=0 skipped=0
source "$(dirname "$0")/lib.sh"
skip() { skipped=$((skipped + 1)); echo "SKIP $1"; }

report() {  # report NAME FILE PYTHON_EXPR over r (the JSON report)
  if $PY -c "import json,sys; r=json.load(open('$2')); sys.exit(0 if ($3) else 1)"; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAIL $1: $2 does not satisfy: $3"; fi
}
# page NAME FILE.html ARGS...: render in Chromium; every check of render_report.py must pass.
page() {
  local name=$1 html=$2
  shift 2
  local out
  if out=$("$PYRT" "$ROOT/tools/python/render_report.py" "$html" --screenshot "$ART/$name.png" --json "$ART/$name.checks.json" "$@" 2>&1); then
    passed=$((passed + 1)); echo "$name: $out"
  else
    failed=$((failed + 1)); echo "FAIL $name: $out" | cut -c1-2000
  fi
}
# valid NAME SCHEMA FILE: the report (JSON, or the data embedded in an HTML page) validates.
valid() {
  check "$1" 0 "valid" -- "$PYRT" "$ROOT/tools/python/validate_report.py" "$ROOT/docs/schemas/$2.schema.json" "$3"
}

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "SKIP all: chromium or chromedriver missing (scripts/deps.sh installs them)"
  exit 0
fi
if ! "$PYRT" -c "import jsonschema" 2>/dev/null; then
  echo "SKIP all: jsonschema missing in .venv (scripts/deps.sh installs it)"
  exit 0
fi

TINY=$ROOT/examples/tiny_cnn.onnx
"$TF" mutate "$TINY" --fault pads -o "$T/tiny_pads.onnx" >/dev/null

# ---- localize: one hyperparameter fault on the example CNN
check localize-html 1 "html report: $T/loc.html" -- \
  "$TF" localize "$TINY" "$T/tiny_pads.onnx" --random 1 --report "$T/loc.json" --html "$T/loc.html"
cp "$T/loc.html" "$ART/localize.html"
page localize "$T/loc.html" --expect summary --expect models --expect chart --expect faults --expect pairs-table \
  --expect fault-1 --expect-selector '#chart svg path.series-accumulated' --expect-selector '#chart .fault-marker' --interact \
  --expect-js "document.getElementById('verdict').textContent === '1 FAULT'" \
  --expect-js "document.querySelectorAll('#fault-1 tr.diff').length === 1 && document.querySelector('#fault-1 tr.diff').textContent.includes('pads')"
# The fault's pair: before it only the graph input, so a free run feeds it exactly what alignment fed
# it: accumulated == local error. Every pair has both numbers; the attribute diff names the pads.
report localize-accumulated-at-fault "$T/loc.json" \
  "[p for p in r['pairs'] if not p['clean']][0]['accumulated_error'] == [p for p in r['pairs'] if not p['clean']][0]['local_error'] > 0"
report localize-accumulated-measured "$T/loc.json" \
  "all(isinstance(p['accumulated_error'], float) and isinstance(p['accumulated_noise'], float) for p in r['pairs'][1:])"
report localize-attribute-diff "$T/loc.json" \
  "r['faults'][0]['target']['attributes']['pads'] == '[0,0,2,2]' and r['faults'][0]['source']['attributes']['pads'] == '[1,1,1,1]'"
report localize-model-info "$T/loc.json" \
  "r['models']['source']['file_bytes'] == $(stat -c %s "$TINY") and r['models']['source']['nodes'] == 10 and r['models']['target']['opset'] == 13"
# The same model twice: the free run of the target is the source's own fp32 run, bit for bit.
"$TF" localize "$TINY" "$TINY" --random 1 --report "$T/same.json" --html "$T/same.html" >/dev/null
report localize-identical-accumulated "$T/same.json" \
  "len(r['pairs']) > 5 and all(p['accumulated_error'] == p['accumulated_noise'] for p in r['pairs'])"
page localize-no-fault "$T/same.html" --expect summary --expect chart --expect no-faults
# The JSON sits in a <script>: a '</script>' in a model's names must not end it.
if $PY -c "import onnx" 2>/dev/null; then
  $PY - "$TINY" "$T/evil.onnx" <<'PYEOF'
import onnx, sys
m = onnx.load(sys.argv[1])
old = m.graph.node[0].output[0]
new = '</script><script>window.pwned=1</script><!--'
for n in m.graph.node:
    n.input[:] = [new if x == old else x for x in n.input]
    n.output[:] = [new if x == old else x for x in n.output]
m.graph.node[0].name = '<img src=x onerror="window.pwned=1">'
onnx.save(m, sys.argv[2])
PYEOF
  "$TF" localize "$TINY" "$T/evil.onnx" --random 1 --html "$T/evil.html" >/dev/null
  check evil-names-escaped 1 "" -- grep -c "</script><script>window.pwned" "$T/evil.html"
  page localize-hostile-names "$T/evil.html" --expect summary --expect chart --interact --expect-js "window.pwned === undefined" \
    --expect-js "document.getElementById('pairs-table').textContent.includes('</script><script>window.pwned=1</script>')"
else
  skip "hostile-names case: python3-onnx missing"
fi

# Many faults are shown 20 at a time: the page's data with the fault repeated 45 times.
$PY - "$T/loc.html" "$T/many.html" <<'PYEOF'
import json, re, sys
page = open(sys.argv[1]).read()
m = re.search(r'(<script type="application/json" id="report-data">)(.*?)(</script>)', page, re.S)
r = json.loads(m.group(2))
r['faults'] = r['faults'] * 45
data = json.dumps(r).replace('<', '\\u003c')
open(sys.argv[2], 'w').write(page[:m.start(2)] + data + page[m.end(2):])
PYEOF
page localize-45-faults "$T/many.html" --expect fault-cards \
  --expect-js "document.querySelectorAll('.fault-card').length === 20" \
  --expect-js "(() => { document.getElementById('more-faults').click(); return document.querySelectorAll('.fault-card').length === 40; })()" \
  --expect-js "(() => { document.getElementById('more-faults').click(); return document.querySelectorAll('.fault-card').length === 45 && document.getElementById('more-faults').style.display === 'none'; })()"
valid localize-schema-json localize "$T/loc.json"
valid localize-schema-html localize "$T/loc.html"
# The schema must be able to fail: a pair without its accumulated error, a model without its size.
$PY -c "import json; r=json.load(open('$T/loc.json')); r['pairs'][1]['accumulated_error']='big'; del r['models']['target']['file_bytes']; json.dump(r, open('$T/bad.json', 'w'))"
check localize-schema-rejects 1 "accumulated_error must|file_bytes" -- "$PYRT" "$ROOT/tools/python/validate_report.py" "$ROOT/docs/schemas/localize.schema.json" "$T/bad.json"

# ---- a model with thousands of nodes: 1000 Conv+ReLU blocks, a pads fault near the end. The page must stay
# small (no tensors, pairs paged 50 at a time) and quick.
if $PY -c "import onnx" 2>/dev/null; then
  $PY - "$T/chain.onnx" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper
rng = np.random.default_rng(0)
nodes, inits, x = [], [], "input"
for i in range(1000):
    inits += [numpy_helper.from_array((rng.standard_normal((4, 4, 3, 3)) * 0.25).astype(np.float32), f"w{i}"),
              numpy_helper.from_array((rng.standard_normal(4) * 0.05).astype(np.float32), f"b{i}")]
    nodes += [helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"conv{i}"], name=f"conv{i}", pads=[1, 1, 1, 1]),
              helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}")]
    x = f"relu{i}"
g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 8, 8])],
                      [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 4, 8, 8])], inits)
m = helper.make_model(g, producer_name="transfix-test", opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 7
onnx.save(m, sys.argv[1])
PYEOF
  "$TF" mutate "$T/chain.onnx" --fault pads --at conv990 -o "$T/chain_pads.onnx" >/dev/null
  check large-localize 1 "pads at Conv 'conv990'" -- \
    "$TF" localize "$T/chain.onnx" "$T/chain_pads.onnx" --random 1 --html "$T/chain.html"
  size=$(stat -c %s "$T/chain.html")
  if ((size < 1500000)); then passed=$((passed + 1)); echo "large page: $size bytes for 2000 nodes"; else
    failed=$((failed + 1)); echo "FAIL large-page-size: $size bytes"; fi
  page localize-2000-nodes "$T/chain.html" --expect summary --expect chart --expect fault-1 --interact \
    --expect-js "document.querySelectorAll('#pairs-table tbody tr').length === 50" \
    --expect-js "document.getElementsByTagName('*').length < 3000"
  valid large-schema localize "$T/chain.html"
else
  skip "large-model case: python3-onnx missing"
fi

# ---- compare: per-output table and per-sample error histogram on the example CNN (no labels flip)
check compare-html 1 "html report: $T/cmp.html" -- \
  "$TF" compare "$TINY" "$T/tiny_pads.onnx" --random 6 --report "$T/cmp.json" --html "$T/cmp.html"
page compare-numeric "$T/cmp.html" --expect summary --expect models --expect outputs-table --expect histogram \
  --expect-selector '#histogram rect.bin'
valid compare-schema-json compare "$T/cmp.json"
valid compare-schema-html compare "$T/cmp.html"
report compare-report-no-per-sample "$T/cmp.json" "'per_sample' not in r and r['source']['file_bytes'] == $(stat -c %s "$TINY")"
# ... and on natural images with label flips: mobilenet_v2 with weights rounded to an 8-bit grid.
MOBILENET=$CACHE/fixtures/mobilenet_v2
if [[ -f $MOBILENET/model_opset17.onnx && -d $CACHE/images ]]; then
  "$TF" mutate "$MOBILENET/model_opset17.onnx" --fault weights-int8 -o "$T/mb_int8.onnx" >/dev/null
  check compare-flips 1 "flips beyond noise" -- "$TF" compare "$MOBILENET/model_opset17.onnx" "$T/mb_int8.onnx" \
    --images "$CACHE/images" --limit 16 --calibration-samples 4 --per-sample --report "$T/mb.json" --html "$T/mb.html"
  cp "$T/mb.html" "$ART/compare.html"
  page compare "$T/mb.html" --expect summary --expect outputs-table --expect histogram --expect flips-table \
    --expect-selector '#flips-table img.thumb' --expect-selector '#flips-table .topk li' \
    --expect-js "document.getElementById('verdict').textContent === 'DIVERGENT'" \
    --expect-js "[...document.querySelectorAll('#flips-table img.thumb')].every((i) => i.complete && i.naturalWidth > 0 && i.naturalWidth <= 64)"
  valid compare-images-schema compare "$T/mb.html"
  # Every flip the report counts has a row with a 64-px thumbnail and the two top-k lists, whose first
  # entries are the two labels; the flip kinds add up to the report's counts.
  report compare-flip-records "$T/mb.json" "(lambda o, s: len(s) == o['top1']['flips'] and
    sum(x['flip'] == 'beyond-noise' for x in s) == o['top1']['flips_beyond_noise'] and
    all(x['top_k']['source'][0][0] == x['top1'][0] and x['top_k']['target'][0][0] == x['top1'][1] for x in s))(
    r['outputs'][0], [x['outputs']['output'] for x in r['per_sample'] if 'flip' in x['outputs']['output']])"
  report compare-thumbnails "$T/mb.json" "all(x.get('thumbnail', '').startswith('data:image/jpeg;base64,') for x in r['per_sample']
    if 'flip' in x['outputs']['output']) and all('thumbnail' not in x for x in r['per_sample'] if 'flip' not in x['outputs']['output'])"
else
  skip "compare on images: mobilenet_v2 fixture or natural images missing (make fixtures)"
fi

# ... and a quantized target: the error split by the target's float twin (MLPerf Tiny VWW float vs int8).
VWW=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}/mlcommons_tiny/vww_mobilenetv1_025_96
if [[ -f ${VWW}_int8.tflite && -d $CACHE/images ]]; then
  check compare-quantized 0 "verdict: EQUIVALENT within int8" -- "$TF" compare "${VWW}_float.tflite" "${VWW}_int8.tflite" \
    --images "$CACHE/images" --limit 8 --preprocess raw01 --per-sample --report "$T/q.json" --html "$T/q.html"
  page compare-quantized "$T/q.html" --expect outputs-table --expect quantization-split --expect intended-precision \
    --expect-js "document.querySelectorAll('#quantization-split tbody tr').length === 1 && document.querySelector('#intended-precision li').textContent.includes('within int8')"
  valid compare-quantized-schema compare "$T/q.html"
else
  skip "compare of a quantized target: ${VWW}_int8.tflite or natural images missing"
fi

# ---- repair: before/after, the fixes and their measured effect, the verification compare
check repair-html 0 "html report: $T/rep.html" -- \
  "$TF" repair "$TINY" "$T/tiny_pads.onnx" --random 4 -o "$T/fixed.onnx" --report "$T/rep.json" --html "$T/rep.html"
cp "$T/rep.html" "$ART/repair.html"
page repair "$T/rep.html" --expect summary --expect repair-metrics --expect fixes-table --expect verify-table \
  --expect chart --expect network-after --expect-selector '#fixes-table .v-kept' --expect-selector '.fault-card .repair' --interact \
  --expect-js "document.getElementById('verdict').textContent === 'EQUIVALENT'"
valid repair-schema-json repair "$T/rep.json"
valid repair-schema-html repair "$T/rep.html"
report repair-log "$T/rep.json" "r['output'].endswith('fixed.onnx') and r['verify']['verdict'] == 'EQUIVALENT' and
  r['fixes'][0]['kept'] and r['initial']['max_relative_error'] > r['final']['max_relative_error'] and r['samples'] == 4"
check repair-dry-run-html 1 "html report" -- \
  "$TF" repair "$TINY" "$T/tiny_pads.onnx" --random 2 --dry-run --html "$T/dry.html"
page repair-dry-run "$T/dry.html" --expect summary --expect repair-metrics --expect fixes-table \
  --expect-js "document.getElementById('verdict').textContent === 'DRY RUN'"
valid repair-dry-run-schema repair "$T/dry.html"

# ---- coverage: the example CNN and its pads-mutated copy under study, against the two localize reports above
# (the CNN vs itself: passing; vs the mutant: failing, pinned to the first Conv). Hand-derived: the mutant's
# first Conv has asymmetric pads, so its "Conv[pads=asym] -> Relu -> MaxPool" is the one sequence no passing
# conversion has; of the 12 evidence paths one is failing (the one through the first Conv), and
# "Conv -> Relu -> MaxPool" has 1 failing and 1 clean path: p = 2/12 = 0.17, lift = (1/2) / (1/12) = 6.
check coverage-html 1 "html report: $T/cov.html" -- "$TF" coverage "$TINY" "$T/tiny_pads.onnx" \
  --against "$T/same.json" "$T/loc.json" --json "$T/cov.json" --html "$T/cov.html"
cp "$T/cov.html" "$ART/coverage.html"
page coverage "$T/cov.html" --expect summary --expect models --expect conversions-table --expect untested-table --expect failure-table \
  --expect-js "document.getElementById('verdict').textContent === '1 UNTESTED'" \
  --expect-js "document.querySelectorAll('#conversions-table tbody tr').length === 2 && document.querySelectorAll('#conversions-table tr.faulty').length === 1" \
  --expect-js "(() => { const r = document.querySelectorAll('#untested-table tbody tr'); return r.length === 1 &&
    r[0].textContent.includes('Conv[pads=asym] -> Relu -> MaxPool') && r[0].textContent.includes(\"Conv '/features/features.0/Conv' → Relu\"); })()" \
  --expect-js "(() => { const c = [...document.querySelectorAll('#failure-table tbody tr')[0].cells].map((td) => td.textContent);
    return c[1] === 'Conv -> Relu -> MaxPool' && c[2] === '0.17' && c[3] === '6' && c[4] === '1' && c[5] === '1'; })()"
valid coverage-schema-json coverage "$T/cov.json"
valid coverage-schema-html coverage "$T/cov.html"
report coverage-hand-derived "$T/cov.json" "r['summary']['untested_sequences'] == 1 and r['summary']['failing_paths'] == 1 and
  r['summary']['clean_paths'] == 11 and abs(r['failure_associated'][0]['p_value'] - 2 / 12) < 1e-12 and abs(r['failure_associated'][0]['lift'] - 6) < 1e-12"
# The page embeds exactly what --json wrote.
check coverage-page-is-json 0 "" -- $PY -c "import json, re, sys; h = open('$T/cov.html').read()
m = re.search(r'id=\"report-data\">(.*?)</script>', h, re.S); sys.exit(json.loads(m.group(1)) != json.load(open('$T/cov.json')))"
# The schema must be able to fail: a p-value above 1, a summary with evidence but no untested count.
$PY -c "import json; r=json.load(open('$T/cov.json')); r['failure_associated'][0]['p_value']=1.5; del r['summary']['untested_sequences']; json.dump(r, open('$T/badcov.json', 'w'))"
check coverage-schema-rejects 1 "p_value.*must be <= 1|untested_sequences" -- \
  "$PYRT" "$ROOT/tools/python/validate_report.py" "$ROOT/docs/schemas/coverage.schema.json" "$T/badcov.json"
# Without evidence: the models' sequences (the CNN's 6), searchable; no evidence sections.
check coverage-no-evidence-html 0 "html report" -- "$TF" coverage "$TINY" --html "$T/cov0.html"
page coverage-no-evidence "$T/cov0.html" --expect summary --expect sequences-table \
  --expect-js "document.getElementById('verdict').textContent === 'NO EVIDENCE' && !document.getElementById('failure-table')" \
  --expect-js "document.querySelectorAll('#sequences-table tbody tr').length === 6" \
  --expect-js "(() => { const i = document.querySelector('#sequences-table input[type=search]'); i.value = 'GEMM'; i.dispatchEvent(new Event('input'));
    const r = document.querySelectorAll('#sequences-table tbody tr'); return r.length === 1 && r[0].cells[2].textContent === 'GlobalAveragePool -> Flatten -> Gemm'; })()"
valid coverage-no-evidence-schema coverage "$T/cov0.html"
# Hostile node names (the evil model above) are shown as text in the example paths, never parsed.
if [[ -f $T/evil.onnx ]]; then
  "$TF" coverage "$T/evil.onnx" --html "$T/evilcov.html" >/dev/null
  check coverage-evil-escaped 1 "" -- grep -c "<img src=x" "$T/evilcov.html"
  page coverage-hostile-names "$T/evilcov.html" --expect sequences-table --expect-js "window.pwned === undefined" \
    --expect-js "document.getElementById('sequences-table').textContent.includes('<img src=x onerror=\"window.pwned=1\">')"
fi

ls -la "$ART"/*.png | awk '{print "artifact:", $NF, $5, "bytes"}'
echo "html report tests: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
