"""Derive CodeBLEU test vectors from the `codebleu` package (run by bench/metrics/derive.sh).

Input: a JSON Lines file of pairs {"language", "prediction", "reference", "origin"}.
Output: one JSON object with, per pair, the package's scores (`package`) and the same with the
paper's AST rule and no `or 1` on the data-flow part (`paper`), plus a digest of each
language's keyword list (so the Rust test can check that its lists are the package's).

The package is used as installed by bench/metrics/venv.sh, with the one adaptation of
reference_env.py (how the JavaScript grammar is handed to py-tree-sitter).

Data-flow edges carry names collected through Python sets, whose order depends on
PYTHONHASHSEED; the script scores every pair under several seeds (in child processes) and
records the range of the data-flow and CodeBLEU scores, so the package's own spread is on
record next to its PYTHONHASHSEED=0 scores.

Usage: python derive_codebleu.py PAIRS.jsonl OUT.json [SEEDS]
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import reference_env  # noqa: F401  (the JavaScript grammar adaptation; see reference_env.py)
import codebleu
from codebleu import codebleu as codebleu_module
from codebleu.parser import remove_comments_and_docstrings
from codebleu.utils import get_tree_sitter_language
from tree_sitter import Parser

PACKAGE_LANG = {
    "python": "python",
    "c": "c",
    "cpp": "cpp",
    "java": "java",
    "javascript": "javascript",
    "go": "go",
    "rust": "rust",
    "csharp": "c_sharp",
    "php": "php",
}


def subtrees(parser, code, lang):
    try:
        code = remove_comments_and_docstrings(code, lang)
    except Exception:
        pass
    root = parser.parse(bytes(code, "utf8")).root_node
    counts = {}
    stack = [root]
    while stack:
        node = stack.pop()
        key = str(node)
        counts[key] = counts.get(key, 0) + 1
        stack.extend(child for child in node.children if len(child.children) != 0)
    return counts


def paper_syntax_match(reference, prediction, lang, language):
    """The paper's AST match: candidate subtrees matched, clipped by the reference's counts."""
    parser = Parser()
    parser.language = language
    cand = subtrees(parser, prediction, lang)
    ref = subtrees(parser, reference, lang)
    matched = sum(min(count, cand.get(key, 0)) for key, count in ref.items())
    return matched / sum(ref.values())


def keyword_digest(lang):
    path = Path(codebleu_module.PACKAGE_DIR) / "keywords" / (lang + ".txt")
    words = sorted({line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()})
    return hashlib.sha256("\n".join(words).encode()).hexdigest()


def score_all(pairs_path):
    """The package's scores for every pair, in this process (one PYTHONHASHSEED)."""
    pairs = [json.loads(line) for line in open(pairs_path, encoding="utf-8")]
    languages = {}
    results = []
    for pair in pairs:
        lang = PACKAGE_LANG[pair["language"]]
        language = languages.setdefault(lang, get_tree_sitter_language(lang))
        package = codebleu.calc_codebleu([pair["reference"]], [pair["prediction"]], lang)
        syntax_paper = paper_syntax_match(pair["reference"].strip(), pair["prediction"].strip(), lang, language)
        paper = dict(package)
        paper["syntax_match_score"] = syntax_paper
        paper["codebleu"] = 0.25 * (
            package["ngram_match_score"]
            + package["weighted_ngram_match_score"]
            + syntax_paper
            + package["dataflow_match_score"]
        )
        results.append({"package": package, "paper": paper})
    return results


def main():
    """Score with PYTHONHASHSEED=0 and record every seed's data-flow and CodeBLEU range."""
    pairs_path, out_path = sys.argv[1], sys.argv[2]
    seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    if os.environ.get("DERIVE_ONE_SEED"):
        json.dump(score_all(pairs_path), sys.stdout)
        return
    runs = []
    for seed in range(seeds):
        env = dict(os.environ, PYTHONHASHSEED=str(seed), DERIVE_ONE_SEED="1")
        done = subprocess.run([sys.executable, __file__, pairs_path, out_path], env=env, check=True,
                              capture_output=True, text=True)
        runs.append(json.loads(done.stdout))
    results = runs[0]
    for index, result in enumerate(results):
        for rules in ("package", "paper"):
            codebleus = [run[index][rules]["codebleu"] for run in runs]
            flows = [run[index][rules]["dataflow_match_score"] for run in runs]
            result[rules]["codebleu_range"] = [min(codebleus), max(codebleus)]
            result[rules]["dataflow_range"] = [min(flows), max(flows)]
    out = {
        "reference": {
            "codebleu": codebleu.__version__ if hasattr(codebleu, "__version__") else "0.7.0",
            "python": sys.version.split()[0],
            "scores": "PYTHONHASHSEED=0; *_range over PYTHONHASHSEED=0..%d" % (seeds - 1),
        },
        "keyword_sha256": {name: keyword_digest(lang) for name, lang in PACKAGE_LANG.items()},
        "results": results,
    }
    json.dump(out, open(out_path, "w", encoding="utf-8"), indent=None)


if __name__ == "__main__":
    main()
