#!/usr/bin/env bash
# Installs what transfix needs on Debian 12, only what is missing. Idempotent.
# Usage: scripts/deps.sh [--no-python]   (--no-python skips torch/torchvision used by fixture scripts)
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(
  build-essential cmake ninja-build pkg-config
  protobuf-compiler libprotobuf-dev libonnx-dev libonnx-testdata
  libeigen3-dev libopenblas-dev libdnnl-dev
  nlohmann-json3-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
  libpng-dev libjpeg-dev zlib1g-dev
  flatbuffers-compiler libflatbuffers-dev
  libtorch-dev
  libhdf5-dev
  libarmnn-dev libarmnntfliteparser-dev libarmnn-cpuref-backend22 clang-14 libclang-rt-14-dev
  chromium chromium-driver
)
# Node.js may come from elsewhere than Debian (Debian's npm then conflicts): install only if missing.
command -v node >/dev/null 2>&1 || DEBS+=(nodejs)
command -v npm >/dev/null 2>&1 || DEBS+=(npm)
PY_DEBS=(python3 python3-numpy python3-torch python3-torchvision python3-onnx python3-h5py)
[[ "${1:-}" == "--no-python" ]] || DEBS+=("${PY_DEBS[@]}")

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node-side reference runtimes (ONNX Runtime, the TFLite interpreter in WebAssembly) and Ajv (JSON Schema checks of the
# reports). The prebuilt native binary ships inside the npm package itself; ONNXRUNTIME_NODE_INSTALL=skip stops its
# install script from downloading extras.
if [[ ! -d tools/node/node_modules/onnxruntime-node || ! -d tools/node/node_modules/@tensorflow/tfjs-tflite ||
      ! -d tools/node/node_modules/ajv ]]; then
  echo "deps: npm install in tools/node" >&2
  (cd tools/node && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --silent >/dev/null)
fi
echo "deps: ok" >&2
