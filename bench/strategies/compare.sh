#!/usr/bin/env bash
# Every strategy on the same tasks, one after another in one window, then one table.
#
#   bench/strategies/compare.sh [BENCHMARK[:LANG]] [TASKS] [STRATEGY ...]
#
# BENCHMARK defaults to humaneval (humaneval-x:cpp for a language of a multilingual set), TASKS
# (the first N tasks) to 41, the strategies to plain, rerank, reflexion, agent, rerank+repair and
# repair (each with its preset budget).
# Each strategy writes runs/<benchmark>[-<lang>]-first<N>-<strategy>/; `crucible eval` resumes a run
# directory, so re-running this script after an interruption continues where it stopped.
# CRUCIBLE names the binary (default: the release build); extra `crucible eval` options go in
# CRUCIBLE_EVAL_ARGS (for example "--weights as-is --data-dir ../shared/data").
set -euo pipefail
cd "$(dirname "$0")/../.."

spec="${1:-humaneval}"
benchmark="${spec%%:*}"
lang_args=()
name="$benchmark"
if [[ "$spec" == *:* ]]; then
  lang_args=(--lang "${spec#*:}")
  name="$benchmark-${spec#*:}"
fi
tasks="${2:-41}"
shift $(($# < 2 ? $# : 2))
strategies=("$@")
if ((${#strategies[@]} == 0)); then
  strategies=(plain rerank reflexion agent rerank+repair repair)
fi
crucible="${CRUCIBLE:-${CARGO_TARGET_DIR:-target}/release/crucible}"
if [ ! -x "$crucible" ]; then
  echo "compare: no crucible binary at $crucible; build it (cargo build --release -p crucible-cli) or set CRUCIBLE" >&2
  exit 2
fi
read -r -a extra <<<"${CRUCIBLE_EVAL_ARGS:-}"

dirs=()
for strategy in "${strategies[@]}"; do
  out="runs/${name}-first${tasks}-${strategy//+/-}"
  dirs+=("$out")
  echo "compare: $strategy on the first $tasks tasks of $spec -> $out" >&2
  "$crucible" eval --benchmark "$benchmark" "${lang_args[@]}" --limit "$tasks" \
    --strategy "$strategy" --out "$out" "${extra[@]}"
done
python3 bench/results/table.py "${dirs[@]}"
