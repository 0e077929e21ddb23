#!/usr/bin/env bash
# Generates the fixture models and reference data into $TRANSFIX_CACHE (default ~/.cache/transfix):
# natural images from Debian packages, then seeded + BatchNorm-recalibrated torchvision models
# exported to TorchScript and ONNX (see docs/fixtures.md). Idempotent; arguments go to
# tools/make_fixtures.py (e.g. --force, --models resnet101,mobilenet_v2, --verify).
set -euo pipefail
cd "$(dirname "$0")/.."
export TRANSFIX_CACHE="${TRANSFIX_CACHE:-$HOME/.cache/transfix}"
PY=/usr/bin/python3

if ! "$PY" -c 'import numpy, torch, torchvision, onnx, PIL' 2>/dev/null; then
  echo "fixtures: $PY lacks numpy/torch/torchvision/onnx/PIL; run scripts/deps.sh" >&2
  exit 1
fi
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
  echo "fixtures: needs apt-get and dpkg-deb (Debian) to fetch the natural images" >&2; exit 1; }

tools/natural_images.sh
exec "$PY" tools/make_fixtures.py "$@"
