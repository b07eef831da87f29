"""Drive a running `crucible serve` with the official `openai` Python client.

Run by tests/openai.rs with OPENAI_BASE_URL and OPENAI_API_KEY set; prints one line per check
and exits non-zero at the first failure.
"""

import os
import sys

import openai
from openai import OpenAI


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def main():
    client = OpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"])

    models = client.models.list()
    ids = [m.id for m in models.data]
    check(len(ids) == 1, f"models.list lists one model: {ids}")
    model = ids[0]

    chat = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Write a Python function that adds two numbers."},
        ],
        max_tokens=24,
        temperature=0,
    )
    text = chat.choices[0].message.content
    check(chat.object == "chat.completion", "chat.completions.create answers a chat.completion")
    check(bool(text) and chat.choices[0].finish_reason in ("stop", "length"), f"chat text: {text!r}")
    check(chat.usage.completion_tokens > 0 and chat.usage.prompt_tokens > 0, f"chat usage: {chat.usage}")

    pieces = []
    usage = None
    finish = None
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Count from 1 to 5."}],
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    check(len(pieces) > 1, f"streamed chat arrives in pieces: {len(pieces)}")
    check(finish in ("stop", "length"), f"streamed finish_reason: {finish}")
    check(usage is not None and usage.completion_tokens > 0, f"streamed usage: {usage}")

    completion = client.completions.create(
        model=model, prompt="def fibonacci(n):\n", max_tokens=16, temperature=0
    )
    check(completion.object == "text_completion", "completions.create answers a text_completion")
    check(bool(completion.choices[0].text), f"completion text: {completion.choices[0].text!r}")

    infill = client.completions.create(
        model=model,
        prompt="def area(r):\n    return ",
        suffix="\n\nprint(area(2))\n",
        max_tokens=12,
        temperature=0,
    )
    check(bool(infill.choices[0].text), f"fill-in-the-middle text: {infill.choices[0].text!r}")

    try:
        client.chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": "x"}], max_tokens=4
        )
        check(False, "an unknown model is an error")
    except openai.NotFoundError as err:
        check("does not exist" in str(err), f"an unknown model is a NotFoundError: {err}")

    bad = OpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="wrong-key")
    try:
        bad.models.list()
        check(False, "a wrong key is refused")
    except openai.AuthenticationError:
        check(True, "a wrong key is an AuthenticationError")

    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
