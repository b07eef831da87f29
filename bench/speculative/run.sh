#!/usr/bin/env bash
# Prompt-lookup speculation against plain greedy decoding on repair prompts (HumanEval tasks
# with one operator flipped), the two modes alternating per prompt in one process so both see
# the same load. Prints one JSON line per mode (see
# crates/crucible-infer-llama/examples/speculate_bench.rs) and the load average.
#
# Usage: bench/speculative/run.sh [MODEL.gguf] [PROMPTS] [MAX_NEW_TOKENS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
model=${1:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
count=${2:-20}
max_new=${3:-256}
threads=${4:-2}
data=${CRUCIBLE_DATA:-data}
prompts=$(mktemp)
trap 'rm -f "$prompts"' EXIT
python3 bench/speculative/repair_prompts.py "$data/humaneval/HumanEval.jsonl.gz" "$count" "$prompts"
cargo build --release --locked -p crucible-infer-llama --example speculate_bench >&2
uptime >&2
GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-1000} "${CARGO_TARGET_DIR:-target}/release/examples/speculate_bench" \
  "$model" "$prompts" "$max_new" "$threads"
uptime >&2
