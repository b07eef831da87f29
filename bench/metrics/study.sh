#!/usr/bin/env bash
# Which metric predicts correctness (issue 20, docs/RESULTS.md "Which metric predicts
# correctness"): the similarity metrics and the references' perplexity of every run against
# its verdicts (point-biserial r and AUROC per run), the LLM judge's agreement with execution
# on a subset, and Kendall's tau of each metric against pass@1 across runs (`crucible compare`).
#
# The runs are existing generations: greedy `crucible eval` run directories under
# CACHE/LIMIT/MODEL/BENCH (made by the `generate` stage, which decodes and is not in the
# default stages), and samples files of earlier runs given in SAMPLES (judged again with
# `crucible score`, which costs sandbox runs but no decoding).
#
# Every stage is resumable and safe to kill: run directories are ordinary `crucible eval` and
# `crucible score` directories (re-running the same command continues them), and `--metric`
# appends metrics.jsonl beside the verdicts, computing only what is missing (perplexity and the
# judge's grades are kept per sample and model). Models run at `nice -n 19` (a shared machine).
#
# Usage: bench/metrics/study.sh [STAGE...]
#   stages: generate metrics score judge compare table (default: metrics score judge compare table)
# Environment:
#   LIMIT     tasks per benchmark of the eval runs: a number (the first N) or `all` (default 41)
#   CACHE     where run directories go (default $CRUCIBLE_HOME/cache/metrics-study)
#   CRUCIBLE  the crucible binary (default: $CARGO_TARGET_DIR/release/crucible, else target/release/crucible)
#   MODELS    models of the greedy eval runs (default: qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct)
#   SAMPLED   models that also get a sampled eval run, MODEL@TEMPERATURE (seed 1), in
#             CACHE/LIMIT/MODEL-tTEMPERATURE/BENCH (default: qwen2.5-coder-0.5b-instruct@0.8; empty
#             for none): a third run per benchmark, so Kendall's tau across runs is defined
#   BENCHES   benchmarks of the eval runs (default: humaneval mbpp-plus humaneval-x-cpp humaneval-x-java)
#   SAMPLES   samples files to score, space-separated NAME=BENCH=FILE (BENCH as in BENCHES, e.g.
#             hx-python-t0.8=humaneval-x-python=/path/samples.jsonl); the model their
#             references' perplexity is measured under is SAMPLES_MODEL (default the 0.5B model)
#   JUDGE     the judge model (default qwen2.5-coder-0.5b-instruct)
#   JUDGE_RUN the eval run the judge grades, MODEL/BENCH (default qwen2.5-coder-0.5b-instruct/humaneval)
#   JUDGE_N   samples of it graded (default 20: the first 20 lines of its samples.jsonl)
#   PPL       1 (default) to measure the references' perplexity in the metrics and score
#             stages, 0 to leave it for a later run (it is the slow part on a loaded machine)
#   CRUCIBLE_DATA the benchmark data (default /work/shared/data when it exists)
#
# An eval run with another LIMIT is another directory: a greedy answer can depend on which
# tasks are decoded together (ARCHITECTURE.md, determinism). The metrics stage skips eval runs
# that are not complete (it would otherwise decode the rest).
set -euo pipefail
cd "$(dirname "$0")/../.."
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
limit=${LIMIT:-41}
cache=${CACHE:-$home/cache/metrics-study}
crucible=${CRUCIBLE:-${CARGO_TARGET_DIR:-target}/release/crucible}
models=${MODELS:-qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct}
sampled=${SAMPLED-qwen2.5-coder-0.5b-instruct@0.8}
# Every eval run's spec: MODEL (greedy) or MODEL@TEMPERATURE (sampled).
runs="$models $sampled"
read -r -a benches <<<"${BENCHES:-humaneval mbpp-plus humaneval-x-cpp humaneval-x-java}"
samples_model=${SAMPLES_MODEL:-qwen2.5-coder-0.5b-instruct}
judge=${JUDGE:-qwen2.5-coder-0.5b-instruct}
judge_run=${JUDGE_RUN:-qwen2.5-coder-0.5b-instruct/humaneval}
judge_n=${JUDGE_N:-20}
similarity=bleu,codebleu,em,es,idmatch
case ${PPL:-1} in
  1) measured=$similarity,ppl; scorer=(--model "$samples_model") ;;
  0) measured=$similarity; scorer=() ;;
  *) echo "study: PPL must be 0 or 1" >&2; exit 1 ;;
