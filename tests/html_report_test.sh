#!/usr/bin/env bash
# The HTML reports (`--html`) of localize, compare and repair, rendered in headless Chromium (driven by
# chromedriver, tools/node/render_report.js): each page loads without console errors or exceptions,
# fetches nothing, has its key elements, answers hover/click on the chart; full-page screenshots are
# kept in BUILD/artifacts/html/. The data embedded in each page validates against the JSON Schemas in
# docs/schemas (Ajv, tools/node/validate_report.js), and so do the --report files. Numbers on the page
# come from the report, so the report's new fields are checked against hand-derived facts.
set -uo pipefail
BUILD=$(cd "${1:?usage: html_report_test.sh BUILD_DIR}" && pwd)
TF=$BUILD/transfix
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
ART=$BUILD/artifacts/html
PY=/usr/bin/python3
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
# page NAME FILE.html ARGS...: render in Chromium; every check of render_report.js must pass.
page() {
  local name=$1 html=$2
  shift 2
  local out
  if out=$(node "$ROOT/tools/node/render_report.js" "$html" --screenshot "$ART/$name.png" --json "$ART/$name.checks.json" "$@" 2>&1); then
    passed=$((passed + 1)); echo "$name: $out"
  else
    failed=$((failed + 1)); echo "FAIL $name: $out" | cut -c1-2000
  fi
}
# valid NAME SCHEMA FILE: the report (JSON, or the data embedded in an HTML page) validates.
valid() {
  check "$1" 0 "valid" -- node "$ROOT/tools/node/validate_report.js" "$ROOT/docs/schemas/$2.schema.json" "$3"
}

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "SKIP all: chromium or chromedriver missing (scripts/deps.sh installs them)"
  exit 0
fi
if [[ ! -d $ROOT/tools/node/node_modules/ajv ]]; then
  echo "SKIP all: tools/node/node_modules/ajv missing (scripts/deps.sh installs it)"
  exit 0
fi

TINY=$ROOT/examples/tiny_cnn.onnx
"$TF" mutate "$TINY" --fault pads -o "$T/tiny_pads.onnx" >/dev/null

# ---- localize: one hyperparameter fault on the example CNN
check localize-html 1 "html report: $T/loc.html" -- \
  "$TF" localize "$TINY" "$T/tiny_pads.onnx" --random 1 --report "$T/loc.json" --html "$T/loc.html"
cp "$T/loc.html" "$ART/localize.html"
page localize "$T/loc.html" --expect summary --expect models --expect chart --expect faults --expect pairs-table \
  --expect fault-1 --expect-selector '#chart svg path.series-accumulated' --expect-selector '#chart .fault-marker' --interact
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

echo "html report tests: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
