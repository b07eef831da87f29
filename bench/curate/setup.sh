#!/bin/bash
# The Python tools Crucible's curation is compared with, in a venv under bench/curate/.venv
# (not committed): datatrove and text-dedup from PyPI, with what datatrove's MinHash needs at
# run time but does not declare: `tokenizers` (imported by its dedup package), `spacy` (its
# English word tokenizer, a blank pipeline: no model download), `orjson` (its JSON Lines
# reader), and xxhash 3 (datatrove 0.10.1 hashes str, which xxhash 4 refuses).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -x "$here/.venv/bin/python" ]; then
    python3 -m venv "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install --quiet --upgrade pip
"$here/.venv/bin/python" -m pip install --quiet "datatrove==0.10.1" "text-dedup==0.4.0" "datasketch" \
    "tokenizers==0.23.3" "spacy==3.8.18" "orjson==3.13.0" "xxhash==3.8.2"
"$here/.venv/bin/python" -m pip freeze > "$here/cache/venv-freeze.txt" 2>/dev/null || true