esac
if [ -z "${CRUCIBLE_DATA:-}" ] && [ -d /work/shared/data ]; then
  export CRUCIBLE_DATA=/work/shared/data
fi
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(metrics score judge compare table)
[ -x "$crucible" ] || { echo "study: no crucible binary at $crucible (build it, or set CRUCIBLE)" >&2; exit 1; }
case $limit in
  all) limit_flag=() ;;
  '' | *[!0-9]*) echo "study: LIMIT must be a number or \`all\`, got \`$limit\`" >&2; exit 1 ;;
  *) limit_flag=(--limit "$limit") ;;
esac

# The flags that select a benchmark.
bench_flags() {
  case $1 in
    humaneval) echo "--benchmark humaneval" ;;
    mbpp-plus) echo "--benchmark mbpp-plus" ;;
    humaneval-x-*) echo "--benchmark humaneval-x --lang ${1#humaneval-x-}" ;;
    *) echo "study: unknown benchmark $1" >&2; return 1 ;;
  esac
}

# The directory of a run spec's eval run of one benchmark.
run_dir() {
  local spec=$1 bench=$2
  case $spec in
    *@*) echo "$cache/$limit/${spec%@*}-t${spec#*@}/$bench" ;;
    *) echo "$cache/$limit/$spec/$bench" ;;
  esac
}

# One eval run's `crucible eval` command, extra flags last. One sample per task, pass@1,
# greedy or (MODEL@T) sampled at temperature T with seed 1; every flag that defines the run is
# spelt out so each stage re-runs the same configuration.
run_eval() {
  local spec=$1 bench=$2
  shift 2
  local out decoding=(--seed 0)
  out=$(run_dir "$spec" "$bench")
  case $spec in *@*) decoding=(--temperature "${spec#*@}" --seed 1) ;; esac
  mkdir -p "$out"
  # shellcheck disable=SC2046
  nice -n 19 "$crucible" eval $(bench_flags "$bench") "${limit_flag[@]}" --model "${spec%@*}" \
    --n 1 --k 1 "${decoding[@]}" --max-new-tokens 768 --max-batch 16 --out "$out" "$@" \
    >>"$out.log" 2>&1
}

# Whether an eval run has every sample (so re-running its command decodes nothing).
complete() {
  local dir=$1
  [ -f "$dir/summary.json" ] || return 1
  python3 - "$dir" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1] + "/summary.json"))
sys.exit(0 if summary["tasks"] > 0 and summary["samples"] >= summary["tasks"] else 1)
PY
}

stage_generate() {
  for spec in $runs; do
    "$crucible" model pull "${spec%@*}" >&2
    for bench in "${benches[@]}"; do
      echo "study: generate $spec $bench ($limit tasks)" >&2
      run_eval "$spec" "$bench"
    done
  done
}

# The similarity metrics and the perplexity of each task's reference under the run's model.
stage_metrics() {
  for spec in $runs; do
    for bench in "${benches[@]}"; do
      local dir
      dir=$(run_dir "$spec" "$bench")
      if ! complete "$dir"; then
        echo "study: skip $spec $bench: no complete run in $dir (the generate stage makes it)" >&2
        continue
      fi
      echo "study: metrics $spec $bench" >&2
      run_eval "$spec" "$bench" --metric "$measured"
    done
  done
}

