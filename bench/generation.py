"""Does the OpenAI-compatible client keep an endpoint busy? Requests/s against a local stub that answers after a
fixed delay, at concurrency 1, 8 and 64 (issue 7).

    python bench/generation.py [--delay 0.25] [--requests 256] [--json]

The stub (tests/openai_stub.py, 127.0.0.1, in its own process like a real server) stands in for vLLM/SGLang/llama.cpp:
it sleeps `delay` seconds per request, so an ideal client reaches concurrency / delay requests/s. Reported per concurrency: requests/s, that rate
as a share of the ideal (utilisation: how busy the client keeps the endpoint), and the most requests the stub saw in
flight at once. Every request is distinct (no cache hits), in a fresh workspace each time.
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


class StubProcess:
    """The stub in a child process (a real server does not share the client's interpreter); its stats by HTTP."""

    def __init__(self, delay: float):
        self.delay = delay

    def __enter__(self):
        import subprocess

        code = ("import sys, time, json; sys.path.insert(0, %r)\n"
                "from tests.openai_stub import Stub\n"
                "with Stub(delay=%r) as s:\n    print(s.url, flush=True)\n"
                "    for line in sys.stdin:\n        print(json.dumps({'max_inflight': s.state.max_inflight}), flush=True)\n"
                % (str(ROOT), self.delay))
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        url = self.proc.stdout.readline().strip()

        def stats():
            self.proc.stdin.write("stats\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())
        return url, stats

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay", type=float, default=0.25)
    ap.add_argument("--seconds", type=float, default=8.0, help="ideal seconds of work per setting")
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 64])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["PRISM_HOME"] = tempfile.mkdtemp(prefix="prism-gen-")
    from core.data.store import Store
    from core.synthesis.generators import Request
    from core.synthesis.openai_backend import OpenAIGenerator

    result = {"delay_s": args.delay}
    with Store() as store:
        for c in args.concurrency:
            n = max(8, int(c / args.delay * args.seconds))
            with StubProcess(args.delay) as (url, stats):
                gen = OpenAIGenerator(store, base_url=url, model=f"stub-c{c}", concurrency=c, timeout=30)
                reqs = [Request((("user", f"Solve {c}-{i}: what is {i} + {c}?"),), 0.7, 0.95, 32) for i in range(n)]
                start = time.perf_counter()
                out = gen.generate(reqs)
                took = time.perf_counter() - start
                peak = stats()["max_inflight"]
            assert all(r.text for r in out), [r.error for r in out if not r.text][:3]
            rps = n / took
            result[f"c{c}"] = {"n": n, "seconds": round(took, 2), "requests_per_s": round(rps, 2),
                               "utilisation": round(rps / (c / args.delay), 3), "max_in_flight": peak}
            print(f"concurrency {c:3}: {rps:7.1f} req/s ({result[f'c{c}']['utilisation']:.0%} of ideal), "
                  f"max in flight {peak}", file=sys.stderr, flush=True)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
