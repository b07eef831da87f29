"""Benchmark pairs: for each of the 164 HumanEval-X tasks of a language, its canonical solution
as the reference and the canonical solutions of the next 10 tasks as "samples" (164 x 10 pairs
of real, differently sized programs; deterministic, so every run scores the same pairs).

Usage: python3 make_bench_pairs.py DATA_DIR LANGUAGE OUT.jsonl
"""

import gzip
import json
import sys

SHORT = {"python": "python", "cpp": "cpp", "java": "java", "javascript": "js", "go": "go", "rust": "rust"}


def main():
    data, language, out = sys.argv[1], sys.argv[2], sys.argv[3]
    with gzip.open(f"{data}/humaneval-x/humaneval_{SHORT[language]}.jsonl.gz", "rt") as f:
        tasks = [json.loads(line) for line in f]
    head = lambda t: t["prompt"] if language == "python" else (t.get("declaration") or t["prompt"])
    programs = [head(t) + t["canonical_solution"] for t in tasks]
    with open(out, "w") as f:
        for i, reference in enumerate(programs):
            for k in range(1, 11):
                f.write(json.dumps({"reference": reference, "prediction": programs[(i + k) % len(programs)]}) + "\n")


if __name__ == "__main__":
    main()
