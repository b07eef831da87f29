#!/usr/bin/env bash
# Speculative decoding against plain greedy decoding on HumanEval prompts, the two modes
# alternating per prompt in one process so both see the same load. Prints one JSON line per mode
# (see crates/crucible-infer-llama/examples/speculate_bench.rs) and the load average.
#
# Usage: bench/speculative/run.sh [MODEL.gguf] [PROMPTS] [MAX_NEW_TOKENS] [THREADS] [KIND] [MODE] [DRAFT.gguf]
#   KIND: repair (HumanEval tasks with one operator flipped, the default) or plain (the task's
#         prompt, fresh code); see repair_prompts.py
#   MODE: lookup (prompt lookup, the default) or draft (a draft model, DRAFT.gguf; default the
#         0.5B drafting, with the 1.5B as MODEL when MODEL is empty)
# BATCH_INVARIANT=1 loads the model(s) in batch-invariant mode (`--batch-invariant`), both modes.
# SPECULATE_BENCH=path runs that speculate_bench binary instead of building it.
set -euo pipefail
cd "$(dirname "$0")/../.."
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
kind=${5:-repair}
mode=${6:-lookup}
if [ "$mode" = draft ]; then
  model=${1:-$home/models/qwen2.5-coder-1.5b-instruct.gguf}
  draft=${7:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
else
  model=${1:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
  draft=
fi
count=${2:-20}
max_new=${3:-256}
threads=${4:-2}
. bench/speculative/prepare.sh
uptime >&2
GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-1000} "$bench" \
  ${BATCH_INVARIANT:+--batch-invariant} "$model" "$prompts" "$max_new" "$threads" "$mode" ${draft:+"$draft"}
uptime >&2
