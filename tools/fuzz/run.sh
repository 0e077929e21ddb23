#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan + UBSan, -DTRANSFIX_FUZZ=ON) in build-fuzz, generates
# their seed corpora (tools/fuzz/make_seeds.py) and runs each target for SECONDS, one process at a
# time (one core). Fails when a target finds a crash, a timeout (-timeout=5 s per input), an
# out-of-memory (-rss_limit_mb=2048) or an allocation over -malloc_limit_mb=1024.
# Usage: tools/fuzz/run.sh [SECONDS=60] [TARGET...]     (`make fuzz`: FUZZ_SECONDS=60, every target)
# Targets: tflite onnx keras_h5 keras_json npy image json_report (docs/fuzzing.md).
# Corpora grow in build-fuzz/corpus/<target>/, logs in build-fuzz/logs/, crashing inputs land in
# build-fuzz/crashes/<target>/. Reproduce one with build-fuzz/<target>_fuzz FILE; minimize it with
#   build-fuzz/<target>_fuzz -minimize_crash=1 -runs=10000 FILE
# and, once fixed, keep it under tests/data/bad_inputs/<format>/fuzz_*.<ext> (tests/bad_inputs_test.sh;
# TFLite: tests/data/tflite_bad/, tests/tflite_bad_test.sh).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-60}
shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=(tflite onnx keras_h5 keras_json npy image json_report)
JOBS=${JOBS:-1}
CMAKE=${CMAKE:-$(test -x /usr/bin/cmake && echo /usr/bin/cmake || echo cmake)}
B=${FUZZ_BUILD:-$ROOT/build-fuzz}
"$CMAKE" -S "$ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 \
  -DTRANSFIX_FUZZ=ON >/dev/null || { echo "fuzz: cmake failed"; exit 1; }
ninja -C "$B" -j "$JOBS" $(printf '%s_fuzz ' "${TARGETS[@]}") | grep -v '^\[' || true
for t in "${TARGETS[@]}"; do [[ -x $B/${t}_fuzz ]] || { echo "build of ${t}_fuzz failed"; exit 1; }; done
# Real reports for json_report's seeds, when a normal build exists (make build): two shards of a
# compare run (merge), a localize report and a compare report (coverage --against).
TF=${TRANSFIX:-$ROOT/build/transfix}
if [[ -x $TF && ! -d $B/report_seeds ]]; then
  mkdir -p "$B/report_seeds"
  M=$ROOT/examples/tiny_cnn.onnx
  for i in 1 2; do
    "$TF" compare "$M" "$M" --random 4 --shard "$i/2" --calibration-samples 1 --report "$B/report_seeds/shard$i.json" >/dev/null 2>&1
  done
  "$TF" compare "$M" "$M" --random 2 --calibration-samples 1 --per-sample --report "$B/report_seeds/compare.json" >/dev/null 2>&1
  "$TF" localize "$ROOT/examples/upsample_opset9.onnx" "$ROOT/examples/upsample_opset11.onnx" \
    --random 1 --report "$B/report_seeds/localize.json" >/dev/null 2>&1
  # The reports name models by path: the fuzz target's folder has a.onnx and b.onnx.
  sed -i -E 's#"([^"]*/)?examples/[a-z0-9_]+\.onnx"#"a.onnx"#' "$B"/report_seeds/*.json
fi
/usr/bin/python3 "$ROOT/tools/fuzz/make_seeds.py" "$B" >/dev/null
mkdir -p "$B/logs"
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TRANSFIX_FUZZ_KERAS_CASES=$B/keras_cases
# A finding whose innermost frame outside the sanitizer and libFuzzer runtimes (frames of the fuzz
# binary without a source file) and libc / libstdc++ is in libhdf5 is the
# library's own: the CLI reads HDF5 files in a child process, where a crash or hang of libhdf5 becomes
# an InputError (src/formats/keras/keras_h5_contents.h; tests/keras_test.sh). keras_h5 runs in
# libFuzzer's fork mode so that such findings do not stop it; they are moved to crashes/<t>/libhdf5/.
library_finding() {  # TARGET FILE
  local frame
  frame=$(timeout 60 "$B/${1}_fuzz" -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=1024 "$2" 2>&1 |
    grep -E '^ +#[0-9]+ ' | grep -vE '_fuzz\+0x|libc\.so|libstdc\+\+|libgcc' | head -1)
  [[ $frame == *libhdf5* ]]
}
failed=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$B/corpus/$t" "$B/crashes/$t"
  opts=(-max_total_time="$SECONDS_TO_RUN" -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=1024
        -artifact_prefix="$B/crashes/$t/" -print_final_stats=1)
  [[ -f $ROOT/tools/fuzz/dict/$t.dict ]] && opts+=(-dict="$ROOT/tools/fuzz/dict/$t.dict")
  [[ $t == tflite ]] && opts+=(-max_len=2200000)
  [[ $t == onnx ]] && opts+=(-max_len=300000)
  [[ $t == keras_h5 ]] && opts+=(-max_len=120000)
  [[ $t == keras_h5 ]] && opts+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  echo "== $t: ${SECONDS_TO_RUN} s"
  # keras_h5: no leak detection (libhdf5 leaks on its error paths; the CLI runs it in a short-lived child).
  leaks=1
  [[ $t == keras_h5 ]] && leaks=0
  ASAN_OPTIONS=detect_leaks=$leaks:allocator_may_return_null=1 "$B/${t}_fuzz" "${opts[@]}" "$B/corpus/$t" "$B/seeds/$t" >"$B/logs/$t.log" 2>&1
  rc=$?
  if [[ $t == keras_h5 ]]; then
    rc=0
    mkdir -p "$B/crashes/$t/libhdf5"
    mkdir -p "$B/crashes/$t/unreproducible"
    for f in "$B/crashes/$t"/*; do
      [[ -f $f ]] || continue
      if ASAN_OPTIONS=detect_leaks=0 library_finding "$t" "$f"; then mv "$f" "$B/crashes/$t/libhdf5/"
      elif ASAN_OPTIONS=detect_leaks=0 timeout 60 "$B/${t}_fuzz" -timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=1024 "$f" >/dev/null 2>&1; then
        mv "$f" "$B/crashes/$t/unreproducible/"  # fork mode sometimes writes an empty or unrelated unit
      else rc=1; echo "finding in transfix: $f"; fi
    done
    echo "libhdf5's own findings (contained by the CLI's child process): $(ls "$B/crashes/$t/libhdf5" | wc -l)"
  fi
  if [[ $rc -eq 0 ]]; then
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE' "$B/logs/$t.log" | tr '\n' ' '; echo
  else
    failed+=("$t")
    echo "FAIL $t: $(grep -m1 -E 'ERROR|runtime error|deadly signal|timeout|out-of-memory|malloc' "$B/logs/$t.log" || tail -1 "$B/logs/$t.log")"
    grep -E '^artifact_prefix|Test unit written to' "$B/logs/$t.log" | tail -1
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: findings in ${failed[*]} (logs in $B/logs, inputs in $B/crashes)"
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets ran ${SECONDS_TO_RUN} s each, no finding"
