"""Derive test vectors for BLEU, CodeXGLUE's smoothed BLEU, edit similarity, identifier match and
the correlation statistics from the reference implementations (run by bench/metrics/derive.sh).

- sacrebleu (BLEU): corpus and sentence scores for every tokeniser/smoothing combination the
  Rust side offers, on inputs written here (text and code; empty, short, multi-reference and
  punctuation cases).
- CodeXGLUE's smoothed BLEU: its definition is a short function of the evaluator script, which
  is not on PyPI; it is written out below from the script's published rules (mteval
  normalisation, add-one smoothing of orders 2-4, shortest reference, `min(0, 1-(r+1)/(c+1))`),
  and cross-checked against nltk-free arithmetic in the Rust tests.
- fuzzywuzzy 0.18.0 without python-Levenshtein (as CrossCodeEval and CodeXGLUE install it):
  `fuzz.ratio`, i.e. difflib's ratio rounded to an integer.
- scipy: point-biserial r, AUROC (Mann-Whitney U / (n1*n0), ties counted half), Kendall tau-b.

Usage: python derive_misc.py OUT.json
"""

import json
import keyword
import math
import re
import sys

import sacrebleu
import scipy
from fuzzywuzzy import fuzz
from scipy import stats

BLEU_CASES = [
    {
        "name": "text",
        "hyps": ["The cat sat on the mat.", "It is a guide to action which ensures that the military always obeys the commands of the party."],
        "refs": [["The cat is on the mat.", "It is a guide to action that ensures that the military will forever heed Party commands."],
                 ["There is a cat on the mat.", "It is the guiding principle which guarantees the military forces always being under the command of the Party."]],
    },
    {
        "name": "code",
        "hyps": ["def add(a, b):\n    return a+b", "for (int i = 0; i < n; i++) { s += a[i]; }", "x = foo(1.5, -2) # done"],
        "refs": [["def add(x, y):\n    return x + y", "for (int i = 0; i < n; ++i) s += a[i];", "x = foo(1.5,-2)"]],
    },
    {
        "name": "short_and_empty",
        "hyps": ["a", "", "b c"],
        "refs": [["a b c d", "x", "b c"]],
    },
    {
        "name": "numbers_and_entities",
        "hyps": ["It costs 1,000.50 dollars &amp; 3-4 cents.", "Hello &quot;world&quot; &lt;tag&gt;"],
        "refs": [["It costs 1,000.50 dollars & 3 - 4 cents .", "Hello \"world\" <tag>"]],
    },
    {
        "name": "no_match",
        "hyps": ["completely different words here"],
        "refs": [["nothing in common at all"]],
    },
]

SMOOTHINGS = [("exp", None), ("floor", 0.1), ("add-k", 1), ("none", None)]
TOKENIZERS = ["13a", "none"]


def bleu_vectors():
    out = []
    for case in BLEU_CASES:
        for tokenize in TOKENIZERS:
            for method, value in SMOOTHINGS:
                for lowercase in (False, True):
                    corpus = sacrebleu.corpus_bleu(case["hyps"], case["refs"], smooth_method=method,
                                                   smooth_value=value, tokenize=tokenize, lowercase=lowercase)
                    sentences = []
                    for index, hyp in enumerate(case["hyps"]):
                        refs = [refs[index] for refs in case["refs"]]
                        sentence = sacrebleu.sentence_bleu(hyp, refs, smooth_method=method, smooth_value=value,
                                                           tokenize=tokenize, lowercase=lowercase)
                        sentences.append({"score": sentence.score, "printed": str(sentence)})
                    out.append({
                        "case": case["name"], "tokenize": tokenize, "smooth": method, "smooth_value": value,
                        "lowercase": lowercase, "corpus": corpus.score, "corpus_printed": str(corpus),
                        "precisions": corpus.precisions, "bp": corpus.bp, "sys_len": corpus.sys_len,
                        "ref_len": corpus.ref_len, "sentences": sentences,
                    })
    return out


