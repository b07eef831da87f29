#!/usr/bin/env bash
# HumanEval-infilling with a local model (docs/RESULTS.md "HumanEval-infilling"): greedy pass@1
# by execution, with exact match and edit similarity of the gap, on one gap per HumanEval
# problem for each split (164 tasks each; the light random-span split is already one per
# problem). Which gap of a problem is taken is fixed by the smallest sha256 of the task ids, so
# the subset is the same on every machine and favours no position in the function.
#
# Usage: bench/infilling/run.sh [OUT]   (default OUT: runs/infilling)
# Environment: CRUCIBLE (the binary; default $CARGO_TARGET_DIR/release/crucible, else
# target/release/crucible), MODEL (default: the default model), SPLITS (default: single-line
# multi-line random-span-light), ALL=1 for every task of each split instead of one per problem.
# Resumable: re-running the same command continues each run.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/infilling}
crucible=${CRUCIBLE:-${CARGO_TARGET_DIR:-target}/release/crucible}
model_flags=()
[ -n "${MODEL:-}" ] && model_flags=(--model "$MODEL")
read -r -a splits <<<"${SPLITS:-single-line multi-line random-span-light}"
[ -x "$crucible" ] || { echo "infilling: no crucible binary at $crucible (build it, or set CRUCIBLE)" >&2; exit 1; }
mkdir -p "$out"

# The upstream file name's stem of a split (single-line: SingleLine).
file_stem() {
  case $1 in
    single-line) echo SingleLine ;;
    multi-line) echo MultiLine ;;
    random-span) echo RandomSpan ;;
    *) echo "infilling: unknown split $1" >&2; return 1 ;;
  esac
}
for split in "${splits[@]}"; do
  bench=humaneval-infilling-$split
  tasks=()
  if [ "${ALL:-0}" != 1 ] && [ "$split" != random-span-light ]; then
    file=
    for dir in ${CRUCIBLE_DATA:-} ../shared/data "${CRUCIBLE_HOME:-$HOME/.local/share/crucible}/data"; do
      candidate=$dir/humaneval-infilling/HumanEval-$(file_stem "$split")Infilling.jsonl.gz
      if [ -f "$candidate" ]; then file=$candidate; break; fi
    done
    [ -n "$file" ] || { echo "infilling: no HumanEval-infilling data (crucible data pull humaneval-infilling)" >&2; exit 1; }
    tasks=(--tasks "$(python3 bench/infilling/one_per_problem.py "$file")")
  fi
  # Gaps of several lines and spans end at the model's end token; 256 new tokens hold the
  # longest reference span of these subsets with room to spare.
  "$crucible" eval --benchmark "$bench" "${tasks[@]}" "${model_flags[@]}" \
    --max-new-tokens 256 --metric em,es --out "$out/$split"
done
