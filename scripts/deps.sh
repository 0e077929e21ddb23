#!/usr/bin/env bash
# Installs what transfix needs on Debian 12, only what is missing. Idempotent.
# Usage: scripts/deps.sh [--no-python]   (--no-python skips Debian's torch/torchvision used by fixture scripts)
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
PY_DEBS=(python3 python3-numpy python3-torch python3-torchvision python3-onnx python3-h5py)
# The venv's interpreter comes from the Python first on PATH (Python 3.11 with pip); Debian's python3-venv
# makes `python3 -m venv` work where that Python is Debian's own.
DEBS+=(python3-venv)
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

# The reference runtimes (ONNX Runtime, LiteRT) and the JSON Schema validator, pinned in
# requirements/runtimes.txt, in the project's git-ignored virtual environment .venv. Reinstalled only
# when the requirements file changed since the last install (its copy is kept in .venv).
VENV=${TRANSFIX_VENV:-.venv}
REQ=requirements/runtimes.txt
if ! cmp -s "$REQ" "$VENV/installed-runtimes.txt" 2>/dev/null; then
  PY=$(command -v python3.11 || command -v python3)
  [[ -x $VENV/bin/python ]] || { echo "deps: creating $VENV with $PY" >&2; "$PY" -m venv "$VENV"; }
  echo "deps: pip install -r $REQ into $VENV" >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$REQ"
  "$VENV/bin/python" -m pip check >/dev/null || { "$VENV/bin/python" -m pip check >&2; exit 2; }
  cp "$REQ" "$VENV/installed-runtimes.txt"
fi
echo "deps: ok" >&2
