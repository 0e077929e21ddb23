#!/usr/bin/env bash
# Every file in tests/data/tflite_bad/ (hand-made by tools/make_bad_tflite.py, plus inputs the
# fuzzer found, tools/fuzz/run.sh) makes transfix fail cleanly: `inspect` exits 2 naming the file,
# or (files that load, e.g. a cycle) `run --random` and `convert` exit 2. Any other exit code
# (a crash, a sanitizer report: 86 under make test-asan) fails. Fuzzer finds (fuzz_*) that are valid
# models once the crash is fixed may also exit 0.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRANSFIX=${1:?usage: tflite_bad_test.sh TRANSFIX}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
for f in "$ROOT"/tests/data/tflite_bad/*; do
  [[ $f == *.md ]] && continue
  name=$(basename "$f")
  timeout 60 "$TRANSFIX" inspect "$f" >"$T/out" 2>"$T/err"
  rc=$?
  if [[ $rc -eq 0 && $name == fuzz_* ]]; then
    # What the fuzz target exercises: read, then write (a run may declare gigabytes of input).
    timeout 60 "$TRANSFIX" convert "$f" "$T/c.tflite" >/dev/null 2>"$T/err"; rc=$?
  elif [[ $rc -eq 0 ]]; then
    timeout 60 "$TRANSFIX" run "$f" --random -o "$T/o" >"$T/out" 2>"$T/err"; rc=$?
    timeout 60 "$TRANSFIX" convert "$f" "$T/c.tflite" >/dev/null 2>>"$T/err"; rc2=$?
    [[ $rc2 -ne 2 ]] && rc=$rc2
  fi
  if [[ $name == fuzz_* && $rc -eq 0 ]]; then  # fuzzer finds that became valid models once fixed
    passed=$((passed + 1)); echo "ok   $name: no crash (reads, runs and converts)"
  elif [[ $rc -eq 2 ]] && grep -q "error" "$T/err"; then
    passed=$((passed + 1)); echo "ok   $name: exit 2: $(grep error "$T/err" | head -1 | cut -c1-150)"
  else
    failed=$((failed + 1)); echo "FAIL $name: exit $rc: $(tail -2 "$T/err")"
  fi
done
echo "tflite bad inputs: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
