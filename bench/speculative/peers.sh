#!/usr/bin/env bash
# Crucible's speculative decoding beside llama.cpp's `llama-lookup` / `llama-speculative`, on the
# same prompts, GGUF files and threads, in one run (see peers.py for what is timed and how).
# Prints one line per prompt on stderr, a table and one JSON line, and the load average before
# and after.
#
# Usage: bench/speculative/peers.sh [lookup|draft] [PROMPTS] [MAX_NEW_TOKENS] [THREADS] [KIND] [MODEL.gguf] [DRAFT.gguf]
#   lookup (the default): the 0.5B, prompt lookup, against llama-lookup; KIND defaults to repair
#   draft: the 1.5B with the 0.5B drafting, against llama-speculative; KIND defaults to plain
#   KIND: repair or plain (repair_prompts.py)
# SPECULATE_BENCH=path uses that speculate_bench binary instead of building it; PEER_SPEC_ARGS
# adds arguments to the peer's speculative run (its defaults otherwise); the peers come
# from build-llama-spec.sh (LLAMA_SPEC_DIR=path to use others).
set -euo pipefail
cd "$(dirname "$0")/../.."
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
mode=${1:-lookup}
count=${2:-8}
max_new=${3:-128}
threads=${4:-2}
if [ "$mode" = draft ]; then
  kind=${5:-plain}
  model=${6:-$home/models/qwen2.5-coder-1.5b-instruct.gguf}
  draft=${7:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
else
  kind=${5:-repair}
  model=${6:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
  draft=
fi
. bench/speculative/prepare.sh
spec_dir=${LLAMA_SPEC_DIR:-$(bench/speculative/build-llama-spec.sh)}
echo "peers: $mode, $count $kind prompts, $max_new new tokens at most, $threads threads, $model${draft:+ drafted by $draft}" >&2
uptime >&2
MAX_NEW_TOKENS=$max_new python3 bench/speculative/peers.py "$mode" "$bench" "$spec_dir" "$model" "$prompts" "$threads" ${draft:+"$draft"}
uptime >&2
