#!/usr/bin/env bash
# `cmake --install` of the library into a fresh prefix, then tests/install_consumer (a program of its own
# that only knows find_package(transfix)) configured, built and run against it: it loads an ONNX Sigmoid
# model from Debian's ONNX test data and checks fp32 and fp64 outputs against values it computes itself.
set -euo pipefail
BUILD=$(realpath "$1")
CMAKE=${2:-cmake}
HERE=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL $*"; exit 1; }

"$CMAKE" --install "$BUILD" --prefix "$work/prefix" >/dev/null || fail "cmake --install"
for f in lib/libtransfix.so lib/cmake/transfix/transfixConfig.cmake include/transfix/core/graph.h \
         include/transfix/localize/localize.h bin/transfix bin/torch_run lib/libtransfix_torchscript.so \
         share/transfix/python/ort_run.py share/transfix/python/litert_run.py; do
  [[ -e $work/prefix/$f ]] || fail "not installed: $f"
done
[[ ! -e $work/prefix/include/transfix/cli ]] || fail "the CLI's headers are installed"
echo "ok installed: $(find "$work/prefix/include" -name '*.h' | wc -l) headers, $(du -shL "$work/prefix/lib/libtransfix.so" | cut -f1) library"

"$CMAKE" -S "$HERE/install_consumer" -B "$work/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure the consumer"; }
ninja -C "$work/consumer" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build the consumer"; }
# The consumer sees the installed headers only, never the source tree.
grep -q -- "-I$work/prefix\|-isystem $work/prefix" "$work/consumer/build.ninja" || fail "consumer not compiled against the prefix"
! grep -q "$(dirname "$HERE")/src" "$work/consumer/build.ninja" || fail "consumer compiled against the source tree"

model=/usr/share/libonnx-testdata/data/node/test_sigmoid/model.onnx
out=$("$work/consumer/consumer" "$model") || fail "consumer: $out"
echo "ok $out"
