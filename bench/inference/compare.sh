#!/usr/bin/env bash
# Inference speed side by side: llama.cpp's own llama-bench (one sequence) and llama-batched-bench
# (n sequences after a shared prompt) against `crucible bench inference`, on the same GGUF file
# with the same thread count, in alternating rounds so all see the same machine. Prints a
# Markdown report for docs/PERFORMANCE.md.
#
# Usage: bench/inference/compare.sh [ROUNDS]        (default 3)
# Crucible is measured twice per round: the file as it is (what generate and bench run) and with
# --weights widen (what eval runs by default).
# Env:   MODEL (default: the installed default model), THREADS (default: physical cores),
#        CRUCIBLE (default: the release binary of this checkout),
#        RAW (a directory to keep every round's measurements in; default: a temporary one)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
home=${CRUCIBLE_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/crucible}
model=${MODEL:-$home/models/qwen2.5-coder-0.5b-instruct.gguf}
crucible=${CRUCIBLE:-${CARGO_TARGET_DIR:-target}/release/crucible}
threads=${THREADS:-$(python3 -c 'import os; print(len({l.split(":")[1] for l in open("/proc/cpuinfo") if l.startswith("core id")}) or os.cpu_count())')}
# The OpenMP wait setting the crucible binary gives llama.cpp (crates/crucible-cli/src/openmp.rs).
same_wait=GOMP_SPINCOUNT=1000
llama_bench=$(bench/inference/build-llama-bench.sh)
batched_bench=$(dirname "$llama_bench")/llama-batched-bench
if [ -n "${RAW:-}" ]; then
  out=$RAW; mkdir -p "$out"
else
  out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
fi

# GNU time's peak RSS (kB) of a command; its output goes to $2.
peak() { /usr/bin/time -f "%M" -o "$out/rss" "${@:2}" > "$1"; cat "$out/rss"; }

for round in $(seq "$rounds"); do
  echo "round $round/$rounds: llama-bench (OpenMP default wait)" >&2
  rss=$(peak "$out/lb-$round.json" "$llama_bench" -m "$model" -t "$threads" -p 512 -n 128 -r 1 -o json)
  echo "$rss" > "$out/lb-$round.rss"
  echo "round $round/$rounds: llama-bench ($same_wait, as crucible runs it)" >&2
  env "$same_wait" "$llama_bench" -m "$model" -t "$threads" -p 512 -n 128 -r 1 -o json > "$out/lbp-$round.json"
  echo "round $round/$rounds: llama-batched-bench (shared prompt, $same_wait)" >&2
  env "$same_wait" "$batched_bench" -m "$model" -t "$threads" -c 4096 -b 512 -ub 512 -npp 512 -ntg 128 \
    -npl 1,2,4,10,20 -pps -kvu --output-format jsonl 2>/dev/null | grep '^{' > "$out/bb-$round.jsonl"
  # The layout crucible decodes in: one KV stream per sequence, the prompt's cells copied to each
  # (llama.cpp splits the context evenly, so it gets room for 20 streams of 1024 cells).
  echo "round $round/$rounds: llama-batched-bench (one KV stream per sequence, $same_wait)" >&2
  env "$same_wait" "$batched_bench" -m "$model" -t "$threads" -c 20480 -b 512 -ub 512 -npp 512 -ntg 128 \
    -npl 1,2,4,10,20 -pps --output-format jsonl 2>/dev/null | grep '^{' > "$out/bs-$round.jsonl"
  echo "round $round/$rounds: crucible bench inference" >&2
  "$crucible" bench inference --model "$model" --threads "$threads" --prompt-tokens 512 --gen-tokens 128 \
    --batch 1,2,4,10,20 --sequential 10 --repeats 1 --json -q > "$out/cr-$round.json"
  echo "round $round/$rounds: crucible bench inference --weights widen (what crucible eval runs)" >&2
  "$crucible" bench inference --model "$model" --threads "$threads" --prompt-tokens 512 --gen-tokens 128 \
    --batch 1,2,4,10,20 --sequential 0 --repeats 1 --weights widen --json -q > "$out/cw-$round.json"
done

# Contention: decode while two busy processes (one per core, like sandboxed programs during an
# eval) compete, at the idle CPU priority Crucible gives programs (SCHED_IDLE) and at normal
# priority, under crucible's default ($same_wait), passive and OpenMP's active wait.
busy() { for _ in 1 2; do "$@" sh -c 'while :; do :; done' & done; }
contended() {  # $1 label, $2.. competitor launcher; env CONTENDED_ENV for crucible
  busy "${@:2}"
  sleep 1
  env $CONTENDED_ENV "$crucible" bench inference --model "$model" --threads "$threads" --prompt-tokens 128 \
    --gen-tokens 64 --batch 1 --sequential 0 --repeats 1 --json -q > "$out/ct-$1.json" || true
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
}
echo "contention: programs at idle priority" >&2
CONTENDED_ENV="" contended idle chrt --idle 0
echo "contention: programs at normal priority" >&2
CONTENDED_ENV="" contended normal nice -n 0
echo "contention: programs at normal priority, passive wait" >&2
CONTENDED_ENV="OMP_WAIT_POLICY=PASSIVE" contended normal-passive nice -n 0
echo "contention: programs at normal priority, OpenMP active wait" >&2
CONTENDED_ENV="OMP_WAIT_POLICY=ACTIVE" contended normal-active nice -n 0
echo "quiet reference for the contention rows" >&2
"$crucible" bench inference --model "$model" --threads "$threads" --prompt-tokens 128 \
  --gen-tokens 64 --batch 1 --sequential 0 --repeats 1 --json -q > "$out/ct-quiet.json"

