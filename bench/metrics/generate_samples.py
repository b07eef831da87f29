"""Have the local model write programs in C, C# and PHP for the agreement check (C# and PHP have
no HumanEval-X split and no `--lang` in crucible; C's split is missing too).

For each of the first N HumanEval-X tasks (Python split), the task's docstring becomes comments
above an opening that the model completes (`crucible generate --mode completion`, two samples
at temperature 0.8, stopped at the end of the function). The two samples of a task are then a
(prediction, reference) pair of real model-written programs.

Usage: python3 bench/metrics/generate_samples.py CRUCIBLE DATA_DIR OUT_DIR [N]
Writes OUT_DIR/samples-{c,csharp,php}.jsonl: {"task_id", "language", "samples": [code, code]}.
"""

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path


def docstring(prompt):
    match = re.search(r'"""(.*?)"""', prompt, re.S) or re.search(r"'''(.*?)'''", prompt, re.S)
    text = match.group(1) if match else ""
    return [line.strip() for line in text.strip().splitlines()]


OPENINGS = {
    "c": ("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n{comments}\n", "//", "\n}"),
    "csharp": (
        "using System;\nusing System.Collections.Generic;\nusing System.Linq;\n\nclass Solution\n{{\n{comments}\n    public static ",
        "    //",
        "\n    }",
    ),
    "php": ("<?php\n{comments}\nfunction {entry_point}(", "//", "\n}"),
}


def main():
    crucible, data_dir, out_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else 15
    out_dir.mkdir(parents=True, exist_ok=True)
    with gzip.open(data_dir / "humaneval-x" / "humaneval_python.jsonl.gz", "rt") as f:
        tasks = [json.loads(line) for line in f][:limit]
    for language, (opening, comment, stop) in OPENINGS.items():
        out_path = out_dir / f"samples-{language}.jsonl"
        done = {json.loads(line)["task_id"] for line in open(out_path)} if out_path.exists() else set()
        for task in tasks:
            if task["task_id"] in done:
                continue
            comments = "\n".join(f"{comment} {line}".rstrip() for line in docstring(task["prompt"]))
            entry_point = re.search(r"def (\w+)\(", task["declaration"] or task["prompt"]).group(1)
            prompt = opening.format(comments=comments, entry_point=entry_point)
            task_file = out_dir / "task.json"
            task_file.write_text(json.dumps({"id": task["task_id"], "prompt": prompt, "entry_point": entry_point}))
            result = subprocess.run(
                [crucible, "generate", "--task", str(task_file), "--lang", "javascript", "--mode", "completion",
                 "--json", "--no-stream", "--n", "2", "--temperature", "0.8", "--seed", "7",
                 "--max-new-tokens", "400", "--stop", stop],
                capture_output=True, text=True, check=True,
            )
            answer = json.loads(result.stdout)
            samples = [candidate["code"] + stop.strip("\n").rstrip() if candidate["finish"] == "stop" else candidate["code"]
                       for candidate in answer["candidates"]]
            with open(out_path, "a") as f:
                f.write(json.dumps({"task_id": task["task_id"], "language": language, "samples": samples}) + "\n")


if __name__ == "__main__":
    main()
