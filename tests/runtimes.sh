# The reference runtimes for the shell tests (sourced): ONNX Runtime and LiteRT through the Python
# runners in tools/python, run by the project's venv (scripts/deps.sh) or $TRANSFIX_PYTHON.
RUNTIMES_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYRT=${TRANSFIX_PYTHON:-$RUNTIMES_ROOT/.venv/bin/python}
ort_run() { "$PYRT" "$RUNTIMES_ROOT/tools/python/ort_run.py" "$@"; }
# litert_run MODEL ... [--kernels xnnpack|builtin|reference]: the default is XNNPACK, as deployed.
litert_run() { "$PYRT" "$RUNTIMES_ROOT/tools/python/litert_run.py" "$@"; }
