#!/usr/bin/env bash
# The embedding benchmark: index a source tree (BM25), embed its chunks with all-MiniLM-L6-v2,
# embed again with nothing new, and time BM25 and hybrid queries (p50/p95), printing the top
# hits of both for each query. Prints crucible-index's `hybrid` bench JSON after `uptime` (the
# machine is shared).
#
#   bench/embeddings/run.sh TREE
#
# The model must be installed (scripts/embedding-model.sh). The index goes to a scratch
# directory; TREE is only read.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TREE=${1:?usage: bench/embeddings/run.sh TREE}
if [ -n "${CRUCIBLE_HOME:-}" ]; then
  home="$CRUCIBLE_HOME"
else
  home="${XDG_DATA_HOME:-$HOME/.local/share}/crucible"
fi
MODEL="$home/models/all-minilm-l6-v2"
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$ROOT"
cargo bench --locked -p crucible-index --features embed --bench hybrid --no-run >&2
echo "uptime: $(uptime)" >&2
cargo bench --locked -q -p crucible-index --features embed --bench hybrid -- "$TREE" "$SCRATCH/index" "$MODEL"
