#!/usr/bin/env python3
"""How often a repository-level run's context held the definition of the cross-file name.

For each cross_file_first and cross_file_random task of `crucible repobench`, the task file
names the imported symbol the next line uses (`symbol`). This script finds where the repository
defines it, textually (a Python line `class NAME`, `def NAME`, `async def NAME`, or `NAME =` /
`NAME:` at any indentation, in a file other than the task's own), and checks whether one of the
chunks the run put in the prompt (`context`, listed as `path:first-last (Reason)` in
RUN/<context>.jsonl) covers such a line. It prints, per setting: tasks, tasks whose symbol has a
definition in the repository, tasks whose context covers one (and by which reason), and exact
match split by covered / not covered.

The textual search is a heuristic (Python only, as the tasks are): a name defined twice counts
as covered when either definition is in the context, and a name that is a module (`from . import
formatting`) has no definition line and is counted under "no definition".

    python3 bench/repobench/definitions.py TASKS.jsonl RUN/bm25.jsonl [RUN2/hybrid.jsonl ...]
"""
import collections
import json
import os
import re
import sys


def definition_lines(task, cache):
    symbol = task.get("symbol")
    if not symbol:
        return []
    key = (task["repo_root"], symbol)
    if key in cache:
        return [d for d in cache[key] if d[0] != task["path"]]
    pattern = re.compile(
        r"^\s*(?:(?:class|def|async\s+def)\s+%s\b|%s\s*[:=](?!=))" % (re.escape(symbol), re.escape(symbol))
    )
    found = []
    for folder, _, files in os.walk(task["repo_root"]):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, task["repo_root"])
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    for number, line in enumerate(handle, 1):
                        if pattern.match(line):
                            found.append((rel, number))
            except OSError:
                continue
    cache[key] = found
    return [d for d in found if d[0] != task["path"]]


CHUNK = re.compile(r"^(.*):(\d+)-(\d+) \((\w+)\)$")


def covering_reason(context, definitions):
    for entry in context:
        match = CHUNK.match(entry)
        if not match:
            continue
        path, first, last, reason = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
        for def_path, def_line in definitions:
            if def_path == path and first <= def_line <= last:
                return reason
    return None


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    tasks = {}
    with open(sys.argv[1], encoding="utf-8") as handle:
        for line in handle:
            task = json.loads(line)
            tasks[task["id"]] = task
    cache = {}
    for results in sys.argv[2:]:
        rows = collections.defaultdict(collections.Counter)
        with open(results, encoding="utf-8") as handle:
            for line in handle:
                result = json.loads(line)
                task = tasks.get(result["id"])
                if task is None:
                    sys.exit(f"{results}: task {result['id']} is not in {sys.argv[1]}")
                if task["setting"] == "in_file":
                    continue
                row = rows[task["setting"]]
                row["tasks"] += 1
                definitions = definition_lines(task, cache)
                if not definitions:
                    row["no definition"] += 1
                    continue
                row["defined"] += 1
                reason = covering_reason(result["context"], definitions)
                outcome = "covered" if reason else "not covered"
                row[outcome] += 1
                if reason:
                    row[f"covered by {reason}"] += 1
                if result["exact_match"]:
                    row[f"exact match, {outcome}"] += 1
        print(results)
        for setting, row in sorted(rows.items()):
            parts = ", ".join(f"{key} {value}" for key, value in sorted(row.items()))
            print(f"  {setting}: {parts}")


if __name__ == "__main__":
    main()
