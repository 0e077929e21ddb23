#!/usr/bin/env bash
# Extracts natural photos shipped in Debian packages into $TRANSFIX_CACHE/images (default
# ~/.cache/transfix/images), without installing the packages: `apt-get download` + `dpkg-deb
# --fsys-tarfile | tar -x` of just the listed files. The images calibrate BatchNorm statistics and
# feed the fixture models (tools/make_fixtures.py), so the models see realistic activations.
#
# Sources (hand-picked: photos only; synthetic patterns, logos, drawings and icons are left out):
#   python3-skimage  /usr/lib/python3/dist-packages/skimage/data/   (astronaut, chelsea, coffee, ...)
#   opencv-doc       /usr/share/doc/opencv-doc/examples/            (OpenCV sample photos)
# Output: images/<source>_<name>.<ext> (the original bytes) and images/images.txt, the list in a
# fixed order. Idempotent: does nothing when every listed image is present.
set -euo pipefail

CACHE="${TRANSFIX_CACHE:-$HOME/.cache/transfix}"
OUT="$CACHE/images"

SKIMAGE_DIR=usr/lib/python3/dist-packages/skimage/data
SKIMAGE=(astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png retina.jpg ihc.png
         camera.png coins.png)
OPENCV_DIR=usr/share/doc/opencv-doc/examples
OPENCV=(data/aero1.jpg data/apple.jpg data/baboon.jpg data/building.jpg data/butterfly.jpg
        data/fruits.jpg data/home.jpg data/messi5.jpg data/orange.jpg data/squirrel_cls.jpg
        data/leuvenA.jpg data/graf1.png data/rubberwhale1.png data/smarties.png data/board.jpg
        data/aloeL.jpg data/chicky_512.png data/ela_original.jpg data/stuff.jpg data/basketball1.png
        alphamat/input_images/plant.jpg hfs/data/000.jpg hfs/data/001.jpg hfs/data/002.jpg
        text/scenetext01.jpg reg/home.png dnn_superres/butterfly.png)

# Destination name of one source file: <source>_<path with / -> _, leading data/ dropped>.
dest_name() { local src=$1 rel=$2; rel=${rel#data/}; echo "${src}_${rel//\//_}"; }

wanted=()
for f in "${SKIMAGE[@]}"; do wanted+=("$(dest_name skimage "$f")"); done
for f in "${OPENCV[@]}"; do wanted+=("$(dest_name opencv "$f")"); done

all_present() {
  [[ -f "$OUT/images.txt" ]] || return 1
  local n
  for n in "${wanted[@]}"; do [[ -s "$OUT/$n" ]] || return 1; done
}
if all_present; then
  echo "images: ${#wanted[@]} natural images present in $OUT" >&2
  exit 0
fi

mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # lets apt's unprivileged _apt user write the download there

# apt-get download PKG into $work; refreshes the package lists once if the first try fails.
download() {
  local pkg=$1
  if ! (cd "$work" && apt-get download -q "$pkg" >/dev/null 2>"$work/apt.err"); then
    echo "images: apt-get download $pkg failed; running apt-get update" >&2
    local SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    (cd "$work" && apt-get download -q "$pkg" >/dev/null) || { cat "$work/apt.err" >&2; exit 1; }
  fi
  ls "$work/${pkg}"_*.deb
}

# extract SOURCE_LABEL PKG DIR FILE...: copies DIR/FILE out of the package into $OUT.
extract() {
  local label=$1 pkg=$2 dir=$3; shift 3
  local deb members=() f
  deb=$(download "$pkg")
  for f in "$@"; do members+=("./$dir/$f"); done
  mkdir -p "$work/$pkg"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/$pkg" "${members[@]}"
  for f in "$@"; do cp "$work/$pkg/$dir/$f" "$OUT/$(dest_name "$label" "$f")"; done
  rm -f "$deb"
}

extract skimage python3-skimage "$SKIMAGE_DIR" "${SKIMAGE[@]}"
extract opencv opencv-doc "$OPENCV_DIR" "${OPENCV[@]}"
printf '%s\n' "${wanted[@]}" >"$OUT/images.txt"
echo "images: extracted ${#wanted[@]} natural images into $OUT" >&2
