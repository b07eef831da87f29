"""Write prompts for bench/speculative/run.sh from HumanEval tasks.

`repair` (the default): tasks whose canonical solution has one comparison or arithmetic
operator flipped, shown to the model with the request to fix it. The answer rewrites most of the
prompt's program: the case prompt lookup is for.
`plain`: the task's prompt (signature and docstring) with the request to write the function:
fresh code, where prompt lookup finds little to copy.

Usage: repair_prompts.py HUMANEVAL.jsonl.gz COUNT OUT_FILE [repair|plain]
"""

import gzip
import json
import sys

FLIPS = [(" < ", " <= "), (" > ", " >= "), (" == ", " != "), (" + 1", " - 1"), (" + ", " - ")]


def main() -> None:
    source, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    kind = sys.argv[4] if len(sys.argv) > 4 else "repair"
    if kind not in ("repair", "plain"):
        sys.exit(f"repair_prompts.py: unknown kind `{kind}`; use repair or plain")
    prompts = []
    with gzip.open(source, "rt") as f:
        for line in f:
            task = json.loads(line)
            if kind == "plain":
                prompts.append(
                    "Complete this Python function. Write the whole function, nothing else."
                    "\n\n```python\n" + task["prompt"].strip() + "\n```\n"
                )
                if len(prompts) == count:
                    break
                continue
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
