#!/bin/bash
# The Python tools Crucible's curation is compared with, in a venv under bench/curate/.venv
# (not committed): datatrove and text-dedup from PyPI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$here/.venv/bin/python" ]; then
    python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --quiet --upgrade pip
"$here/.venv/bin/python" -m pip install --quiet "datatrove==0.10.1" "text-dedup==0.4.0" "datasketch"
"$here/.venv/bin/python" -m pip freeze > "$here/cache/venv-freeze.txt" 2>/dev/null || true
