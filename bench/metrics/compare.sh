#!/usr/bin/env bash
# CodeBLEU and BLEU throughput, crucible-metrics against the `codebleu` package and sacrebleu, on
# the same 164 x 10 pairs (make_bench_pairs.py), one core each (taskset), three rounds each;
# prints both JSON results (medians of the rounds in *_pairs_per_s).
#
# Usage: bench/metrics/compare.sh [LANGUAGE] [ROUNDS]   (default: python 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
language=${1:-python}
rounds=${2:-3}
data=${CRUCIBLE_DATA:-${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}/data}
[ -d "$data/humaneval-x" ] || data=/work/shared/data
python=$(bench/metrics/venv.sh)
pairs=$(mktemp --suffix=.jsonl)
trap 'rm -f "$pairs"' EXIT
python3 bench/metrics/make_bench_pairs.py "$data" "$language" "$pairs"
cargo build --release --locked -p crucible-metrics --example metrics_bench >&2
target=${CARGO_TARGET_DIR:-target}
echo "== crucible-metrics ($language, $(wc -l < "$pairs") pairs, core 0)" >&2
taskset -c 0 "$target/release/examples/metrics_bench" "$pairs" "$language" "$rounds"
echo "== codebleu + sacrebleu ($language, core 0)" >&2
taskset -c 0 "$python" -W ignore bench/metrics/bench_reference.py "$pairs" "$language" "$rounds"
