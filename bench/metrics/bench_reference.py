"""Throughput of the `codebleu` package and sacrebleu on a pairs file (run by bench/metrics/compare.sh).

Each round scores every pair on its own (calc_codebleu with one reference; sentence_bleu), in
this one process; prints the rounds and the medians as JSON.

Usage: python bench_reference.py PAIRS.jsonl LANGUAGE [ROUNDS]
"""

import json
import sys
import time

import reference_env  # noqa: F401  (see reference_env.py)
import codebleu
import sacrebleu

PACKAGE_LANG = {"csharp": "c_sharp"}


def main():
    pairs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
    lang = PACKAGE_LANG.get(sys.argv[2], sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    codebleu_secs, bleu_secs, checksum = [], [], 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for pair in pairs:
            checksum += codebleu.calc_codebleu([pair["reference"]], [pair["prediction"]], lang)["codebleu"]
        codebleu_secs.append(time.perf_counter() - started)
        started = time.perf_counter()
        for pair in pairs:
            checksum += sacrebleu.sentence_bleu(pair["prediction"], [pair["reference"]]).score
        bleu_secs.append(time.perf_counter() - started)
    median = lambda values: sorted(values)[len(values) // 2]
    print(json.dumps({
        "impl": f"codebleu {getattr(codebleu, '__version__', '0.7.0')} / sacrebleu {sacrebleu.__version__}",
        "pairs": len(pairs), "rounds_codebleu_s": codebleu_secs, "rounds_bleu_s": bleu_secs,
        "codebleu_pairs_per_s": len(pairs) / median(codebleu_secs),
        "bleu_pairs_per_s": len(pairs) / median(bleu_secs), "checksum": checksum,
    }))


if __name__ == "__main__":
    main()
