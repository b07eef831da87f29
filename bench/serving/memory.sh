#!/usr/bin/env bash
# Peak RSS of `crucible serve` alone through the full run's heavier half: 10 and 20 streaming
# clients (3 rounds each, 4 requests per client, 128 tokens; they fill the prompt cache), then
# 50 clients (every request served or refused with 429), then the editor-sized /infill pair.
# Prints each step's tokens/s, TTFT p95 and the peak RSS so far; the JSON reports go to OUT_DIR.
#
# Usage: bench/serving/memory.sh [OUT_DIR]   (default bench/results/serving-memory-DATE)
# Env: CRUCIBLE (the binary; default target/release/crucible), MODEL (the default 0.5B GGUF),
#   THREADS (2), SLOTS (8), CTX per slot (4096), PORT (8181), SERVE_ARGS (more `serve` flags).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-bench/results/serving-memory-$(date +%Y%m%d-%H%M%S)}
crucible=${CRUCIBLE:-target/release/crucible}
model=${MODEL:-$HOME/.local/share/crucible/models/qwen2.5-coder-0.5b-instruct.gguf}
port=${PORT:-8181}
[ -x "$crucible" ] || { echo "no crucible binary at $crucible: build it with cargo build --release -p crucible-cli, or set CRUCIBLE" >&2; exit 2; }
[ -f "$model" ] || { echo "no model at $model: run scripts/setup.sh, or set MODEL" >&2; exit 2; }
mkdir -p "$out"
url=http://127.0.0.1:$port
"$crucible" serve --model "$model" --threads "${THREADS:-2}" --ctx "${CTX:-4096}" --max-batch "${SLOTS:-8}" \
  --port "$port" ${SERVE_ARGS:-} >"$out/crucible.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do curl -sf "$url/health" >/dev/null && break; sleep 0.5; done
curl -sf "$url/health" >/dev/null || { echo "crucible serve did not become ready; see $out/crucible.log" >&2; exit 1; }
echo "uptime: $(uptime)"
python3 bench/serving/load.py --url "$url" --prompts humaneval --route completions --concurrency 1 --requests 1 --max-tokens 8 >/dev/null
show() { # file label
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], {k: d.get(k) for k in ['outcomes', 'tokens_per_second', 'ttft_p95', 'peak_rss_mib', 'load_average']})" "$1" "$2"
}
for level in 10 20; do
  for round in 1 2 3; do
    python3 bench/serving/load.py --url "$url" --pid "$pid" --prompts humaneval --route completions \
      --concurrency "$level" --requests $((level * 4)) --max-tokens 128 >"$out/c$level-r$round.json"
    show "$out/c$level-r$round.json" "$level clients, round $round"
  done
done
python3 bench/serving/load.py --url "$url" --pid "$pid" --concurrency 50 --max-tokens 128 >"$out/c50.json"
show "$out/c50.json" "50 clients"
python3 bench/serving/load.py --url "$url" --pid "$pid" --infill >"$out/infill.json"
cat "$out/infill.json"
echo "peak RSS of the whole run: $(grep VmHWM /proc/$pid/status)"
echo "uptime after: $(uptime)"