# CodeXGLUE's smoothed BLEU, written from the evaluator's rules (see the module docstring).
_PUNCT = re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])")
_RULES = [(re.compile(r"([^0-9])([\.,])"), r"\1 \2 "), (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
          (re.compile(r"([0-9])(-)"), r"\1 \2 ")]


def _normalize(text):
    for old, new in (("<skipped>", ""), ("-\n", ""), ("\n", " ")):
        text = text.replace(old, new)
    for old, new in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(old, new)
    text = _PUNCT.sub(r" \1 ", (" %s " % text).lower())
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text.split()


def _ngrams(words):
    counts = {}
    for n in range(1, 5):
        for i in range(len(words) - n + 1):
            gram = tuple(words[i:i + n])
            counts[gram] = counts.get(gram, 0) + 1
    return counts


def codexglue_bleu(hyp, refs):
    prep = lambda s: " ".join(re.findall(r"[\w]+|[^\s\w]", s.strip().lower()))
    refs = [_normalize(prep(ref)) for ref in refs]
    hyp = _normalize(prep(hyp))
    maxcounts = {}
    for ref in refs:
        for gram, count in _ngrams(ref).items():
            maxcounts[gram] = max(maxcounts.get(gram, 0), count)
    correct = [0] * 4
    for gram, count in _ngrams(hyp).items():
        correct[len(gram) - 1] += min(maxcounts.get(gram, 0), count)
    logbleu = 0.0
    for k in range(4):
        guess = max(len(hyp) - k, 0)
        add = 1 if k > 0 else 0
        logbleu += math.log(correct[k] + add + sys.float_info.min) - math.log(guess + add + sys.float_info.min)
    logbleu /= 4
    bp = min(0, 1 - (min(len(r) for r in refs) + 1) / (len(hyp) + 1))
    return math.exp(logbleu + bp)


SIMILARITY_PAIRS = [
    ("return a + b", "return a+b"),
    ("def f(x):\n    return x * 2", "def f(y):\n    return y * 2  # double"),
    ("", ""),
    ("abc", ""),
    ("kitten", "sitting"),
    ("for i in range(10): print(i)", "for j in range(10):\n    print(j)"),
    ("x" * 250 + "y", "x" * 240 + "z"),
    ("héllo wörld", "hello world"),
    ("int main() { return 0; }", "int main(void) { return 0; }"),
    ("aaaa bbbb", "bbbb aaaa"),
]


def identifier_vectors():
    """CrossCodeEval's identifier extraction for Python (keywords: kwlist minus True/False)."""
    string_pattern = r'"([^"\\]*(\\.[^"\\]*)*)"|\'([^\'\\]*(\\.[^\'\\]*)*)\''
    ident = re.compile("[_a-zA-Z][_a-zA-Z0-9]*")
    kws = frozenset(k for k in keyword.kwlist if k not in ("True", "False"))

    def extract(code):
        code = re.sub(r"#.*", "", code)
        code = re.sub(r"//.*", "", code)
        code = re.sub(string_pattern, "", code)
        return [t for t in re.findall(r"\w+", code) if ident.match(t) and t not in kws]

    cases = [
        ("result = compute(x, 'label') # note", "result = compute(y, \"label\")"),
        ("if value is None: return True", "if value is not None:\n    return False"),
        ("total = sum(items) + 1", "count = len(items)"),
        ("", "x = 1"),
    ]
    out = []
    for pred, target in cases:
        p, t = extract(pred), extract(target)
        ps, ts = set(p), set(t)
        tp = len(ps & ts)
        fp = len(ps - ts)
        fn = len(ts - ps)
        out.append({
            "prediction": pred, "target": target, "pred_ids": p, "target_ids": t, "em": int(p == t),
            "precision": tp / (tp + fp) if tp + fp else 0, "recall": tp / (tp + fn) if tp + fn else 0,
            "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0,
        })
    return out


CORRELATION_CASES = [
    {"scores": [0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.55], "labels": [0, 0, 1, 1, 1, 0, 1, 0]},
    {"scores": [0.5, 0.5, 0.5, 0.2, 0.9, 0.9, 0.1, 0.5, 0.3, 0.7], "labels": [1, 0, 1, 0, 1, 1, 0, 0, 0, 1]},
    {"scores": [3, 1, 2, 2, 5, 4, 4, 1], "labels": [1, 0, 0, 1, 1, 1, 0, 0]},
]

KENDALL_CASES = [
    ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]),
    ([0.3, 0.3, 0.5, 0.9, 0.1, 0.5], [1, 2, 2, 3, 1, 0]),
    ([1, 1, 2, 2, 3, 3, 4], [4, 3, 3, 2, 2, 1, 1]),
]


def correlation_vectors():
    out = {"binary": [], "kendall": []}
    for case in CORRELATION_CASES:
        r, _ = stats.pointbiserialr(case["labels"], case["scores"])
        pos = [s for s, l in zip(case["scores"], case["labels"]) if l]
        neg = [s for s, l in zip(case["scores"], case["labels"]) if not l]
        u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
        out["binary"].append({**case, "point_biserial": r, "auroc": u / (len(pos) * len(neg))})
    for x, y in KENDALL_CASES:
        tau = stats.kendalltau(x, y, variant="b").statistic
        out["kendall"].append({"x": x, "y": y, "tau_b": tau})
    return out


def main():
    out = {
        "reference": {"sacrebleu": sacrebleu.__version__, "scipy": scipy.__version__, "fuzzywuzzy": "0.18.0 (difflib)"},
        "bleu_inputs": {case["name"]: {"hyps": case["hyps"], "refs": case["refs"]} for case in BLEU_CASES},
        "bleu": bleu_vectors(),
        "codexglue": [
            {"hyp": hyp, "refs": refs, "bleu": codexglue_bleu(hyp, refs)}
            for case in BLEU_CASES
            for hyp, refs in zip(case["hyps"], zip(*case["refs"]))
        ],
        "fuzz_ratio": [{"a": a, "b": b, "ratio": fuzz.ratio(a, b)} for a, b in SIMILARITY_PAIRS],
        "identifiers": identifier_vectors(),
        "correlation": correlation_vectors(),
    }
    json.dump(out, open(sys.argv[1], "w", encoding="utf-8"), indent=1)


if __name__ == "__main__":
    main()
