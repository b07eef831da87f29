"""Collect (prediction, reference) pairs of real model-written programs for the CodeBLEU agreement check.

- Python, C++, Java, JavaScript, Go, Rust: programs the local model wrote in
  `crucible eval --benchmark humaneval-x --lang L --limit 20 --n 2 --temperature 0.8` runs
  (the `solution.code` of each sample; RUNS/hx-LANG and, if present, RUNS/hx-LANG5), each
  against the task's canonical solution
  (declaration or prompt plus canonical_solution).
- C, C#, PHP: the two samples generate_samples.py had the model write for each task, one
  against the other.

Usage: python3 bench/metrics/collect_pairs.py RUNS_DIR GEN_DIR DATA_DIR OUT.jsonl
"""

import gzip
import json
import sys
from pathlib import Path

HX = {"python": "python", "cpp": "cpp", "java": "java", "javascript": "js", "go": "go", "rust": "rust"}


def main():
    runs, gen, data, out = (Path(arg) for arg in sys.argv[1:5])
    pairs = []
    for language, short in HX.items():
        # hx-LANG, and hx-LANG5 for a second, smaller run of the same language.
        paths = [runs / name / "samples.jsonl" for name in (f"hx-{language}", f"hx-{language}5")]
        lines = [line for path in paths if path.exists() for line in open(path)]
        if not lines:
            print(f"collect_pairs: no samples for {language} in {runs}/hx-{language}", file=sys.stderr)
            continue
        with gzip.open(data / "humaneval-x" / f"humaneval_{short}.jsonl.gz", "rt") as f:
            tasks = {task["task_id"]: task for task in map(json.loads, f)}
        for line in lines:
            sample = json.loads(line)
            task = tasks[sample["task_id"]]
            head = task["prompt"] if language == "python" else task.get("declaration") or task["prompt"]
            reference = head + task["canonical_solution"]
            pairs.append({
                "language": language,
                "origin": f"{sample['task_id']}#{sample['sample_idx']} vs canonical",
                "prediction": sample["solution"]["code"],
                "reference": reference,
            })
    for language in ("c", "csharp", "php"):
        path = gen / f"samples-{language}.jsonl"
        if not path.exists():
            print(f"collect_pairs: no samples for {language} at {path}", file=sys.stderr)
            continue
        for line in open(path):
            record = json.loads(line)
            samples = record["samples"]
            if language == "csharp":
                samples = [code + "\n}" for code in samples]
            if len(samples) == 2:
                pairs.append({
                    "language": language,
                    "origin": f"{record['task_id']} sample 0 vs sample 1",
                    "prediction": samples[0],
                    "reference": samples[1],
                })
    with open(out, "w") as f:
        for pair in pairs:
            f.write(json.dumps(pair) + "\n")
    print(f"collect_pairs: {len(pairs)} pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
