#!/usr/bin/env bash
# The completion latency benchmark of docs/PERFORMANCE.md ("Completion latency through the
# language server"): `crucible lsp` on this repository with the real model, from keystroke
# (didChange) to completion: a warm-up completion (model load, index build), the first request
# at the cursor (its whole prompt evaluated) and the follow-ups while typing (p50/p95/p99),
# for each count of new tokens.
#
#   bench/lsp/run.sh [MODEL] [KEYSTROKES] [NEW_TOKENS...]
#
# MODEL defaults to the default model (qwen2.5-coder-0.5b-instruct) under CRUCIBLE_HOME or
# ~/.local/share/crucible (`crucible model pull` installs it); NEW_TOKENS defaults to 16 64.
# BIN=path/to/crucible uses that binary instead of building one; REPO=DIR types in another
# checkout (default: this one). The index lives in a scratch
# CRUCIBLE_HOME, built by the first run's warm-up and found up to date by the others. Prints
# `uptime` before each run (the machine is shared) and one JSON object per run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HOME_DIR=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
MODEL=${1:-$HOME_DIR/models/qwen2.5-coder-0.5b-instruct.gguf}
KEYSTROKES=${2:-30}
shift $(($# < 2 ? $# : 2))
NEW_TOKENS=("$@")
[ ${#NEW_TOKENS[@]} -gt 0 ] || NEW_TOKENS=(16 64)
SCRATCH=${SCRATCH:-$(mktemp -d)}
trap 'rm -rf "$SCRATCH"' EXIT
if [ ! -f "$MODEL" ]; then
  echo "no model at $MODEL: run \`crucible model pull\` or pass a GGUF path" >&2
  exit 1
fi

REPO=${REPO:-$ROOT}
cd "$ROOT"
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -q -p crucible-cli >&2
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/crucible
fi
for tokens in "${NEW_TOKENS[@]}"; do
  echo "== $tokens new tokens; uptime: $(uptime)"
  python3 "$ROOT/bench/lsp/latency.py" --bin "$BIN" --repo "$REPO" --model "$MODEL" \
    --home "$SCRATCH/home" --keystrokes "$KEYSTROKES" --max-new-tokens "$tokens"
done
