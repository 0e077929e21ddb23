#!/usr/bin/env bash
# Runs every test through CTest: unit tests, ONNX conformance (fp32 and fp64), CLI and bad-input
# tests, fixture checks against PyTorch and ONNX Runtime, third-party models from ../shared.
# TRANSFIX_SKIP_SLOW=1 skips the fixture checks (used by the sanitizer build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
exec ctest --test-dir "$BUILD" --output-on-failure --timeout 1800
