#!/usr/bin/env bash
# make zoo: the corpus of real conversions (docs/zoo.md). Resumable: each source, conversion and judgement
# is cached under $TRANSFIX_CACHE/zoo/<model>/<conversion>/ and redone only when missing (or with
# ZOO_FORCE=1; ZOO_REJUDGE=1 redoes only the judgements, e.g. for a new transfix); a converter's version is
# part of its record. ZOO_MODELS / ZOO_CONVERSIONS (space-separated)
# pick a slice; the default is everything.
#   sources, conversions: tools/zoo/keras_side.py in .venv-zoo-tf (requirements/zoo-tf.txt)
#   deployment runtimes, ground truth, transfix: tools/zoo/judge.py in .venv (requirements/runtimes.txt)
#   the table: tools/zoo/report.py -> docs/zoo.md (ZOO_DOC to write elsewhere)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
Z=$CACHE/zoo
TFVENV=${ZOO_TF_VENV:-$ROOT/.venv-zoo-tf}
cd "$ROOT"

# The converters' venv, from its pinned requirements (reinstalled only when they change).
if ! cmp -s requirements/zoo-tf.txt "$TFVENV/installed.txt" 2>/dev/null; then
  echo "zoo: pip install -r requirements/zoo-tf.txt into $TFVENV" >&2
  [[ -x $TFVENV/bin/python ]] || python3 -m venv "$TFVENV"
  "$TFVENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements/zoo-tf.txt
  cp requirements/zoo-tf.txt "$TFVENV/installed.txt"
fi

mkdir -p "$Z/data"
[[ -f $Z/data/samples.npy ]] || /usr/bin/python3 tools/zoo/samples.py "$CACHE/images" "$Z/data/samples.npy"

MODELS=${ZOO_MODELS:-$("$TFVENV/bin/python" -c 'import sys; sys.path.insert(0, "tools/zoo"); import keras_side; print(" ".join(keras_side.MODELS))' 2>/dev/null)}
CONVERSIONS=${ZOO_CONVERSIONS:-$("$TFVENV/bin/python" -c 'import sys; sys.path.insert(0, "tools/zoo"); import keras_side; print(" ".join(keras_side.CONVERSIONS))' 2>/dev/null)}
fresh() { [[ -n ${ZOO_FORCE:-} || ! -f $1 ]]; }

for m in $MODELS; do
  dir=$Z/$m
  mkdir -p "$dir"
  if fresh "$dir/source.json"; then
    echo "zoo: $m: source" >&2
    "$TFVENV/bin/python" tools/zoo/keras_side.py source "$m" "$dir" "$Z/data/samples.npy" >"$dir/source.log" 2>&1 ||
      { echo "zoo: $m: source failed (see $dir/source.log)" >&2; continue; }
  fi
  for c in $CONVERSIONS; do
    if fresh "$dir/$c/record.json"; then
      echo "zoo: $m: $c" >&2
      "$TFVENV/bin/python" tools/zoo/keras_side.py convert "$m" "$dir" "$c" >"$dir/$c.log" 2>&1 || true
    fi
    if [[ -n ${ZOO_REJUDGE:-} ]] || fresh "$dir/$c/judge.json"; then
      "$ROOT/.venv/bin/python" tools/zoo/judge.py "$dir" "$c" "$BUILD/transfix" >>"$dir/$c.log" 2>&1 ||
        echo "zoo: $m: $c: judge failed (see $dir/$c.log)" >&2
    fi
  done
done
/usr/bin/python3 tools/zoo/report.py "$Z" "${ZOO_DOC:-docs/zoo.md}"
