#!/usr/bin/env python3
"""Load generator for OpenAI-compatible servers (crucible serve, llama-server), standard
library only: N concurrent clients stream completions and the script reports aggregate
generated tokens per second, time to first token (p50/p95/p99), request latency (p50/p99),
statuses and the server's peak RSS.

    load.py --url http://127.0.0.1:8080 --concurrency 4 --requests 12 --max-tokens 128 --pid PID
    load.py --url http://127.0.0.1:8080 --prompts humaneval --route completions --concurrency 4
    load.py --url http://127.0.0.1:8080 --infill --pid PID
    load.py --summarize bench/results/serving-DATE

`--prompts humaneval` sends HumanEval's prompts (the function signature and docstring, from
$CRUCIBLE_DATA/humaneval/HumanEval.jsonl.gz) in order, each request i taking prompt i, so two
servers driven alike get the same requests; `--route completions` sends them as raw text to
/v1/completions (no chat template, so both servers see the same tokens), `chat` as a user
message. Each request's latency is kept in the report (`per_request`), for the paired overhead.
`--summarize DIR` reads the reports run.sh wrote there and prints medians and ratios.

Every request ends as one of: served (200 and a complete stream), refused (429), failed
(another status, a broken stream) or hung (no end within --timeout); the last two are errors.
With --infill it sends an editor-sized /infill request (about 1,500 tokens of prefix and
suffix, 64 new tokens), then a second one that shares the prefix (the user typed a few
characters), and reports both latencies. Prints one JSON object.
"""

import argparse
import asyncio
import glob
import gzip
import json
import os
import statistics
import time
from urllib.parse import urlparse

TASKS = [
    "Write a Python function that returns the n-th Fibonacci number.",
    "Write a C++ program that reads integers and prints their sum.",
    "Write a Python function that checks whether a string is a palindrome.",
    "Write a Rust function that reverses the words of a sentence.",
    "Write a Python class for a stack with push, pop and peek.",
    "Write a JavaScript function that flattens a nested array.",
    "Write a Go function that counts the vowels in a string.",
    "Write a Python function that merges two sorted lists.",
]


async def request(url, path, body, api_key, timeout, on_event):
    """POST `body`; call on_event(data) for each SSE data line (or once with the whole body).
    Returns the HTTP status."""
    parsed = urlparse(url)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parsed.hostname, parsed.port or 80), timeout
    )
    try:
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parsed.hostname}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n"
        )
        if api_key:
            head += f"Authorization: Bearer {api_key}\r\n"
        writer.write(head.encode() + b"\r\n" + payload)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        status = int(status_line.split()[1])
        headers = {}
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        buffer = b""

        async def body_pieces():
            if chunked:
                while True:
                    size_line = await asyncio.wait_for(reader.readline(), timeout)
                    size = int(size_line.strip() or b"0", 16)
                    if size == 0:
                        return
                    piece = await asyncio.wait_for(reader.readexactly(size + 2), timeout)
                    yield piece[:-2]
            else:
                length = int(headers.get("content-length", "0"))
                yield await asyncio.wait_for(reader.readexactly(length), timeout)

        streaming = headers.get("content-type", "").startswith("text/event-stream")
        async for piece in body_pieces():
            buffer += piece
            if not streaming:
                continue
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if line.startswith(b"data: "):
                        on_event(line[6:].decode())
        if not streaming:
            on_event(buffer.decode())
        return status
    finally:
        writer.close()


