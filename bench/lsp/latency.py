#!/usr/bin/env python3
"""Completion latency of `crucible lsp`, from keystroke to completion, standard library only.

    latency.py --bin target/release/crucible --repo . --model PATH --home DIR [--keystrokes 30]
              [--max-new-tokens 32]

Starts `crucible lsp --repo REPO` with CRUCIBLE_HOME=DIR (where the repository's index lives:
an empty DIR gives a cold index, built when the server starts; a second run on the same DIR a
warm one), opens a real file of the repository (--file) with the cursor at the start of the
code on a line in its middle, then types the file's next characters one by one (the server
puts an editor-sized window of the file around the cursor into the prompt, about 1,500 tokens
before it and a few lines after, plus --repo-budget tokens of repository context). Each keystroke is a `textDocument/didChange` (the whole
text, as the server asks for full sync) followed at once by a `textDocument/completion` at the
new cursor; its latency is the time from sending didChange to receiving the completion's
response, so it includes the server's debounce, retrieval from the index, prompt processing
and decoding. The client waits for each answer before the next keystroke, so no request is
superseded and every follow-up shares the previous one's prompt up to the cursor.

Before the measured requests, one completion in another file (--warmup-file) takes the
model's load and, with a cold index, the index's build (the model thread opens both before its
first job); its latency is reported as `warmup_s`. The first measured request then evaluates
its whole prompt (nothing of it is cached), and each follow-up shares the previous prompt up to
the cursor. Prints one JSON object: the first latency, p50/p95/p99/max of the follow-ups, the
server's CPU time (user and system, all threads) for the first request and the follow-ups' median
(on a loaded machine wall time mostly measures the wait for a core), how many came back non-empty, the first few completions and all of them in order (`completions`, to compare two runs'
answers), `uptime` and the load average before and
after.

With --timings (the default) the server logs at debug level (`RUST_LOG`, unless set already)
and the output adds, per phase, the medians of the server's own timing records (one per
completion, `completion timing` in lsp-bench.log; a binary without them gives none):
retrieval (import names, definition searches, BM25, packing; whether the context was kept
from the request before), tokenizing, prompt evaluation, decoding, wall and process CPU time,
and the prompt tokens reused from the KV cache and evaluated.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time


def frame(message):
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class Server:
    def __init__(self, args):
        env = dict(os.environ, CRUCIBLE_HOME=args.home, NO_COLOR="1")
        env.pop("CRUCIBLE_ENDPOINT", None)
        if args.timings:
            env.setdefault("RUST_LOG", "warn,crucible_lsp=debug,crucible_infer_llama=debug")
        self.log_path = os.path.join(args.home, "lsp-bench.log")
        command = [
            args.bin, "lsp", "--repo", args.repo, "--model", args.model,
            "--threads", str(args.threads), "--max-new-tokens", str(args.max_new_tokens),
            "--debounce-ms", str(args.debounce_ms), "--repo-budget", str(args.repo_budget),
        ] + args.server_arg
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env
        )
        self.next_id = 0

    def send(self, message):
        self.process.stdin.write(frame(message))
        self.process.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id

    def read(self):
        length = None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the server closed its output (see lsp-bench.log in --home)")
            line = line.strip()
            if not line:
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return json.loads(self.process.stdout.read(length))

    def response(self, request_id):
        while True:
            message = self.read()
            if message.get("id") == request_id and "method" not in message:
                if "error" in message:
                    raise RuntimeError(f"request {request_id} failed: {message['error']}")
                return message["result"]

    def close(self):
        try:
            self.response(self.request("shutdown", None))
            self.notify("exit", None)
            # The protocol wants the server gone at `exit`, stdin open or not.
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print("the server did not exit within 30 s of `exit`; killed", file=sys.stderr)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.log.close()


def cursor_in(path, keystrokes):
    """The file's text and a cursor in its middle, after the indentation of a line that has
    code (so typing types code): the text before and after it, and the characters typed next."""
    text = open(path, encoding="utf-8").read()
    line_start = text.index("\n", len(text) // 2) + 1
    while not text[line_start:text.index("\n", line_start)].strip():
        line_start = text.index("\n", line_start) + 1
    line = text[line_start:text.index("\n", line_start)]
    cursor = line_start + len(line) - len(line.lstrip())
    if len(text) - cursor < keystrokes:
        sys.exit(f"{path} is too short for {keystrokes} keystrokes")
    return text[:cursor], text[cursor:], text[cursor:cursor + keystrokes]


def position(prefix):
    line = prefix.count("\n")
    last = prefix[prefix.rfind("\n") + 1:]
    return {"line": line, "character": len(last.encode("utf-16-le")) // 2}


def percentile(values, q):
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


FIELD = re.compile(r"(\w+)=(\S+)")


def log_records(path):
    """The server's per-completion records, in order: each `completion timing` line's fields,
    with the fields of the `prompt tokenized` and `single request` lines (llama.cpp backend)
    logged before it for the same request."""
    records, pending = [], {}
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            fields = {k: v for k, v in FIELD.findall(line)}
            if "prompt tokenized" in line:
                pending["tokenize_ms"] = float(fields.get("ms", "nan"))
            elif "single request drafts" in line:
                pending["drafted_tokens"] = int(fields.get("drafted", "0"))
                pending["accepted_tokens"] = int(fields.get("accepted", "0"))
            elif "single request" in line:
                pending["reused_tokens"] = int(fields.get("reused", "0"))
            elif "completion timing" in line:
                record = dict(pending)
                pending = {}
                for key, value in fields.items():
                    record[key] = value == "true" if value in ("true", "false") else float(value)
                records.append(record)
    return records


def phases(records):
    """Medians of each numeric field over `records`, and how many found a kept context."""
    if not records:
        return None
    keys = sorted({k for r in records for k, v in r.items() if not isinstance(v, bool)})
    out = {k: round(percentile([r[k] for r in records if k in r], 50), 2) for k in keys}
    out["retrieval_cached"] = sum(1 for r in records if r.get("retrieval_cached"))
    out["records"] = len(records)
    return out


def cpu_seconds(pid):
    """User and system CPU time of process `pid` so far (Linux), or None."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def complete(server, uri, before):
    """Ask for a completion at the end of `before`; return the first item's text or None."""
    result = server.response(server.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": position(before),
    }))
    items = (result or {}).get("items", result) if isinstance(result, dict) else result
    return items[0]["textEdit"]["newText"] if items else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--home", required=True, help="CRUCIBLE_HOME: where the index lives")
    parser.add_argument("--file", default="crates/crucible-core/src/repo_context.rs",
                        help="repository-relative file to type in")
    parser.add_argument("--warmup-file", default="crates/crucible-core/src/complete.rs",
                        help="repository-relative file of the warm-up completion")
    parser.add_argument("--keystrokes", type=int, default=30)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repo-budget", type=int, default=1024)
    parser.add_argument("--debounce-ms", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timings", action=argparse.BooleanOptionalAction, default=True,
                        help="log the server's per-phase timing records and report their medians")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="one more argument of `crucible lsp` (e.g. --server-arg=--speculate=off)")
    args = parser.parse_args()
    args.repo = os.path.realpath(args.repo)
    os.makedirs(args.home, exist_ok=True)
    path = os.path.join(args.repo, args.file)
    prefix, suffix, typed = cursor_in(path, args.keystrokes)
    uri = "file://" + path
    load_before = os.getloadavg()
    uptime_before = uptime()
    index_existed = os.path.isdir(os.path.join(args.home, "index"))

    server = Server(args)
    started = time.monotonic()
    server.response(server.request("initialize", {
        "processId": os.getpid(), "rootUri": "file://" + args.repo, "capabilities": {},
    }))
    server.notify("initialized", {})
    initialize_s = time.monotonic() - started
    warm_path = os.path.join(args.repo, args.warmup_file)
    warm_prefix, warm_suffix, _ = cursor_in(warm_path, 1)
    warm_uri = "file://" + warm_path
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": warm_uri, "languageId": "rust", "version": 1, "text": warm_prefix + warm_suffix,
    }})
    started = time.monotonic()
    complete(server, warm_uri, warm_prefix)
    warmup_s = time.monotonic() - started
    version = 1
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "rust", "version": version, "text": prefix + suffix,
    }})
    latencies = []
    cpu = []
    answered = 0
    examples = []
    texts = []
    for at in range(len(typed) + 1):
        version += 1
        before = prefix + typed[:at]
        text = before + suffix[at:] if at else prefix + suffix
        sent = time.monotonic()
        cpu_before = cpu_seconds(server.process.pid)
        server.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"text": text}],
        })
        text = complete(server, uri, before)
        latencies.append(time.monotonic() - sent)
        texts.append(text)
        cpu_after = cpu_seconds(server.process.pid)
        if cpu_before is not None and cpu_after is not None:
            cpu.append(cpu_after - cpu_before)
        if text:
            answered += 1
            if len(examples) < 3:
                examples.append(text)
    follow = latencies[1:]
    server.close()
    # Record 0 is the warm-up's, 1 the first request's, the rest the follow-ups'.
    records = log_records(server.log_path) if args.timings else []
    print(json.dumps({
        "file": args.file,
        "index": "warm" if index_existed else "cold",
        "document_chars": len(prefix) + len(suffix),
        "cursor_line": prefix.count("\n") + 1,
        "keystrokes": len(follow),
        "max_new_tokens": args.max_new_tokens,
        "repo_budget_tokens": args.repo_budget,
        "threads": args.threads,
        "server_args": args.server_arg,
        "initialize_s": round(initialize_s, 3),
        "warmup_s": round(warmup_s, 3),
        "first_s": round(latencies[0], 3),
        "follow_up_p50_s": round(percentile(follow, 50), 3),
        "follow_up_p95_s": round(percentile(follow, 95), 3),
        "follow_up_p99_s": round(percentile(follow, 99), 3),
        "follow_up_max_s": round(max(follow), 3),
        "first_cpu_s": round(cpu[0], 2) if cpu else None,
        "follow_up_cpu_p50_s": round(percentile(cpu[1:], 50), 2) if cpu[1:] else None,
        "first_phases": phases(records[1:2]),
        "follow_up_phases_p50": phases(records[2:]),
        "answered": answered,
        "requests": len(latencies),
        "examples": examples,
        "completions": texts,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "uptime_before": uptime_before,
        "uptime_after": uptime(),
    }), flush=True)


if __name__ == "__main__":
    main()
