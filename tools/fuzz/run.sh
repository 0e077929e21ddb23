#!/usr/bin/env bash
# Builds the libFuzzer target for the TFLite reader with clang (ASan) in build-fuzz and runs it,
# seeded with every .tflite in ../shared/models and tests/data/tflite_bad.
# Usage: tools/fuzz/run.sh [SECONDS=600] [JOBS=2]
# Crashing inputs land in build-fuzz/crashes/; minimize one with
#   build-fuzz/tflite_fuzz -minimize_crash=1 -runs=10000 CRASH
# and commit it under tests/data/tflite_bad/ (tests/tflite_bad_test.sh reads every file there).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-600}
JOBS=${2:-2}
B=$ROOT/build-fuzz
cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DTRANSFIX_FUZZ=ON >/dev/null
ninja -C "$B" -j "$JOBS" tflite_fuzz
mkdir -p "$B/corpus" "$B/crashes"
SHARED=${TRANSFIX_SHARED_MODELS:-$ROOT/../shared/models}
seeds=("$ROOT/tests/data/tflite_bad")
[[ -d $SHARED ]] && while IFS= read -r f; do cp -n "$f" "$B/corpus/" 2>/dev/null || true; done < <(find "$SHARED" -name '*.tflite' -size -2M)
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 "$B/tflite_fuzz" "$B/corpus" "${seeds[@]}" \
  -max_total_time="$SECONDS_TO_RUN" -max_len=2200000 -rss_limit_mb=4096 -timeout=20 \
  -artifact_prefix="$B/crashes/" -print_final_stats=1
