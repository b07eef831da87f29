#!/usr/bin/env bash
# Create (once) the Python virtual environment holding the reference implementations that
# crucible-metrics is checked and benchmarked against, pinned to versions that work together:
#
#   codebleu 0.7.0 declares `tree-sitter>=0.22,<0.23`. py-tree-sitter 0.22 takes a grammar as an
#   integer pointer, and the grammar wheels from 0.23 on hand it a capsule instead ("TypeError: an
#   integer is required", codebleu issue #62), so the grammars are pinned to the last wheels before
#   that change. crucible-syntax pins the same grammar versions (and the tree-sitter 0.22 runtime),
#   so both sides parse with the same grammars.
#
# Usage: bench/metrics/venv.sh [VENV_DIR]   (default: $CRUCIBLE_HOME/cache/metrics-venv)
# Prints the venv's python.
set -euo pipefail
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
venv=${1:-$home/cache/metrics-venv}
pins=(
  codebleu==0.7.0
  tree-sitter==0.22.3
  tree-sitter-python==0.21.0
  tree-sitter-c==0.21.4
  tree-sitter-cpp==0.22.3
  tree-sitter-java==0.21.0
  tree-sitter-javascript==0.23.1
  tree-sitter-go==0.21.2
  tree-sitter-rust==0.21.2
  tree-sitter-c-sharp==0.21.3
  tree-sitter-php==0.22.8
  sacrebleu==2.6.0
  scipy==1.14.1
  numpy==2.1.3
  fuzzywuzzy==0.18.0
)
stamp="$venv/.crucible-pins"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${pins[*]}" ]; then
  echo "$venv/bin/python"
  exit 0
fi
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}" >&2
echo "${pins[*]}" > "$stamp"
echo "$venv/bin/python"
