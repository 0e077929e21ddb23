#!/usr/bin/env bash
# make zoo: the corpus of real conversions (docs/zoo.md). Resumable: each source, conversion and judgement
# is cached under $TRANSFIX_CACHE/zoo/<model>/<conversion>/ and redone only when missing (or with
# ZOO_FORCE=1; ZOO_REJUDGE=1 redoes only the judgements, e.g. for a new transfix); a converter's version is
# part of its record. ZOO_MODELS / ZOO_CONVERSIONS (space-separated)
# pick a slice; the default is everything.
#   sources, conversions: tools/zoo/keras_side.py in .venv-zoo-tf (requirements/zoo-tf.txt) and
#   tools/zoo/torch_side.py in .venv-zoo-torch (requirements/zoo-torch.txt); ZOO_FAMILIES picks them
#   deployment runtimes, ground truth, transfix: tools/zoo/judge.py in .venv (requirements/runtimes.txt)
#   the table: tools/zoo/report.py -> docs/zoo.md (ZOO_DOC to write elsewhere)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
CACHE=${TRANSFIX_CACHE:-$HOME/.cache/transfix}
Z=$CACHE/zoo
cd "$ROOT"

# One venv per converter family, each from its pinned requirements (reinstalled only when they change):
# family -> venv, requirements, the script that builds its sources and runs its converters.
declare -A VENV=([keras]=${ZOO_TF_VENV:-$ROOT/.venv-zoo-tf} [torch]=${ZOO_TORCH_VENV:-$ROOT/.venv-zoo-torch})
declare -A REQS=([keras]=requirements/zoo-tf.txt [torch]=requirements/zoo-torch.txt)
declare -A SIDE=([keras]=tools/zoo/keras_side.py [torch]=tools/zoo/torch_side.py)
FAMILIES=${ZOO_FAMILIES:-keras torch}
venv_for() {
  local family=$1 venv=${VENV[$1]} reqs=${REQS[$1]}
  if ! cmp -s "$reqs" "$venv/installed.txt" 2>/dev/null; then
    echo "zoo: pip install -r $reqs into $venv" >&2
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$reqs" >&2
    cp "$reqs" "$venv/installed.txt"
  fi
}
listed() { "${VENV[$1]}/bin/python" -c "import sys; sys.path.insert(0, 'tools/zoo'); import ${2%.py}; print(' '.join(${2%.py}.$3))" 2>/dev/null; }

mkdir -p "$Z/data"
[[ -f $Z/data/samples.npy ]] || /usr/bin/python3 tools/zoo/samples.py "$CACHE/images" "$Z/data/samples.npy"

fresh() { [[ -n ${ZOO_FORCE:-} || ! -f $1 ]]; }

for family in $FAMILIES; do
  venv_for "$family"
  py=${VENV[$family]}/bin/python side=${SIDE[$family]}
  module=$(basename "$side")
  models=$(listed "$family" "$module" MODELS_ALL 2>/dev/null || listed "$family" "$module" MODELS)
  conversions=${ZOO_CONVERSIONS:-$(listed "$family" "$module" CONVERSIONS)}
  for m in ${ZOO_MODELS:-$(listed "$family" "$module" MODELS)}; do
    [[ " $models " == *" $m "* ]] || continue  # a model of another family
    dir=$Z/$m
    mkdir -p "$dir"
    if fresh "$dir/source.json"; then
      echo "zoo: $m: source" >&2
      "$py" "$side" source "$m" "$dir" "$Z/data/samples.npy" >"$dir/source.log" 2>&1 ||
        { echo "zoo: $m: source failed (see $dir/source.log)" >&2; continue; }
    fi
    for c in $conversions; do
      if fresh "$dir/$c/record.json"; then
        echo "zoo: $m: $c" >&2
        "$py" "$side" convert "$m" "$dir" "$c" >"$dir/$c.log" 2>&1 || true
      fi
      if [[ -n ${ZOO_REJUDGE:-} ]] || fresh "$dir/$c/judge.json"; then
        "$ROOT/.venv/bin/python" tools/zoo/judge.py "$dir" "$c" "$BUILD/transfix" >>"$dir/$c.log" 2>&1 ||
          echo "zoo: $m: $c: judge failed (see $dir/$c.log)" >&2
      fi
    done
  done
done
/usr/bin/python3 tools/zoo/report.py "$Z" "${ZOO_DOC:-docs/zoo.md}"
