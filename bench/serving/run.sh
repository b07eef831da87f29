#!/usr/bin/env bash
# Serving benchmark: `crucible serve` and llama.cpp's `llama-server` (built from the same vendored
# llama.cpp by build-llama-server.sh) on the same GGUF, threads, slots and per-slot context,
# side by side in one run: both servers stay up, and for each concurrency (1, 4, 10, 20 clients) the
# rounds alternate between them (crucible first in odd rounds, llama-server first in even ones),
# so a change in the machine's load hits both alike. load.py sends HumanEval prompts as raw text
# to /v1/completions (streamed, greedy, fixed max_tokens; request i gets prompt i on both) and
# reports aggregate tokens/s, TTFT and latency p50/p99; `load.py --summarize` then gives the
# medians over rounds, the ratios crucible / llama-server and crucible's per-request overhead
# (median latency difference on the same request at concurrency 1). Every report records the
# load average; on a loaded machine say so next to any figure.
#
# Usage: bench/serving/run.sh [--short] [OUT_DIR]     (default OUT_DIR bench/results/serving-DATE)
#   --short: 1 round, 2 requests per client, 32 tokens (a few minutes); else 5 rounds, 4
#   requests per client, 128 tokens, then 50 clients against crucible serve (served or 429,
#   none dropped) and the editor-sized /infill pair on both.
# Env: THREADS (2), SLOTS (8), CTX per slot (4096), LEVELS ("1 4 10 20"), ROUNDS, PER_CLIENT,
#   MAX_TOKENS, MODEL (the default 0.5B GGUF), CRUCIBLE_DATA (for HumanEval; default the data
#   `crucible data pull` installed, $CRUCIBLE_HOME/data), SERVE_ARGS (more arguments of
#   `crucible serve`, e.g. "--flash-attention auto").
set -euo pipefail
cd "$(dirname "$0")/../.."
short=0
if [ "${1:-}" = "--short" ]; then
  short=1
  shift
fi
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
model=${MODEL:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
threads=${THREADS:-2}
slots=${SLOTS:-8}
ctx=${CTX:-4096}
levels=${LEVELS:-1 4 10 20}
if [ "$short" = 1 ]; then
  rounds=${ROUNDS:-1} per_client=${PER_CLIENT:-2} max_tokens=${MAX_TOKENS:-32}
else
  rounds=${ROUNDS:-5} per_client=${PER_CLIENT:-4} max_tokens=${MAX_TOKENS:-128}
fi
out=${1:-bench/results/serving-$(date +%Y%m%d-%H%M)}
export CRUCIBLE_DATA=${CRUCIBLE_DATA:-$home/data}
mkdir -p "$out"
crucible="${CARGO_TARGET_DIR:-target}/release/crucible"
[ -x "$crucible" ] || cargo build --release --locked -p crucible-cli
llama_server=$(bench/serving/build-llama-server.sh)
[ -f "$model" ] || { echo "run.sh: no model at $model; run \`crucible model pull\`" >&2; exit 1; }

wait_ready() {
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$1/health" >/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "run.sh: the server on port $1 did not become ready (see $out/*.log)" >&2
  return 1
}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait || true; }
trap cleanup EXIT

"$crucible" serve --model "$model" --threads "$threads" --ctx "$ctx" --max-batch "$slots" --port 8181 ${SERVE_ARGS:-} \
  >"$out/crucible.log" 2>&1 &
pids+=($!)
crucible_pid=$!
"$llama_server" -m "$model" -t "$threads" -tb "$threads" -c $((ctx * slots)) -np "$slots" \
  --port 8182 --host 127.0.0.1 >"$out/llama-server.log" 2>&1 &
pids+=($!)
llama_pid=$!
wait_ready 8181
wait_ready 8182

port_of() { [ "$1" = crucible ] && echo 8181 || echo 8182; }
pid_of() { [ "$1" = crucible ] && echo "$crucible_pid" || echo "$llama_pid"; }
measure() { # name level round
  local name=$1 level=$2 round=$3
  echo "== $name, $level clients, round $round: load $(cut -d' ' -f1 /proc/loadavg)" >&2
  python3 bench/serving/load.py --url "http://127.0.0.1:$(port_of "$name")" --pid "$(pid_of "$name")" \
    --prompts humaneval --route completions --concurrency "$level" \
    --requests $((level * per_client)) --max-tokens "$max_tokens" >"$out/$name-c$level-r$round.json"
}

echo "uptime: $(uptime)" | tee "$out/machine.txt"
echo "short=$short threads=$threads slots=$slots ctx=$ctx rounds=$rounds per_client=$per_client max_tokens=$max_tokens" \
  | tee -a "$out/machine.txt"
# One warm-up request each: page in the weights, build the contexts.
for name in crucible llama-server; do
  python3 bench/serving/load.py --url "http://127.0.0.1:$(port_of $name)" --prompts humaneval \
    --route completions --concurrency 1 --requests 1 --max-tokens 8 >/dev/null
done
for level in $levels; do
  for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="crucible llama-server"; else order="llama-server crucible"; fi
    for name in $order; do measure "$name" "$level" "$round"; done
  done
done
if [ "$short" = 0 ]; then
  echo "== crucible, 50 clients: load $(cut -d' ' -f1 /proc/loadavg)" >&2
  python3 bench/serving/load.py --url http://127.0.0.1:8181 --pid "$crucible_pid" --concurrency 50 \
    --max-tokens "$max_tokens" >"$out/crucible-50clients.json"
  for name in crucible llama-server; do
    python3 bench/serving/load.py --url "http://127.0.0.1:$(port_of $name)" --pid "$(pid_of $name)" \
      --infill >"$out/$name-infill.json"
  done
fi
echo "uptime after: $(uptime)" | tee -a "$out/machine.txt"
python3 bench/serving/load.py --summarize "$out" | tee "$out/summary.json"
