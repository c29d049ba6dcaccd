"""Generator tokens/s on this machine: the embedded model sampled by transformers in process vs served by llama.cpp,
same prompts, same sampling, one run (issue 8).

    python bench/generators.py [--prompts 8] [--max-tokens 128] [--json]

Each backend answers the same chat requests (GSM8K-style "write a problem" and "solve" prompts) from a cold request
cache; completion tokens are counted with the model's tokenizer on the returned text, and tokens/s is completion
tokens over wall time (server start-up and model load excluded, measured apart).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["PRISM_HOME"] = tempfile.mkdtemp(prefix="prism-gens-")
    from core.data.store import Store
    from core.features.models import load_model
    from core.synthesis.answers import SOLVE_PROMPT
    from core.synthesis.embedded import EmbeddedGenerator
    from core.synthesis.generators import Request
    from core.synthesis.local_server import LocalGenerator

    rows = [json.loads(line) for line in open(SHARED / "gsm8k_test.jsonl")][: args.prompts]
    requests = [Request((("user", SOLVE_PROMPT.format(problem=r["question"])),), 0.75, 0.95, args.max_tokens, i)
                for i, r in enumerate(rows)]
    tok = load_model().tokenizer
    result = {"prompts": len(requests), "max_tokens": args.max_tokens}
    with Store() as store:
        for name, make in (("transformers", lambda: EmbeddedGenerator(store)),
                           ("llama_cpp", lambda: LocalGenerator(store))):
            gen = make()
            start = time.perf_counter()
            if name == "llama_cpp":
                gen._ensure()  # server start-up, apart
            else:
                load_model()
            ready = time.perf_counter() - start
            start = time.perf_counter()
            out = gen.generate(requests)
            took = time.perf_counter() - start
            getattr(gen, "close", lambda: None)()
            tokens = sum(len(tok(o.text or "", add_special_tokens=False)["input_ids"]) for o in out)
            result[name] = {"seconds": round(took, 2), "completion_tokens": tokens,
                            "tokens_per_s": round(tokens / took, 1), "startup_s": round(ready, 2)}
            print(f"{name}: {tokens} tokens in {took:.1f}s = {tokens / took:.1f} tok/s (start-up {ready:.1f}s)",
                  file=sys.stderr, flush=True)
    result["llama_cpp_speedup"] = round(result["llama_cpp"]["tokens_per_s"] / result["transformers"]["tokens_per_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
