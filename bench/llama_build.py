"""llama.cpp builds side by side: tokens/s of the embedded GGUF served by each build, same prompts, one run (issue 17).

    python bench/llama_build.py --build native=/path/to/venv-a/bin/python --build portable=.venv/bin/python \
        [--prompts 6] [--max-tokens 96] [--repeats 3] [--json]

Each --build names a Python interpreter whose environment has llama-cpp-python[server] installed (built one way or
another). Every build gets its own server (core/synthesis/llama_launch.py, the product's launcher), started once
(start-up timed apart); then the repeats interleave the builds (A, B, A, B, ...) so that a busy machine slows both
alike, and the median is reported. tokens/s = completion tokens (the server's own usage count) over the wall time of
the requests, sent one at a time, greedy (temperature 0), the same GSM8K "solve" prompts for every build.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
FIXTURE = ROOT / "tests" / "fixtures" / "gsm8k_8.jsonl"


def prompts(n: int) -> list[str]:
    from core.synthesis.answers import SOLVE_PROMPT

    path = SHARED / "gsm8k_test.jsonl" if (SHARED / "gsm8k_test.jsonl").exists() else FIXTURE
    rows = [json.loads(line) for line in open(path)][:n]
    return [SOLVE_PROMPT.format(problem=r.get("question") or r.get("prompt")) for r in rows]


def one_pass(client, texts: list[str], max_tokens: int) -> tuple[int, float]:
    tokens, start = 0, time.perf_counter()
    for text in texts:
        resp = client.chat.completions.create(model="local", temperature=0, max_tokens=max_tokens,
                                              messages=[{"role": "user", "content": text}])
        tokens += resp.usage.completion_tokens
    return tokens, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", action="append", required=True, help="LABEL=PYTHON (repeat for each build)")
    ap.add_argument("--prompts", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from openai import OpenAI

    from core.features.models import EMBEDDED_MODELS, _package_file
    from core.synthesis.local_server import LAUNCHER, LlamaServer

    gguf = _package_file(*EMBEDDED_MODELS["embedded:smollm2-135m-instruct"])
    texts = prompts(args.prompts)
    servers, clients, result = {}, {}, {"prompts": len(texts), "max_tokens": args.max_tokens,
                                        "repeats": args.repeats, "builds": {}}
    try:
        for spec in args.build:
            label, python = spec.split("=", 1)
            start = time.perf_counter()
            servers[label] = LlamaServer(gguf, command=[python, str(LAUNCHER)]).start()
            result["builds"][label] = {"python": python, "start_s": round(time.perf_counter() - start, 2),
                                       "runs": []}
            clients[label] = OpenAI(base_url=servers[label].url, api_key=servers[label].token, timeout=300)
            one_pass(clients[label], texts[:1], 8)  # warm-up
        for _ in range(args.repeats):
            for label, client in clients.items():
                tokens, seconds = one_pass(client, texts, args.max_tokens)
                result["builds"][label]["runs"].append({"tokens": tokens, "seconds": round(seconds, 3)})
    finally:
        for server in servers.values():
            server.stop()
    for label, b in result["builds"].items():
        b["tokens_per_s"] = round(statistics.median(r["tokens"] / r["seconds"] for r in b["runs"]), 1)
    labels = list(result["builds"])
    if len(labels) == 2:
        a, b = (result["builds"][x]["tokens_per_s"] for x in labels)
        result["ratio"] = {f"{labels[1]}/{labels[0]}": round(b / a, 3)}
    if args.json:
        print(json.dumps(result))
        return
    for label, b in result["builds"].items():
        print(f"{label:>10}: {b['tokens_per_s']:7.1f} tokens/s (median of {len(b['runs'])}), start {b['start_s']} s "
              f"[{b['python']}]")
    if "ratio" in result:
        print("ratio", result["ratio"])


if __name__ == "__main__":
    main()
