"""Crucible's speculative decoding beside llama.cpp's, on the same prompts, files and threads.

For each prompt, in one run, the two sides one after the other:
- Crucible: `speculate_bench` on that prompt alone (plain greedy and the speculative mode,
  themselves alternating), which reports the tokens it generated (it stops at the closing code
  fence) and their decode time;
- the peer: llama.cpp's driver without speculation and with it (`llama-lookup` with
  `--spec-draft-n-max 0` and with its default drafts for lookup; `llama-lookup` with
  `--spec-draft-n-max 0` on the target and `llama-speculative` with the draft model for draft),
  given the same prompt text (the chat rendered with the GGUF file's own template and the code
  fence prefill, as Crucible renders it) and asked for as many tokens as Crucible's plain
  decoding generated for that prompt, so both sides decode the same stretch of text.

Each side's speed-up is its speculative decode tokens/s over its own plain decode tokens/s,
summed over the prompts (decode time only: prompt evaluation and model loading are not counted
on either side). Prints one line per prompt, then a table and one JSON line.

PEER_SPEC_ARGS adds arguments to the peer's speculative run (e.g. `--spec-draft-n-max 10`).

Usage: peers.py MODE SPECULATE_BENCH LLAMA_SPEC_DIR MODEL.gguf PROMPTS_FILE THREADS [DRAFT.gguf]
  MODE: lookup or draft; PROMPTS_FILE as written by repair_prompts.py.
"""

import json
import mmap
import os
import re
import struct
import subprocess
import sys
import tempfile

import jinja2

GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def gguf_string(path: str, wanted: str) -> str:
    """The string value of metadata key `wanted` in a GGUF file (version 2 or 3)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m[:4] != b"GGUF":
            sys.exit(f"peers.py: {path} is not a GGUF file")
        _version, _tensors, n_kv = struct.unpack_from("<IQQ", m, 4)
        pos = 24

        def read_str(p: int) -> tuple[str, int]:
            (n,) = struct.unpack_from("<Q", m, p)
            return m[p + 8 : p + 8 + n].decode("utf-8"), p + 8 + n

        def skip(kind: int, p: int) -> int:
            if kind == 8:
                (n,) = struct.unpack_from("<Q", m, p)
                return p + 8 + n
            if kind == 9:
                item, count = struct.unpack_from("<IQ", m, p)
                p += 12
                if item in GGUF_SCALARS:
                    return p + count * struct.calcsize("<" + GGUF_SCALARS[item])
                for _ in range(count):
                    p = skip(item, p)
                return p
            return p + struct.calcsize("<" + GGUF_SCALARS[kind])

        for _ in range(n_kv):
            key, pos = read_str(pos)
            (kind,) = struct.unpack_from("<I", m, pos)
            pos += 4
            if key == wanted and kind == 8:
                return read_str(pos)[0]
            pos = skip(kind, pos)
    sys.exit(f"peers.py: {path} has no string `{wanted}`")


def render_chat(template: str, user: str, prefill: str) -> str:
    """The text Crucible's chat prompt becomes: the template (minijinja there, jinja2 here)
    with the generation prompt, then the prefill."""
    env = jinja2.Environment()  # minijinja's defaults: no trailing newline, no trimming
    env.globals["raise_exception"] = lambda msg: (_ for _ in ()).throw(jinja2.TemplateError(msg))
    text = env.from_string(template).render(
        messages=[{"role": "user", "content": user}], add_generation_prompt=True, bos_token="", eos_token=""
    )
    return text + prefill


def run(cmd: list[str], env: dict[str, str]) -> tuple[str, str]:
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, errors="replace")
    if res.returncode != 0:
        sys.exit(f"peers.py: {' '.join(cmd[:3])} ... failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return res.stdout, res.stderr


def crucible(bench: str, model: str, prompt: str, threads: int, mode: str, draft: str | None, env) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(prompt + "<<<END>>>\n")
    try:
        cmd = [bench, model, f.name, str(MAX_NEW), str(threads), mode] + ([draft] if draft else [])
        lines = [json.loads(l) for l in run(cmd, env)[0].splitlines() if l.startswith("{")]
    finally:
        os.unlink(f.name)
    plain, spec = lines[0], lines[1]
    return {
        "plain_tokens": plain["tokens"],
        "plain_s": plain["decode_s"],
        "spec_tokens": spec["tokens"],
        "spec_s": spec["decode_s"],
        "prompt_tokens": plain["prompt_tokens"],
        "drafted": spec.get("drafted", 0),
        "accepted": spec.get("accepted", 0),
        "identical": spec.get("identical", 0),
    }


DECODED = re.compile(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds")
ENCODED = re.compile(r"encoded\s+(\d+) tokens")
DRAFTED = re.compile(r"n_drafted\s*=\s*(\d+)")
ACCEPTED = re.compile(r"n_accept\s*=\s*(\d+)")


def peer(tool: str, args: list[str], prompt_file: str, n: int, threads: int, env) -> dict:
    cmd = [tool, *args, "-bf", prompt_file, "--no-escape", "-n", str(n), "-t", str(threads),
           "-tb", str(threads), "-c", "4096", "--temp", "0", "--seed", "0"]
    text, log = run(cmd, env)
    out = text + log
    decoded = DECODED.search(out)
    if not decoded:
        sys.exit(f"peers.py: no timing in the output of {tool}:\n{out[-3000:]}")
    drafted, accepted = DRAFTED.search(out), ACCEPTED.search(out)
    encoded = ENCODED.search(out)
    return {
        "tokens": int(decoded.group(1)),
        "s": float(decoded.group(2)),
        "prompt_tokens": int(encoded.group(1)) if encoded else None,
        "drafted": int(drafted.group(1)) if drafted else 0,
        "accepted": int(accepted.group(1)) if accepted else 0,
        "text": text.strip(),
    }


MAX_NEW = 128


def main() -> None:
    global MAX_NEW
    mode, bench, spec_dir, model, prompts_file, threads = sys.argv[1:7]
    threads = int(threads)
    draft = sys.argv[7] if len(sys.argv) > 7 else None
    MAX_NEW = int(os.environ.get("MAX_NEW_TOKENS", "128"))
    if mode == "draft" and not draft:
        sys.exit("peers.py: draft mode needs DRAFT.gguf")
    env = dict(os.environ)
    env.setdefault("GOMP_SPINCOUNT", "1000")
    lookup_tool = os.path.join(spec_dir, "llama-lookup")
    spec_tool = os.path.join(spec_dir, "llama-speculative")
    peer_plain = (lookup_tool, ["-m", model, "--spec-draft-n-max", "0"])
    if mode == "lookup":
        peer_spec = (lookup_tool, ["-m", model])
    else:
        peer_spec = (spec_tool, ["-m", model, "-md", draft, "-td", str(threads), "-tbd", str(threads)])
    # The peer's speculation runs with its defaults (3 drafted tokens at most) unless told otherwise.
    peer_spec[1].extend(os.environ.get("PEER_SPEC_ARGS", "").split())
    template = gguf_string(model, "tokenizer.chat_template")
    prompts = [p for p in open(prompts_file).read().split("<<<END>>>\n") if p.strip()]
    totals = {k: 0.0 for k in ("c_plain_t", "c_plain_s", "c_spec_t", "c_spec_s", "p_plain_t", "p_plain_s",
                               "p_spec_t", "p_spec_s", "c_drafted", "c_accepted", "p_drafted", "p_accepted",
                               "c_identical", "p_identical", "prompt_mismatch")}
    for i, prompt in enumerate(prompts):
        text = render_chat(template, prompt, "```python\n")
        with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
            f.write(text.encode("utf-8"))
        try:
            # Crucible first (its plain output's length sets the peer's), then the peer, whose
            # two runs alternate their order from prompt to prompt.
            c = crucible(bench, model, prompt, threads, mode, draft, env)
            n = max(1, c["plain_tokens"] - 1)  # the drivers stop after n + 1 tokens
            runs = {}
            for which in ([0, 1] if i % 2 == 0 else [1, 0]):
                tool, args = peer_plain if which == 0 else peer_spec
                runs[which] = peer(tool, args, f.name, n, threads, env)
            p_plain, p_spec = runs[0], runs[1]
        finally:
            os.unlink(f.name)
        totals["c_plain_t"] += c["plain_tokens"]
        totals["c_plain_s"] += c["plain_s"]
        totals["c_spec_t"] += c["spec_tokens"]
        totals["c_spec_s"] += c["spec_s"]
        totals["c_drafted"] += c["drafted"]
        totals["c_accepted"] += c["accepted"]
        totals["c_identical"] += c["identical"]
        totals["p_plain_t"] += p_plain["tokens"]
        totals["p_plain_s"] += p_plain["s"]
        totals["p_spec_t"] += p_spec["tokens"]
        totals["p_spec_s"] += p_spec["s"]
        totals["p_drafted"] += p_spec["drafted"]
        totals["p_accepted"] += p_spec["accepted"]
        # The drivers print the prompt and what they generate on stdout; the speculative run can
        # overshoot by the rest of its last accepted draft, so one text must start the other.
        a, b = p_plain["text"], p_spec["text"]
        totals["p_identical"] += int(a.startswith(b) or b.startswith(a))
        if p_plain["prompt_tokens"] is not None and p_plain["prompt_tokens"] != c["prompt_tokens"]:
            totals["prompt_mismatch"] += 1
        print(
            f"prompt {i + 1}/{len(prompts)}: prompt tokens crucible {c['prompt_tokens']} peer {p_plain['prompt_tokens']}; "
            f"crucible plain {c['plain_tokens']} tok {c['plain_s']:.2f} s, {mode} {c['spec_tokens']} tok {c['spec_s']:.2f} s "
            f"({c['accepted']}/{c['drafted']} accepted); peer plain {p_plain['tokens']} tok {p_plain['s']:.2f} s, "
            f"{mode} {p_spec['tokens']} tok {p_spec['s']:.2f} s ({p_spec['accepted']}/{p_spec['drafted']} accepted)",
            file=sys.stderr,
            flush=True,
        )
    t = totals
    c_plain, c_spec = t["c_plain_t"] / t["c_plain_s"], t["c_spec_t"] / t["c_spec_s"]
    p_plain, p_spec = t["p_plain_t"] / t["p_plain_s"], t["p_spec_t"] / t["p_spec_s"]
    c_up, p_up = c_spec / c_plain, p_spec / p_plain
    print(f"| side | plain tokens | plain s | plain tok/s | {mode} tokens | {mode} s | {mode} tok/s | speed-up | accepted |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| crucible | {t['c_plain_t']:.0f} | {t['c_plain_s']:.2f} | {c_plain:.2f} | {t['c_spec_t']:.0f} | "
          f"{t['c_spec_s']:.2f} | {c_spec:.2f} | {c_up:.2f}x | {t['c_accepted']:.0f}/{t['c_drafted']:.0f} |")
    print(f"| llama.cpp | {t['p_plain_t']:.0f} | {t['p_plain_s']:.2f} | {p_plain:.2f} | {t['p_spec_t']:.0f} | "
          f"{t['p_spec_s']:.2f} | {p_spec:.2f} | {p_up:.2f}x | {t['p_accepted']:.0f}/{t['p_drafted']:.0f} |")
    print(f"crucible speed-up / llama.cpp speed-up: {c_up / p_up:.2f}; crucible plain / llama.cpp plain: "
          f"{c_plain / p_plain:.2f}; crucible outputs identical to its plain greedy: {t['c_identical']:.0f}/{len(prompts)}; "
          f"llama.cpp's: {t['p_identical']:.0f}/{len(prompts)}; "
          f"prompts tokenized differently: {t['prompt_mismatch']:.0f}")
    print(json.dumps({"mode": mode, "prompts": len(prompts), "threads": threads, "crucible_plain_tok_s": round(c_plain, 2),
                      "crucible_spec_tok_s": round(c_spec, 2), "crucible_speedup": round(c_up, 3),
                      "peer_plain_tok_s": round(p_plain, 2), "peer_spec_tok_s": round(p_spec, 2),
                      "peer_speedup": round(p_up, 3), "ratio": round(c_up / p_up, 3), **{k: v for k, v in t.items()}}))


if __name__ == "__main__":
    main()
