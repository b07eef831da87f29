#!/usr/bin/env python3
"""The markdown tables of docs/RESULTS.md "Which metric predicts correctness" from run
directories with metrics (bench/metrics/study.sh): per run, the AUROC and point-biserial r of
each per-sample score against the execution verdict; the judge's agreement with execution.

Usage: study_table.py [--svg FILE] RUN_DIR...   (each with summary.json and metrics.json)

--svg FILE also draws the AUROC table as a dot plot (one column per score, one marker per run,
the 0.5 chance line dashed): a standalone SVG, no plotting library needed.
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


def label(d):
    """A run's name in the tables: MODEL/BENCH for eval runs (CACHE/LIMIT/MODEL/BENCH), the
    directory's name for scored runs (CACHE/score/NAME)."""
    parent = os.path.basename(os.path.dirname(d))
    name = os.path.basename(d)
    if parent == "score":
        return name.replace("qwen2.5-coder-", "").replace("-instruct", "")
    return f"{parent.removeprefix('qwen2.5-coder-').replace('-instruct', '')}/{name}"


def auroc_cells(runs, present):
    """Per run, per score: the AUROC, None where it is undefined or absent."""
    rows = []
    for d, _, metrics in runs:
        corr = {c["score"]: c for c in metrics["correlations"]}
        rows.append((label(d), [corr.get(key, {}).get("auroc") for key, _ in present]))
    return rows


COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22"]
MARKERS = ["circle", "square", "diamond", "triangle"]


def marker(shape, x, y, colour):
    r = 5
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{colour}"/>'
    if shape == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" fill="{colour}"/>'
    if shape == "diamond":
        pts = f"{x},{y - r - 1} {x + r + 1},{y} {x},{y + r + 1} {x - r - 1},{y}"
    else:
        pts = f"{x},{y - r - 1} {x + r + 1},{y + r} {x - r - 1},{y + r}"
    return f'<polygon points="{pts}" fill="{colour}"/>'


def svg(rows, present):
    """A dot plot of AUROC per score (columns) and run (markers), 0.5 dashed."""
    left, top, col, height, legend_w = 50, 20, 110, 300, 260
    width = left + col * len(present) + legend_w
    total_h = top + height + 36

    def y_of(v):
        return top + (1 - v) * height

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_h}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{total_h}" fill="white"/>']
    for tick in [0, 0.25, 0.5, 0.75, 1]:
        y = y_of(tick)
        dash = ' stroke-dasharray="5,4"' if tick == 0.5 else ""
        colour = "#555" if tick == 0.5 else "#ddd"
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + col * len(present)}" y2="{y:.1f}" '
                   f'stroke="{colour}"{dash}/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    out.append(f'<text x="12" y="{top + height / 2}" transform="rotate(-90 12 {top + height / 2})" '
               f'text-anchor="middle">AUROC against the verdict (0.5 = chance)</text>')
    for j, (_, name) in enumerate(present):
        x = left + col * j + col / 2
        out.append(f'<text x="{x:.1f}" y="{top + height + 16}" text-anchor="middle">{name}</text>')
    n = max(len(rows), 1)
    for i, (run, values) in enumerate(rows):
        colour, shape = COLOURS[i % len(COLOURS)], MARKERS[(i // len(COLOURS)) % len(MARKERS)]
        # spread the runs across each column so equal values stay visible
        offset = (i - (n - 1) / 2) * min(6, (col - 20) / n)
        for j, v in enumerate(values):
            if v is not None:
                out.append(marker(shape, left + col * j + col / 2 + offset, y_of(v), colour))
        lx, ly = left + col * len(present) + 20, top + 10 + 18 * i
        out.append(marker(shape, lx, ly, colour))
        out.append(f'<text x="{lx + 12}" y="{ly + 4}">{run}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(args):
    svg_path = None
    if args[:1] == ["--svg"]:
        if len(args) < 2:
            sys.exit("study_table: --svg needs a file name")
        svg_path, args = args[1], args[2:]
    dirs = args
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
            f"| {label(d)} | {summary['benchmark']} ({summary['language']}) | "
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
                f"| {label(d)} | {a['samples']} | {a['ungraded']} | "
                f"{a['true_positive']} | {a['false_positive']} | {a['true_negative']} | "
                f"{a['false_negative']} | {fmt(a['accuracy'])} | {fmt(a['cohen_kappa'])} |"
            )

    if svg_path:
        with open(svg_path, "w") as f:
            f.write(svg(auroc_cells(runs, present), present))


if __name__ == "__main__":
    main(sys.argv[1:])