python3 - "$out" "$rounds" "$threads" "$model" "$same_wait" <<'PY'
import json, statistics, sys, glob, os
out, rounds, threads, model, same_wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def lb(prefix):
    pp, tg = [], []
    for r in range(1, rounds + 1):
        for row in json.load(open(f"{out}/{prefix}-{r}.json")):
            (pp if row["n_prompt"] > 0 else tg).append(row["avg_ts"])
    return statistics.median(pp), statistics.median(tg)
lb_pp, lb_tg = lb("lb")
lbp_pp, lbp_tg = lb("lbp")
lb_rss = statistics.median(int(open(f"{out}/lb-{r}.rss").read()) for r in range(1, rounds + 1)) / 1024
cr = [json.load(open(f"{out}/cr-{r}.json")) for r in range(1, rounds + 1)]
cw = [json.load(open(f"{out}/cw-{r}.json")) for r in range(1, rounds + 1)]
med = lambda xs: statistics.median(xs)
cr_pp = med([c["prompt_tok_s"] for c in cr]); cr_tg = med([c["decode_tok_s"] for c in cr])
cr_rss = med([c["peak_rss_mib"] for c in cr])
print(f"Model `{os.path.basename(model)}`, {threads} threads, {rounds} alternating rounds, medians.\n")
print("| | prompt tok/s (512) | decode tok/s (128) | peak RSS MiB |")
print("| --- | ---: | ---: | ---: |")
print(f"| llama-bench, OpenMP default (active wait) | {lb_pp:.1f} | {lb_tg:.1f} | {lb_rss:.0f} |")
print(f"| llama-bench, {same_wait} (as crucible runs it) | {lbp_pp:.1f} | {lbp_tg:.1f} | |")
print(f"| crucible bench inference | {cr_pp:.1f} | {cr_tg:.1f} | {cr_rss:.0f} |")
print(f"| crucible / llama-bench default | {cr_pp/lb_pp:.2f} | {cr_tg/lb_tg:.2f} | |")
print(f"| crucible / llama-bench, same wait | {cr_pp/lbp_pp:.2f} | {cr_tg/lbp_tg:.2f} | |")
cw_pp = med([c["prompt_tok_s"] for c in cw]); cw_tg = med([c["decode_tok_s"] for c in cw])
cw_rss = med([c["peak_rss_mib"] for c in cw])
print(f"| crucible bench inference --weights widen | {cw_pp:.1f} | {cw_tg:.1f} | {cw_rss:.0f} |")
print()
print("128 new tokens per sequence after a shared 512-token prompt. Crucible samples (temperature 0.8,")
print("top-p 0.95, log-probabilities kept); llama-batched-bench decodes without sampling, so its columns")
print("are llama.cpp's engine alone, with one unified KV cache (the prompt's cells shared) and with one")
print("KV stream per sequence (the layout crucible decodes in):\n")
print("| sequences | crucible decode tok/s, all sequences | llama-batched-bench, unified KV | ratio | llama-batched-bench, stream per sequence | ratio | crucible end-to-end tok/s (prompt included) | crucible, widened weights, decode tok/s | widened / unified |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
def speeds(prefix):
    by_n = {}
    for r in range(1, rounds + 1):
        for line in open(f"{out}/{prefix}-{r}.jsonl"):
            row = json.loads(line); by_n.setdefault(row["pl"], []).append(row["speed_tg"])
    return by_n
bb, bs = speeds("bb"), speeds("bs")
ns = [p["n"] for p in cr[0]["batched"]]
for i, n in enumerate(ns):
    d = med([c["batched"][i]["decode_tok_s"] for c in cr]); e = med([c["batched"][i]["end_to_end_tok_s"] for c in cr])
    b = med(bb[n]) if n in bb else float("nan")
    s = med(bs[n]) if n in bs else float("nan")
    w = med([c["batched"][i]["decode_tok_s"] for c in cw])
    print(f"| {n} batched | {d:.1f} | {b:.1f} | {d / b:.2f} | {s:.1f} | {d / s:.2f} | {e:.1f} | {w:.1f} | {w / b:.2f} |")
seq = [c["sequential"] for c in cr if c.get("sequential")]
if seq:
    d = med([s["decode_tok_s"] for s in seq]); e = med([s["end_to_end_tok_s"] for s in seq])
    print(f"| {seq[0]['n']} one after another | {d:.1f} | | | | | {e:.1f} | | |")
    b10 = [c["batched"][ns.index(10)] for c in cr] if 10 in ns else None
    if b10:
        print(f"\nn=10 batched vs 10 sequential, end to end: {med([b['end_to_end_tok_s'] for b in b10]) / e:.2f}x")
print("\nDecode (n=1, 64 tokens after a 128-token prompt) while two busy processes compete for the 2 cores:\n")
print("| competitors | crucible decode tok/s |")
print("| --- | ---: |")
labels = [("quiet", "none (quiet machine)"), ("idle", "2 at idle priority (SCHED_IDLE, as Crucible runs programs)"),
          ("normal", "2 at normal priority"), ("normal-passive", "2 at normal priority, passive wait (OMP_WAIT_POLICY=PASSIVE)"), ("normal-active", "2 at normal priority, OpenMP active wait (OMP_WAIT_POLICY=ACTIVE)")]
for key, label in labels:
    path = f"{out}/ct-{key}.json"
    try:
        c = json.load(open(path)); print(f"| {label} | {c['decode_tok_s']:.1f} |")
    except Exception:
        print(f"| {label} | run failed |")
PY