async def chat_load(args):
    results = []
    next_index = 0
    started = time.monotonic()

    async def client():
        nonlocal next_index
        while next_index < args.requests:
            index = next_index
            next_index += 1
            body = {
                "max_tokens": args.max_tokens,
                "temperature": 0,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            if args.prompt_list is not None:
                text = args.prompt_list[(args.offset + index) % len(args.prompt_list)]
            else:
                text = f"{TASKS[index % len(TASKS)]} (#{index})"
            if args.model:
                body["model"] = args.model
            if args.route == "completions":
                body["prompt"] = text
            else:
                body["messages"] = [{"role": "user", "content": text}]
            path = "/v1/completions" if args.route == "completions" else "/v1/chat/completions"
            sent = time.monotonic()
            state = {"first": None, "tokens": 0, "usage": None, "done": False, "error": None}

            def on_event(data):
                if data == "[DONE]":
                    state["done"] = True
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    state["error"] = chunk["error"]
                    return
                if chunk.get("usage"):
                    state["usage"] = chunk["usage"]["completion_tokens"]
                for choice in chunk.get("choices", []):
                    if choice.get("delta", {}).get("content") or choice.get("text"):
                        if state["first"] is None:
                            state["first"] = time.monotonic()
                        state["tokens"] += 1

            try:
                status = await request(args.url, path, body, args.api_key, args.timeout, on_event)
            except asyncio.TimeoutError:
                results.append({"outcome": "hung"})
                continue
            except (ConnectionError, OSError, ValueError) as err:
                results.append({"outcome": "failed", "error": str(err)})
                continue
            end = time.monotonic()
            if status == 429:
                results.append({"outcome": "refused"})
            elif status == 200 and state["done"] and state["error"] is None:
                results.append({
                    "outcome": "served",
                    "index": index,
                    "ttft": (state["first"] or end) - sent,
                    "tokens": state["usage"] if state["usage"] is not None else state["tokens"],
                    "seconds": end - sent,
                })
            else:
                results.append({"outcome": "failed", "status": status, "error": state["error"]})

    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    wall = time.monotonic() - started
    served = [r for r in results if r["outcome"] == "served"]
    ttfts = sorted(r["ttft"] for r in served)
    tokens = sum(r["tokens"] for r in served)
    outcome = {k: sum(1 for r in results if r["outcome"] == k) for k in ("served", "refused", "failed", "hung")}
    latencies = sorted(r["seconds"] for r in served)
    return {
        "concurrency": args.concurrency,
        "requests": args.requests,
        "route": args.route,
        "prompts": args.prompts,
        "max_tokens": args.max_tokens,
        "outcomes": outcome,
        "wall_seconds": round(wall, 2),
        "generated_tokens": tokens,
        "tokens_per_second": round(tokens / wall, 2) if wall else 0,
        "ttft_p50": percentile(ttfts, 0.50),
        "ttft_p95": percentile(ttfts, 0.95),
        "ttft_p99": percentile(ttfts, 0.99),
        "latency_p50": percentile(latencies, 0.50),
        "latency_p99": percentile(latencies, 0.99),
        "per_request": {
            str(r["index"]): [round(r["seconds"], 4), r["tokens"], round(r["ttft"], 4)] for r in served
        },
        "errors": [r for r in results if r["outcome"] in ("failed", "hung")][:5],
        "load_average": os.getloadavg()[0],
    }


def percentile(sorted_values, q):
    """The nearest-rank percentile of sorted values (None for none)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 1))
    return round(sorted_values[int(rank) - 1], 4)


def humaneval_prompts():
    """HumanEval's prompts, in task order."""
    home = os.environ.get("CRUCIBLE_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "crucible"
    )
    data = os.environ.get("CRUCIBLE_DATA") or os.path.join(home, "data")
    path = os.path.join(data, "humaneval", "HumanEval.jsonl.gz")
    if not os.path.isfile(path):
        raise SystemExit(f"load.py: no HumanEval at {path}; set CRUCIBLE_DATA to the data directory")
    with gzip.open(path, "rt") as lines:
        return [json.loads(line)["prompt"] for line in lines if line.strip()]


def summarize(directory):
    """Medians per server and concurrency over the rounds run.sh wrote (NAME-cN-rR.json), the
    ratio crucible / llama-server, and crucible's per-request overhead: the median, over the
    requests both servers served with the same number of tokens at concurrency 1, of crucible's
    latency minus llama-server's."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(directory, "*-c*-r*.json"))):
        name, level, _ = os.path.basename(path)[: -len(".json")].rsplit("-", 2)
        with open(path) as f:
            runs.setdefault((name, int(level[1:])), []).append(json.load(f))
    if not runs:
        raise SystemExit(f"load.py: no reports (NAME-cN-rR.json) in {directory}")
    med = lambda values: round(statistics.median(values), 4) if values else None
    rows = []
    for level in sorted({level for _, level in runs}):
        row = {"concurrency": level}
        for name in ("crucible", "llama-server"):
            reports = runs.get((name, level), [])
            for key in ("tokens_per_second", "ttft_p50", "ttft_p95", "ttft_p99", "latency_p50", "latency_p99", "load_average"):
                row[f"{name}.{key}"] = med([r[key] for r in reports if r.get(key) is not None])
            row[f"{name}.rounds"] = len(reports)
            row[f"{name}.not_served"] = sum(r["requests"] - r["outcomes"]["served"] for r in reports)
        ours, theirs = row["crucible.tokens_per_second"], row["llama-server.tokens_per_second"]
        row["throughput_ratio"] = round(ours / theirs, 3) if ours and theirs else None
        ours, theirs = row["crucible.ttft_p50"], row["llama-server.ttft_p50"]
        row["ttft_p50_ratio"] = round(ours / theirs, 3) if ours and theirs else None
        ours, theirs = row["crucible.ttft_p95"], row["llama-server.ttft_p95"]
        row["ttft_p95_ratio"] = round(ours / theirs, 3) if ours and theirs else None
        rows.append(row)
    overhead = []
    for ours, theirs in zip(runs.get(("crucible", 1), []), runs.get(("llama-server", 1), [])):
        for index, (seconds, tokens, _) in ours["per_request"].items():
            other = theirs["per_request"].get(index)
            if other and other[1] == tokens:
                overhead.append(seconds - other[0])
    return {
        "levels": rows,
        "overhead_ms_median": round(1000 * statistics.median(overhead), 1) if overhead else None,
        "overhead_pairs": len(overhead),
    }


def editor_file(lines):
    """Plausible Python source of about `lines` lines."""
    out = []
    i = 0
    while len(out) < lines:
        out += [
            f"def transform_{i}(values, scale={i % 7 + 1}):",
            f'    """Scale every value by {i % 7 + 1} and drop the negative ones."""',
            "    result = []",
            "    for value in values:",
            "        if value >= 0:",
            "            result.append(value * scale)",
            "    return result",
            "",
        ]
        i += 1
    return "\n".join(out) + "\n"


async def infill_load(args):
    prefix = editor_file(110) + "def summarize(values):\n    total = "
    suffix = "\n    return total\n\n" + editor_file(40)
    times = []
    for typed in ("", "sum("):
        body = {
            "input_prefix": prefix + typed,
            "input_suffix": suffix,
            "input_extra": [],
            "n_predict": 64,
            "temperature": 0,
            "stream": False,
            "cache_prompt": True,
            "samplers": ["top_k", "top_p", "infill"],
        }
        answer = {}

        def on_event(data):
            answer.update(json.loads(data))

        sent = time.monotonic()
        status = await request(args.url, "/infill", body, args.api_key, args.timeout, on_event)
        times.append({
            "status": status,
            "seconds": round(time.monotonic() - sent, 3),
            "prompt_tokens": answer.get("timings", {}).get("prompt_n"),
            "predicted": answer.get("tokens_predicted"),
        })
    return {"infill": times}


def peak_rss_mib(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--model", help="the model field of each request (default: none, the served model)")
    parser.add_argument("--api-key")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--pid", type=int, help="the server's pid, for its peak RSS")
    parser.add_argument("--infill", action="store_true")
    parser.add_argument("--prompts", choices=["tasks", "humaneval"], default="tasks")
    parser.add_argument("--offset", type=int, default=0,
                        help="request i takes HumanEval prompt offset + i (fresh prompts for a server that has seen the first ones)")
    parser.add_argument("--route", choices=["chat", "completions"], default="chat")
    parser.add_argument("--summarize", metavar="DIR")
    args = parser.parse_args()
    if args.summarize:
        print(json.dumps(summarize(args.summarize), indent=1), flush=True)
        return
    if args.requests is None:
        args.requests = 3 * args.concurrency
    args.prompt_list = humaneval_prompts() if args.prompts == "humaneval" else None
    report = asyncio.run(infill_load(args) if args.infill else chat_load(args))
    report["peak_rss_mib"] = peak_rss_mib(args.pid)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
