#!/usr/bin/env bash
# Runs every test through CTest: unit tests, ONNX conformance (fp32 and fp64), CLI and bad-input
# tests, fixture checks against PyTorch and ONNX Runtime, third-party models from ../shared.
# TRANSFIX_SKIP_SLOW=1 leaves out the fixture check (the sanitizer build uses it: seven real-size
# models at four opsets are too slow under ASan).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
args=(--test-dir "$BUILD" --output-on-failure --timeout 2400)
[[ -n ${TRANSFIX_SKIP_SLOW:-} ]] && args+=(-E '^fixtures$')
exec "${CTEST:-ctest}" "${args[@]}"
