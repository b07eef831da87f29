#!/usr/bin/env python3
"""The markdown tables of docs/RESULTS.md "Which metric predicts correctness" from run
directories with metrics (bench/metrics/study.sh): per run, the AUROC and point-biserial r of
each per-sample score against the execution verdict; the judge's agreement with execution.

Usage: study_table.py RUN_DIR...   (each with summary.json and metrics.json)
"""
import json
import os
import sys

SCORES = [
    ("bleu", "BLEU"),
    ("codebleu", "CodeBLEU"),
    ("codebleu_syntax", "CodeBLEU AST"),
    ("codebleu_dataflow", "CodeBLEU data-flow"),
    ("exact_match", "EM"),
    ("edit_similarity", "ES (fuzz)"),
    ("identifier_f1", "ID F1"),
    ("reference_logprob", "ref. log-prob"),
    ("judge_functional_correctness", "judge (correctness)"),
]


def fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


def load(path):
    with open(path) as f:
        return json.load(f)


def main(dirs):
    runs = []
    for d in dirs:
        d = d.rstrip("/")
        if not (os.path.exists(f"{d}/summary.json") and os.path.exists(f"{d}/metrics.json")):
            print(f"study_table: {d} has no summary.json or metrics.json", file=sys.stderr)
            continue
        runs.append((d, load(f"{d}/summary.json"), load(f"{d}/metrics.json")))
    if not runs:
        sys.exit("study_table: no run with metrics")
    present = [
        (key, label)
        for key, label in SCORES
        if any(c["score"] == key for _, _, m in runs for c in m["correlations"])
    ]
    print("AUROC of each per-sample score against the verdict (point-biserial r in brackets); "
          "0.5 is chance.\n")
    print("| run | benchmark | samples | passed | " + " | ".join(l for _, l in present) + " |")
    print("|---|---|---|---|" + "---|" * len(present))
    for d, summary, metrics in runs:
        cells = []
        corr = {c["score"]: c for c in metrics["correlations"]}
        for key, _ in present:
            c = corr.get(key)
            if c is None:
                cells.append("")
            elif c.get("auroc") is None:
                cells.append("undef.")
            else:
                cells.append(f"{fmt(c['auroc'])} ({fmt(c.get('point_biserial'))})")
        first = next(iter(corr.values()), {})
        print(
            f"| {os.path.basename(d)} | {summary['benchmark']} ({summary['language']}) | "
            f"{first.get('samples', metrics['samples'])} | {first.get('passed', '?')} | "
            + " | ".join(cells) + " |"
        )
    judged = [(d, m["judge_agreement"]) for d, _, m in runs if m.get("judge_agreement")]
    if judged:
        print("\nThe judge against execution (functional-correctness grade >= threshold counts "
              "as \"passes\").\n")
        print("| run | graded | ungraded | TP | FP | TN | FN | accuracy | Cohen's kappa |")
        print("|---|---|---|---|---|---|---|---|---|")
        for d, a in judged:
            print(
                f"| {os.path.basename(d)} | {a['samples']} | {a['ungraded']} | "
                f"{a['true_positive']} | {a['false_positive']} | {a['true_negative']} | "
                f"{a['false_negative']} | {fmt(a['accuracy'])} | {fmt(a['cohen_kappa'])} |"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
