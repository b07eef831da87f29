#!/usr/bin/env bash
# The completion latency benchmark of docs/PERFORMANCE.md ("Completion latency through the
# language server"): `crucible lsp` on this repository with the real model, from keystroke
# (didChange) to completion, first request and follow-ups (p50/p99), cold index then warm.
#
#   bench/lsp/run.sh [MODEL] [KEYSTROKES]
#
# MODEL defaults to the default model (qwen2.5-coder-0.5b-instruct) under CRUCIBLE_HOME or
# ~/.local/share/crucible (`crucible model pull` installs it). The index lives in a scratch
# CRUCIBLE_HOME: the first run builds it (cold), the second finds it up to date (warm). Prints
# `uptime` before each run (the machine is shared) and one JSON object per run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HOME_DIR=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
MODEL=${1:-$HOME_DIR/models/qwen2.5-coder-0.5b-instruct.gguf}
KEYSTROKES=${2:-30}
SCRATCH=${SCRATCH:-$(mktemp -d)}
trap 'rm -rf "$SCRATCH"' EXIT
if [ ! -f "$MODEL" ]; then
  echo "no model at $MODEL: run \`crucible model pull\` or pass a GGUF path" >&2
  exit 1
fi

cd "$ROOT"
cargo build --release --locked -q -p crucible-cli >&2
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/crucible
for run in cold warm; do
  echo "== $run index; uptime: $(uptime)"
  python3 "$ROOT/bench/lsp/latency.py" --bin "$BIN" --repo "$ROOT" --model "$MODEL" \
    --home "$SCRATCH/home" --keystrokes "$KEYSTROKES"
done
