#!/usr/bin/env bash
# Derive the test vectors of crucible-metrics from the reference implementations, in the venv
# bench/metrics/venv.sh makes (codebleu, sacrebleu, fuzzywuzzy, scipy at pinned versions), and
# write them under crates/crucible-metrics/tests/vectors/, where the tests read them.
#
#   bench/metrics/derive.sh                 re-derive from the committed pairs
#   bench/metrics/derive.sh --collect RUNS GEN
#        first rebuild codebleu_pairs.jsonl from `crucible eval` run directories (RUNS/hx-LANG,
#        see collect_pairs.py) and generate_samples.py's output (GEN)
#
# The CodeBLEU pairs are real model-written programs; how they were made is in
# collect_pairs.py and generate_samples.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=crates/crucible-metrics/tests/vectors
python=$(bench/metrics/venv.sh)
if [ "${1:-}" = "--collect" ]; then
  data=${CRUCIBLE_DATA:-/work/shared/data}
  python3 bench/metrics/collect_pairs.py "$2" "$3" "$data" "$out/codebleu_pairs.jsonl"
fi
"$python" bench/metrics/derive_codebleu.py "$out/codebleu_pairs.jsonl" "$out/codebleu.json" 8
"$python" -W ignore bench/metrics/derive_misc.py "$out/reference_vectors.json"
echo "derive: wrote $out/codebleu.json and $out/reference_vectors.json" >&2
