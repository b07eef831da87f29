#!/usr/bin/env python3
"""Markdown rows for docs/RESULTS.md from `crucible eval` run directories.

Usage: bench/results/table.py RUN_DIR [RUN_DIR ...]

For each run: benchmark, language, method (decoding or strategy), tasks judged, pass@1 (and the
plus tier where the benchmark has one), generated tokens per task, wall-clock seconds per task
(the run's wall time over the tasks judged: with tasks decoded together, one request's own
generation time overlaps the others' and says little), model calls per task (strategies), and
the run's wall time. Everything is read from the run directory
(summary.json, samples.jsonl, traces.jsonl), so the table is reproducible from the files.
A torn last line of a JSON Lines file (a killed run) is named on stderr and left out; any other
line that is not JSON is an error naming its file and line.
"""
import json
import os
import statistics
import sys


class BadLine(Exception):
    """A line of a run directory's JSON Lines file that is not a JSON record."""


def lines(path):
    """The records of a JSON Lines file. A torn last line (no newline: a killed run's last
    write, which resuming the run cuts off) is named on stderr and left out; any other line that
    is not JSON is an error naming its file and line."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        raw = f.read().split(b"\n")
    # After the last newline: empty, or a line whose newline was never written.
    tail = raw.pop()
    out = []
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise BadLine(f"{path}:{number}: not a JSON record ({err})") from None
    if tail.strip():
        try:
            out.append(json.loads(tail))
        except (json.JSONDecodeError, UnicodeDecodeError):
            print(
                f"warning: {path}:{len(raw) + 1}: torn last line (an interrupted write) left out; "
                "resuming the run removes it",
                file=sys.stderr,
            )
    return out


def method(config):
    if config.get("command") == "score":
        return "scored samples"
    strategy = config.get("strategy")
    if strategy:
        return strategy["strategy"]["kind"]
    decoding = config.get("decoding", {})
    return decoding.get("method", "?")


def row(run):
    summary = json.load(open(os.path.join(run, "summary.json")))
    config = summary["config"]
    samples = lines(os.path.join(run, "samples.jsonl"))
    traces = lines(os.path.join(run, "traces.jsonl"))
    judged = sum(t["samples"] for t in summary["per_task"])
    total_tasks = len(summary["per_task"])
    judged_tasks = sum(1 for t in summary["per_task"] if t["samples"] > 0)
    passed = sum(t["passed"] for t in summary["per_task"])
    pass1 = f"{100.0 * passed / judged:.1f}%" if judged else "-"
    plus = "-"
    if summary.get("plus"):
        plus_passed = sum(t.get("plus_passed") or 0 for t in summary["per_task"])
        plus = f"{100.0 * plus_passed / judged:.1f}%" if judged else "-"
    tokens = [s.get("tokens", {}).get("completion", 0) for s in samples]
    calls = [t["outcome"]["usage"]["model_calls"] for t in traces]
    wall = summary.get("wall_time_s")
    return "| {} | {} | {} | {}/{} | {} | {} | {:.0f} | {:.1f} | {} | {} |".format(
        summary["benchmark"],
        summary["language"],
        method(config),
        judged_tasks,
        total_tasks,
        pass1,
        plus,
        statistics.mean(tokens) if tokens else 0,
        wall / judged_tasks if wall and judged_tasks else 0,
        f"{statistics.mean(calls):.2f}" if calls else "1",
        f"{wall / 60:.0f} min" if wall else "-",
    )


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print("| benchmark | language | method | tasks | pass@1 | pass@1 plus | tokens/task | s/task (wall) | model calls/task | wall time |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for run in sys.argv[1:]:
        try:
            print(row(run))
        except BadLine as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
