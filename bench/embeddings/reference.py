#!/usr/bin/env python3
"""Reference vectors for crucible-index's embedding test (tests/embed_model.rs).

An implementation of all-MiniLM-L6-v2 written from the published architecture, independent of
candle and of Hugging Face's `tokenizers`: the model's `vocab.txt` and `model.safetensors` (as
scripts/embedding-model.sh installs them) read with the standard library, BERT's basic
tokenizer (lowercase, split on whitespace and punctuation) and greedy longest-match WordPiece,
a 6-layer post-LayerNorm BERT encoder in numpy (float64), then sentence-transformers' pooling
(mean over the real tokens) and L2 normalisation. The wheel ships no vectors of its own, so
this is the second implementation the Rust one is checked against.

Only texts of ASCII letters, digits, spaces and ASCII punctuation are handled (enough for the
test sentences; BERT's handling of accents and CJK characters is not reproduced).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy
    /tmp/venv/bin/python bench/embeddings/reference.py ~/.local/share/crucible/models/all-minilm-l6-v2 \
        > crates/crucible-index/tests/fixtures/embeddings/reference.json
"""

import json
import math
import pathlib
import struct
import sys

import numpy as np

SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted",
    "def parse_http_request(data): return Request.from_bytes(data)",
]
MAX_TOKENS = 256


def load_safetensors(path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__" or meta["dtype"] != "F32":
            continue
        start, end = meta["data_offsets"]
        array = np.frombuffer(data[start:end], dtype="<f4").reshape(meta["shape"])
        tensors[name] = array.astype(np.float64)
    return tensors


def basic_tokens(text):
    out = []
    for word in text.lower().split():
        current = ""
        for ch in word:
            if ch.isascii() and not ch.isalnum():
                if current:
                    out.append(current)
                    current = ""
                out.append(ch)
            else:
                current += ch
        if current:
            out.append(current)
    return out


def wordpiece(word, vocab):
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        found = None
        while start < end:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                found = piece
                break
            end -= 1
        if found is None:
            return ["[UNK]"]
        pieces.append(found)
        start = end
    return pieces


def token_ids(text, vocab):
    pieces = [p for word in basic_tokens(text) for p in wordpiece(word, vocab)]
    ids = [vocab["[CLS]"]] + [vocab[p] for p in pieces][: MAX_TOKENS - 2] + [vocab["[SEP]"]]
    return ids


def layer_norm(x, weight, bias, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def linear(x, t, name):
    return x @ t[name + ".weight"].T + t[name + ".bias"]


def encode(ids, t, config):
    n = len(ids)
    heads = config["num_attention_heads"]
    width = config["hidden_size"] // heads
    x = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][:n]
        + t["embeddings.token_type_embeddings.weight"][[0] * n]
    )
    x = layer_norm(x, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        q = linear(x, t, p + "attention.self.query").reshape(n, heads, width).transpose(1, 0, 2)
        k = linear(x, t, p + "attention.self.key").reshape(n, heads, width).transpose(1, 0, 2)
        v = linear(x, t, p + "attention.self.value").reshape(n, heads, width).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(width)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attended = (scores @ v).transpose(1, 0, 2).reshape(n, heads * width)
        x = layer_norm(
            linear(attended, t, p + "attention.output.dense") + x,
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
        )
        inner = gelu(linear(x, t, p + "intermediate.dense"))
        x = layer_norm(
            linear(inner, t, p + "output.dense") + x,
            t[p + "output.LayerNorm.weight"],
            t[p + "output.LayerNorm.bias"],
        )
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def main():
    model = pathlib.Path(sys.argv[1])
    config = json.loads((model / "config.json").read_text())
    vocab = {}
    for at, line in enumerate((model / "vocab.txt").read_text().splitlines()):
        vocab[line] = at
    tensors = load_safetensors(model / "model.safetensors")
    out = []
    for sentence in SENTENCES:
        ids = token_ids(sentence, vocab)
        vector = encode(ids, tensors, config)
        out.append({"text": sentence, "token_ids": ids, "vector": [round(float(v), 7) for v in vector]})
    json.dump({"model": "all-MiniLM-L6-v2", "derived_by": "bench/embeddings/reference.py", "sentences": out}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
