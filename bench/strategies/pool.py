#!/usr/bin/env python3
"""What a strategy run wrote, beyond its final answers: its greedy programs and its whole pool.

    bench/strategies/pool.py first RUN_DIR OUT_SAMPLES
    bench/strategies/pool.py all RUN_DIR OUT_SAMPLES
    bench/strategies/pool.py oracle RUN_DIR SCORED_DIR

A `crucible eval --strategy` run records every attempt in RUN_DIR/traces.jsonl.

`first` writes the first program of every task as samples: for `plain` and for the rerank presets
(greedy first) that is the greedy program, the same request `--strategy plain` makes. It also
prints how many first programs passed the visible tests against how many final answers did (the
strategy's own verdicts; tasks whose prompt shows no tests are counted apart).

`all` writes every distinct program of every task's pool (sample_idx in order of appearance).

Then `crucible score --benchmark B --out SCORED_DIR OUT_SAMPLES` judges them on the hidden tests,
and `oracle` compares, task by task, the run's final answers (RUN_DIR/results.jsonl) with the
pool scored in SCORED_DIR: tasks where some program in the pool passes, where the final answer
is one of those, and where selection chose a failing program although a passing one was there.
"""

import json
import sys
from collections import defaultdict
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"{path}: not found")
    rows = []
    with path.open() as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise SystemExit(f"{path}:{number}: not a JSON line ({err}); a run killed while writing leaves a partial last line: remove it and resume the run") from None
    return rows


def programs(outcome: dict) -> list[tuple[str, str | None]]:
    """Every program of a task in order of appearance, with its visible-test status."""
    found = []
    for attempt in outcome["trace"]["attempts"]:
        for output in attempt["outputs"]:
            code = output.get("code")
            if code is None:
                continue  # a test-writing stage
            status = next((v["status"] for v in output.get("verdicts", []) if v["tests"] == "visible"), None)
            found.append((code, status))
    if not found:
        raise SystemExit(f"{outcome['task_id']}: the trace has no program")
    return found


def outcomes(run: Path) -> list[dict]:
    """The strategy outcomes of a run's traces; a run the judge stopped (a line with `error`
    instead of `outcome`: its sample is a judge_error) has no programs and is named, not used."""
    found = []
    for trace in read_jsonl(run / "traces.jsonl"):
        if "outcome" in trace:
            found.append(trace["outcome"])
        else:
            print(
                f"{trace.get('task_id')} sample {trace.get('sample_idx')}: no programs, the strategy run stopped: {trace.get('error')}",
                file=sys.stderr,
            )
    return found


def write_samples(out: Path, rows: list[tuple[str, int, str]]) -> None:
    with out.open("w") as w:
        for task_id, idx, code in rows:
            w.write(json.dumps({"task_id": task_id, "sample_idx": idx, "completion": code}) + "\n")
    print(f"wrote {len(rows)} programs to {out}", file=sys.stderr)


def first(run: Path, out: Path) -> None:
    rows, first_pass, final_pass, shown, turned = [], 0, 0, 0, []
    for outcome in outcomes(run):
        code, status = programs(outcome)[0]
        rows.append((outcome["task_id"], 0, code))
        verdict = outcome.get("verdict") or {}
        final = verdict.get("status") if verdict.get("tests") == "visible" else None
        if status is None or final is None:
            continue
        shown += 1
        first_pass += status == "passed"
        final_pass += final == "passed"
        if status != "passed" and final == "passed":
            turned.append(outcome["task_id"])
    write_samples(out, rows)
    if shown:
        print(
            f"visible tests, {shown} of {len(rows)} tasks show them: first program passes {first_pass} "
            f"({100 * first_pass / shown:.1f}%), final answer {final_pass} ({100 * final_pass / shown:.1f}%)",
            file=sys.stderr,
        )
        print(f"turned into visible passes: {', '.join(turned) or 'none'}", file=sys.stderr)


def pool(run: Path, out: Path) -> None:
    rows = []
    for outcome in outcomes(run):
        distinct: list[str] = []
        for code, _ in programs(outcome):
            if code not in distinct:
                distinct.append(code)
        rows.extend((outcome["task_id"], idx, code) for idx, code in enumerate(distinct))
    write_samples(out, rows)


def oracle(run: Path, scored: Path) -> None:
    passes: dict[str, dict[str, bool]] = defaultdict(dict)
    codes = {(s["task_id"], s["sample_idx"]): s["completion"] for s in read_jsonl(scored / "samples.jsonl")}
    for r in read_jsonl(scored / "results.jsonl"):
        passes[r["task_id"]][codes[(r["task_id"], r["sample_idx"])]] = r["status"] == "passed"
    final = {r["task_id"]: r["status"] == "passed" for r in read_jsonl(run / "results.jsonl")}
    traces = {outcome["task_id"]: outcome for outcome in outcomes(run)}
    missing = sorted(set(final) - set(passes))
    if missing:
        raise SystemExit(f"{scored}: no scored programs for {len(missing)} tasks ({missing[0]}, ...); score the `all` samples first")
    any_pass = [t for t in final if any(passes[t].values())]
    lost = [t for t in any_pass if not final[t]]
    one = [t for t in final if len(passes[t]) == 1]
    greedy_fooled = [t for t in one if not final[t] and (traces[t].get("verdict") or {}).get("status") == "passed"]
    n = len(final)
    print(f"tasks {n}; final answer passes {sum(final.values())} ({100 * sum(final.values()) / n:.1f}%)")
    print(f"some program in the pool passes: {len(any_pass)} ({100 * len(any_pass) / n:.1f}%)")
    print(f"a passing program was in the pool but a failing one was chosen: {len(lost)}: {', '.join(lost) or 'none'}")
    print(
        f"tasks with one distinct program: {len(one)}; of those, passing the visible tests and failing "
        f"the hidden ones: {len(greedy_fooled)}: {', '.join(greedy_fooled) or 'none'}"
    )


def main() -> None:
    commands = {"first": first, "all": pool, "oracle": oracle}
    if len(sys.argv) != 4 or sys.argv[1] not in commands:
        raise SystemExit(__doc__)
    commands[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))


if __name__ == "__main__":
    main()
