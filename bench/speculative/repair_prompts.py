"""Write repair prompts for bench/speculative/run.sh: HumanEval tasks whose canonical solution
has one comparison or arithmetic operator flipped, shown to the model with the request to fix
it. The answer rewrites most of the prompt's program: the case prompt lookup is for.

Usage: repair_prompts.py HUMANEVAL.jsonl.gz COUNT OUT_FILE
"""

import gzip
import json
import sys

FLIPS = [(" < ", " <= "), (" > ", " >= "), (" == ", " != "), (" + 1", " - 1"), (" + ", " - ")]


def main() -> None:
    source, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    prompts = []
    with gzip.open(source, "rt") as f:
        for line in f:
            task = json.loads(line)
            body = task["canonical_solution"]
            for old, new in FLIPS:
                if old in body:
                    body = body.replace(old, new, 1)
                    break
            else:
                continue
            program = task["prompt"] + body
            prompts.append(
                "This Python function fails its tests. Write the whole corrected function, "
                "nothing else.\n\n```python\n" + program.strip() + "\n```\n"
            )
            if len(prompts) == count:
                break
    with open(out, "w") as f:
        for prompt in prompts:
            f.write(prompt + "<<<END>>>\n")


if __name__ == "__main__":
    main()
