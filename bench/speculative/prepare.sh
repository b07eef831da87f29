# Sourced by run.sh and peers.sh: the prompts file and the speculate_bench binary they share.
# Reads `count` and `kind`; sets `prompts` (a temporary file, removed at exit) and `bench`
# (SPECULATE_BENCH, else the example built here).
data=${CRUCIBLE_DATA:-data}
prompts=$(mktemp)
trap 'rm -f "$prompts"' EXIT
python3 bench/speculative/repair_prompts.py "$data/humaneval/HumanEval.jsonl.gz" "$count" "$prompts" "$kind"
bench=${SPECULATE_BENCH:-}
if [ -z "$bench" ]; then
  cargo build --release --locked -p crucible-infer-llama --example speculate_bench >&2
  bench=${CARGO_TARGET_DIR:-target}/release/examples/speculate_bench
fi
