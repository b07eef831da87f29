#!/usr/bin/env bash
# The repository-index benchmark of docs/PERFORMANCE.md ("Repository index"): index a large real
# tree, the sources of every crate in the local cargo registry, and put ripgrep's plain scan of
# the same tree beside it as a floor.
#
#   bench/index/run.sh [TREE] [ROUNDS]
#
# TREE (default ~/.cargo/registry/src) is copied to a scratch directory first, because the
# benchmark changes a file in it. Each round prints the crucible-index benchmark's JSON (cold
# index MB/s and files/s, peak RSS, updates with nothing changed and after one file changed,
# BM25 query latency p50/p95) and ripgrep's timings, after `uptime` (the machine is shared).
# Installs ripgrep from Debian when it is missing. The JSON has each update's phases and the
# process's CPU time per named-path update and per query (wall time on a shared machine carries
# scheduling delays). For more update and query rounds on the index a round left, run the
# benchmark binary again with `--keep-index` (SCRATCH=DIR KEEP_SCRATCH=1 keeps the scratch directory).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TREE=${1:-$HOME/.cargo/registry/src}
ROUNDS=${2:-2}
SCRATCH=${SCRATCH:-$(mktemp -d)}
if [ -z "${KEEP_SCRATCH:-}" ]; then trap 'rm -rf "$SCRATCH"' EXIT; fi

if ! command -v rg >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ripgrep >/dev/null
fi

echo "copying $TREE ($(du -sh "$TREE" | cut -f1)) to $SCRATCH/tree" >&2
cp -r "$TREE" "$SCRATCH/tree"
echo "tree: $(find "$SCRATCH/tree" -type f | wc -l) files, $(du -sb "$SCRATCH/tree" | cut -f1) bytes" >&2

cd "$ROOT"
cargo bench --locked -p crucible-index --bench index --no-run >&2
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round; uptime: $(uptime)"
  cargo bench --locked -q -p crucible-index --bench index -- "$SCRATCH/tree" "$SCRATCH/index"
  # ripgrep's plain scan (the floor): every line of every file it searches, counted, then two
  # identifier searches an index answers from its postings.
  for pattern in '' 'read_to_string' 'fn\s+from_str_radix'; do
    start=$(date +%s%N)
    matches=$(rg --no-messages --count-matches -e "$pattern" "$SCRATCH/tree" | awk -F: '{s+=$NF} END {print s+0}')
    end=$(date +%s%N)
    echo "ripgrep -e '$pattern': $(( (end - start) / 1000000 )) ms, $matches matches"
  done
done