# Samples files of earlier runs, judged again and compared with their references.
stage_score() {
  for entry in ${SAMPLES:-}; do
    local name=${entry%%=*} rest=${entry#*=}
    local bench=${rest%%=*} file=${rest#*=}
    local out=$cache/score/$name
    mkdir -p "$cache/score"
    echo "study: score $name ($file)" >&2
    # shellcheck disable=SC2046
    nice -n 19 "$crucible" score $(bench_flags "$bench") "$file" --k 1 --out "$out" \
      --metric "$measured" "${scorer[@]}" >>"$out.log" 2>&1
  done
}

# A model's short name: qwen2.5-coder-1.5b-instruct is 1.5b.
short() {
  local name=${1#qwen2.5-coder-}
  echo "${name%-instruct}"
}

# The judge on the first JUDGE_N samples of one eval run (scored again as a subset).
stage_judge() {
  local src=$cache/$limit/$judge_run
  [ -f "$src/samples.jsonl" ] || { echo "study: no samples in $src to judge" >&2; return 1; }
  local name
  # The judge model is in the name: another judge of the same samples is another run.
  name=judge-$(short "$judge")-on-$(echo "$judge_run" | tr / -)-$judge_n
  local out=$cache/score/$name
  mkdir -p "$cache/score"
  head -n "$judge_n" "$src/samples.jsonl" >"$cache/score/$name.samples.jsonl"
  echo "study: judge $judge_n samples of $judge_run with $judge" >&2
  # shellcheck disable=SC2046
  nice -n 19 "$crucible" score $(bench_flags "${judge_run#*/}") "$cache/score/$name.samples.jsonl" \
    --k 1 --out "$out" --metric "$similarity,judge" --judge-model "$judge" >>"$out.log" 2>&1
}

# Every run with metrics: eval runs, then scored ones (judge subsets left out: they repeat
# their run's samples).
runs_with_metrics() {
  local dir
  for spec in $runs; do
    for bench in "${benches[@]}"; do
      dir=$(run_dir "$spec" "$bench")
      [ -f "$dir/metrics.json" ] && echo "$dir"
    done
  done
  for entry in ${SAMPLES:-}; do
    local dir=$cache/score/${entry%%=*}
    [ -f "$dir/metrics.json" ] && echo "$dir"
  done
  return 0
}

# `crucible compare` of the runs of each benchmark (runs of different benchmarks share no task):
# CACHE/compare-BENCH.{txt,json,html}. Kendall's tau across runs needs three runs or more.
stage_compare() {
  local compared=0 bench model entry dir
  for bench in "${benches[@]}"; do
    local dirs=()
    for spec in $runs; do
      dir=$(run_dir "$spec" "$bench")
      [ -f "$dir/metrics.json" ] && dirs+=("$dir")
    done
    for entry in ${SAMPLES:-}; do
      local rest=${entry#*=}
      [ "${rest%%=*}" = "$bench" ] || continue
      dir=$cache/score/${entry%%=*}
      [ -f "$dir/metrics.json" ] && dirs+=("$dir")
    done
    [ ${#dirs[@]} -ge 2 ] || continue
    "$crucible" compare "${dirs[@]}" --html "$cache/compare-$bench.html" | tee "$cache/compare-$bench.txt"
    "$crucible" compare "${dirs[@]}" --json >"$cache/compare-$bench.json"
    compared=$((compared + 1))
  done
  [ $compared -gt 0 ] || { echo "study: no benchmark has two runs with metrics (run the metrics and score stages)" >&2; return 1; }
}

# The markdown tables of docs/RESULTS.md and their plot (CACHE/auroc.svg, copied to
# docs/img/metrics-auroc.svg for the docs).
stage_table() {
  local dirs
  mapfile -t dirs < <(runs_with_metrics; ls -d "$cache"/score/judge-*/ 2>/dev/null || true)
  python3 bench/metrics/study_table.py --svg "$cache/auroc.svg" "${dirs[@]}" | tee "$cache/table.md"
}

for stage in "${stages[@]}"; do
  case $stage in
    generate | metrics | score | judge | compare | table) "stage_$stage" ;;
    *) echo "study: unknown stage \`$stage\` (generate, metrics, score, judge, compare, table)" >&2; exit 1 ;;
  esac
done
