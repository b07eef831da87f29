#!/bin/bash
# Side by side: Crucible's MinHash dedup against datatrove's and text-dedup's on the same JSON
# Lines input, same thresholds (5-gram shingles, 25 bands x 10 rows, J = 0.7), one core each.
#
#   bench/curate/compare.sh [INPUT.jsonl] [MB] [REPEATS]
#
# INPUT defaults to cache/corpus.jsonl (corpus.sh); its first MB megabytes (default 20, cut at a
# line end) are the input of every tool. Crucible runs REPEATS times (default 3), each step as
# its own process under /usr/bin/time; datatrove and text-dedup run PY_REPEATS times (default 1:
# they are slow). Needs `crucible` on PATH or CRUCIBLE=/path/to/crucible, and the venv from
# setup.sh (run first). Writes cache/compare/RUN/*.json and prints compare.py's table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
input=${1:-$here/cache/corpus.jsonl}
mb=${2:-20}
repeats=${3:-3}
py_repeats=${PY_REPEATS:-1}
crucible=${CRUCIBLE:-crucible}
py=$here/.venv/bin/python
[ -x "$py" ] || { echo "no venv: run bench/curate/setup.sh first" >&2; exit 1; }
[ -f "$input" ] || { echo "no input $input: run bench/curate/corpus.sh first" >&2; exit 1; }
run=$here/cache/compare/$(date -u +%Y%m%dT%H%M%S)
mkdir -p "$run"
slice=$run/input.jsonl
python3 - "$input" "$slice" "$mb" <<'PY'
import sys
src, dst, mb = sys.argv[1], sys.argv[2], float(sys.argv[3])
limit = int(mb * 1e6)
n = size = 0
with open(src, "rb") as f, open(dst, "wb") as out:
    for line in f:
        if size + len(line) > limit:
            break
        out.write(line)
        size += len(line)
        n += 1
print(f"input: {n} documents, {size / 1e6:.1f} MB", file=sys.stderr)
PY
uptime > "$run/load-start.txt"
timed() { # OUT.json CMD...: wall, CPU and peak RSS of CMD
    local out=$1
    shift
    /usr/bin/time -o "$out" -f '{"wall_s": %e, "user_s": %U, "sys_s": %S, "peak_rss_kb": %M}' "$@"
}

cat > "$run/crucible.toml" <<'TOML'
[near]
bands = 25
rows = 10
TOML
for r in $(seq 1 "$repeats"); do
    out=$run/crucible-$r
    for step in plan prepare buckets clusters filter summary; do
        timed "$run/crucible-$r-$step.json" "$crucible" data curate "$slice" -o "$out" \
            --config "$run/crucible.toml" --skip language,quality,decontam,pii,exact \
            --threads 1 --stage "$step" > /dev/null 2>> "$run/crucible.log"
    done
done

for r in $(seq 1 "$py_repeats"); do
    "$py" "$here/datatrove_minhash.py" "$slice" "$run/datatrove-$r" \
        > "$run/datatrove-$r.json" 2>> "$run/datatrove.log"
done

# text-dedup runs as one process: its interpreter start and imports, timed alone, are
# subtracted by compare.py.
timed "$run/textdedup-startup.json" "$py" -c "import text_dedup.minhash"
for r in $(seq 1 "$py_repeats"); do
    # text-dedup loads through Hugging Face datasets (an Arrow copy in its cache dir, counted).
    timed "$run/textdedup-$r.json" "$py" -m text_dedup.minhash --path json \
        --data_files "$slice" --split train --cache_dir "$run/textdedup-$r/hf" \
        --output "$run/textdedup-$r/out" --column content --ngram 5 --num_perm 250 \
        --b 25 --r 10 --threshold 0.7 --num_proc 1 >> "$run/textdedup.log" 2>&1
done
uptime > "$run/load-end.txt"
"$py" "$here/compare.py" "$run"
