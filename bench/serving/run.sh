#!/usr/bin/env bash
# Serving benchmark: `crucible serve` and llama.cpp's `llama-server` (built from the same vendored
# llama.cpp by build-llama-server.sh) on the same GGUF, threads, slots and per-slot context,
# driven by load.py: aggregate tokens/s, TTFT p50/p95 and peak RSS at 1, 4, 10 and 20 concurrent
# streaming clients; 50 clients against crucible serve (served or refused with 429, none dropped
# or hanging); an editor-sized /infill request and a second one sharing its prefix.
#
# Usage: bench/serving/run.sh [OUT_DIR]   (default bench/results/serving-DATE)
# Env: THREADS (2), SLOTS (8), CTX per slot (4096), MAX_TOKENS (128), LEVELS ("1 4 10 20").
set -euo pipefail
cd "$(dirname "$0")/../.."
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
model=${MODEL:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
threads=${THREADS:-2}
slots=${SLOTS:-8}
ctx=${CTX:-4096}
max_tokens=${MAX_TOKENS:-128}
levels=${LEVELS:-1 4 10 20}
out=${1:-bench/results/serving-$(date +%Y%m%d-%H%M)}
mkdir -p "$out"
crucible="${CARGO_TARGET_DIR:-target}/release/crucible"
[ -x "$crucible" ] || cargo build --release --locked -p crucible-cli
llama_server=$(bench/serving/build-llama-server.sh)

wait_ready() {
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$1/health" >/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "run.sh: the server on port $1 did not become ready" >&2
  return 1
}

# A fresh server per measurement, so every peak RSS is that run's own.
bench_one() { # name port level -- command...
  local name=$1 port=$2 level=$3
  shift 4
  "$@" >"$out/$name-$level.log" 2>&1 &
  local pid=$!
  wait_ready "$port"
  echo "== $name, $level: load $(cut -d' ' -f1 /proc/loadavg)" >&2
  python3 bench/serving/load.py --url "http://127.0.0.1:$port" --pid "$pid" \
    $( [ "$level" = infill ] && echo --infill || echo --concurrency "$level" --max-tokens "$max_tokens") \
    | tee "$out/$name-$level.json"
  kill -TERM "$pid"
  wait "$pid" || true
}

crucible_cmd=("$crucible" serve --model "$model" --threads "$threads" --ctx "$ctx" --max-batch "$slots" --port 8181)
llama_cmd=("$llama_server" -m "$model" -t "$threads" -tb "$threads" -c $((ctx * slots)) -np "$slots" --port 8182 --host 127.0.0.1)

echo "uptime: $(uptime)" | tee "$out/machine.txt"
for level in $levels; do
  bench_one crucible 8181 "$level" -- "${crucible_cmd[@]}"
  bench_one llama-server 8182 "$level" -- "${llama_cmd[@]}"
done
bench_one crucible 8181 50 -- "${crucible_cmd[@]}"
bench_one crucible 8181 infill -- "${crucible_cmd[@]}"
bench_one llama-server 8182 infill -- "${llama_cmd[@]}" --cache-reuse 256
echo "uptime after: $(uptime)" | tee -a "$out/machine.txt"
