"""Summarize a compare.sh run: per tool and stage, the median CPU time (user + sys), docs/s and
MB/s per CPU-second, peak RSS, the ratio to Crucible, and how far the tools agree on which
documents are near duplicates. usage: compare.py RUN_DIR (prints a table, writes summary.json)."""
import glob
import json
import os
import re
import statistics
import sys

run = sys.argv[1]
docs = size = 0
ids_in = []
with open(f"{run}/input.jsonl", "rb") as f:
    for line in f:
        docs += 1
        size += len(line)
        ids_in.append(json.loads(line)["id"])
mb = size / 1e6


def load(path):
    with open(path) as f:
        return json.load(f)


def cpu(t):
    return t["user_s"] + t["sys_s"]


rows = {}  # (tool, stage) -> list of {cpu, wall, rss_mb}
crucible_steps = ["plan", "prepare", "buckets", "clusters", "filter", "summary"]
repeats = sorted({int(m.group(1)) for p in glob.glob(f"{run}/crucible-*-plan.json")
                  if (m := re.search(r"crucible-(\d+)-plan", p))})
for r in repeats:
    total = {"cpu": 0.0, "wall": 0.0, "rss_mb": 0.0}
    for step in crucible_steps:
        t = load(f"{run}/crucible-{r}-{step}.json")
        row = {"cpu": cpu(t), "wall": t["wall_s"], "rss_mb": t["peak_rss_kb"] / 1024}
        rows.setdefault(("crucible", step), []).append(row)
        total["cpu"] += row["cpu"]
        total["wall"] += row["wall"]
        total["rss_mb"] = max(total["rss_mb"], row["rss_mb"])
    rows.setdefault(("crucible", "total"), []).append(total)
for path in sorted(glob.glob(f"{run}/datatrove-*.json")):
    stages = load(path)["stages"]
    total = {"cpu": 0.0, "wall": 0.0, "rss_mb": 0.0}
    for stage, t in stages.items():
        row = {"cpu": t["cpu_s"], "wall": t["wall_s"], "rss_mb": t["peak_rss_mb"]}
        rows.setdefault(("datatrove", stage), []).append(row)
        total["cpu"] += row["cpu"]
        total["wall"] += row["wall"]
        total["rss_mb"] = max(total["rss_mb"], row["rss_mb"])
    rows.setdefault(("datatrove", "total"), []).append(total)
startup = load(f"{run}/textdedup-startup.json") if os.path.exists(f"{run}/textdedup-startup.json") else None
for path in sorted(glob.glob(f"{run}/textdedup-[0-9]*.json")):
    t = load(path)
    # Less the interpreter start and imports (datatrove's figures are taken in-process, after
    # its imports).
    rows.setdefault(("text-dedup", "total"), []).append({
        "cpu": cpu(t) - (cpu(startup) if startup else 0.0),
        "wall": t["wall_s"] - (startup["wall_s"] if startup else 0.0),
        "rss_mb": t["peak_rss_kb"] / 1024,
    })

med = {}
for key, runs in rows.items():
    c = statistics.median(r["cpu"] for r in runs)
    med[key] = {
        "runs": len(runs),
        "cpu_s": c,
        "wall_s": statistics.median(r["wall"] for r in runs),
        "peak_rss_mb": max(r["rss_mb"] for r in runs),
        "docs_per_cpu_s": docs / c if c > 0 else None,
        "mb_per_cpu_s": mb / c if c > 0 else None,
    }
base = med.get(("crucible", "total"))
for key, m in med.items():
    if base and key[1] == "total":
        m["crucible_speedup"] = m["cpu_s"] / base["cpu_s"]
# The signature step against the step that computes signatures in Crucible (prepare).
if ("datatrove", "signatures") in med and ("crucible", "prepare") in med:
    med[("datatrove", "signatures")]["crucible_speedup"] = (
        med[("datatrove", "signatures")]["cpu_s"] / med[("crucible", "prepare")]["cpu_s"])


def kept_ids(tool):
    if tool == "crucible":
        files = glob.glob(f"{run}/crucible-1/data/*.jsonl")
    else:
        files = glob.glob(f"{run}/datatrove-1/output/*.jsonl")
    kept = set()
    for path in files:
        with open(path) as f:
            for line in f:
                kept.add(json.loads(line)["id"])
    return kept


removed = {}
if repeats:
    removed["crucible"] = set(ids_in) - kept_ids("crucible")
if os.path.isdir(f"{run}/datatrove-1/output"):
    removed["datatrove"] = set(ids_in) - kept_ids("datatrove")
if os.path.isdir(f"{run}/textdedup-1/out"):
    import datasets

    kept = set(datasets.load_from_disk(f"{run}/textdedup-1/out")["id"])
    removed["text-dedup"] = set(ids_in) - kept
agreement = {}
names = sorted(removed)
for i, a in enumerate(names):
    for b in names[i + 1:]:
        both, either = removed[a] & removed[b], removed[a] | removed[b]
        agreement[f"{a} vs {b}"] = {
            "removed_by_both": len(both),
            "only_" + a: len(removed[a] - removed[b]),
            "only_" + b: len(removed[b] - removed[a]),
            "jaccard": len(both) / len(either) if either else 1.0,
        }

loads = {name: open(f"{run}/load-{name}.txt").read().strip() for name in ("start", "end")}
summary = {
    "input": {"documents": docs, "mb": mb},
    "load": loads,
    "stages": {f"{t}/{s}": m for (t, s), m in med.items()},
    "removed": {name: len(ids) for name, ids in removed.items()},
    "agreement": agreement,
}
with open(f"{run}/summary.json", "w") as f:
    json.dump(summary, f, indent=2)

print(f"input: {docs} documents, {mb:.1f} MB; load {loads['start']} -> {loads['end']}")
print(f"{'tool/stage':<24}{'runs':>5}{'CPU s':>9}{'wall s':>9}{'docs/CPU-s':>12}{'MB/CPU-s':>10}{'RSS MB':>8}{'Crucible x':>11}")
for (t, s), m in med.items():
    ratio = m.get("crucible_speedup")
    print(f"{t + '/' + s:<24}{m['runs']:>5}{m['cpu_s']:>9.2f}{m['wall_s']:>9.1f}"
          f"{(m['docs_per_cpu_s'] or 0):>12.0f}{(m['mb_per_cpu_s'] or 0):>10.2f}{m['peak_rss_mb']:>8.0f}"
          f"{(f'{ratio:.1f}' if ratio else ''):>11}")
print("removed as near duplicates:", summary["removed"])
for pair, a in agreement.items():
    print(pair, a)
