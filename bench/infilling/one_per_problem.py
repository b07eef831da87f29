"""Print one task id per HumanEval problem of a HumanEval-infilling file, comma-separated.

The gap taken from each problem is the one whose task id has the smallest sha256: fixed on
every machine and blind to where in the function the gap lies.

Usage: python3 bench/infilling/one_per_problem.py FILE.jsonl.gz
"""

import gzip
import hashlib
import json
import sys


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    chosen: dict[str, str] = {}
    with gzip.open(sys.argv[1], "rt", encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            task_id = json.loads(line)["task_id"]
            problem = "/".join(task_id.split("/")[1:3])  # HumanEval/N
            key = hashlib.sha256(task_id.encode()).hexdigest()
            best = chosen.get(problem)
            if best is None or key < hashlib.sha256(best.encode()).hexdigest():
                chosen[problem] = task_id
    order = sorted(chosen, key=lambda problem: int(problem.split("/")[1]))
    print(",".join(chosen[problem] for problem in order))


if __name__ == "__main__":
    main()
