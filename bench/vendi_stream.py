"""G-Vendi of 1M x 1024 random unit rows streamed from the DuckDB store, vs the vendi-score package in memory.

    python bench/vendi_stream.py [--n 1000000] [--in-memory 100000 250000]

Each measurement runs in its own child process so its peak RSS is its own. The store is written once (not timed
into the result) under a temporary workspace.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIM = 1024


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def unit_rows(n: int, seed: int):
    import numpy as np

    X = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def write_store(n: int) -> dict:
    from core.config import FeatureConfig
    from core.data.ingest import IngestReport, Sample
    from core.data.store import Store

    cfg = FeatureConfig(model="random", model_revision="bench", dim=DIM)
    t = time.perf_counter()
    with Store() as store:
        if store.has_dataset("random"):
            return {"write_s": 0.0, "reused": True}
        samples = [Sample(f"r{i}", f"p{i}", "r", f"h{i:08d}", {}) for i in range(n)]
        store.save_dataset("random", IngestReport(samples, [], [], "bench"), source="bench")
        chunk = 50_000
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            store.write_features(cfg, [f"h{i:08d}" for i in range(start, stop)], unit_rows(stop - start, start))
    return {"write_s": time.perf_counter() - t}


def stream(n: int) -> dict:
    from core.config import FeatureConfig
    from core.analysis.diversity import streaming_vendi
    from core.data.store import Store

    cfg = FeatureConfig(model="random", model_revision="bench", dim=DIM)
    with Store() as store:
        base = rss_mib()
        t = time.perf_counter()
        score, rows = streaming_vendi(store.iter_feature_chunks("random", cfg.key(), DIM, chunk_rows=50_000), DIM)
        return {"n": rows, "g_vendi": score, "seconds": time.perf_counter() - t, "peak_rss_mib": rss_mib(),
                "rss_before_mib": base}


def in_memory(n: int, which: str) -> dict:
    X = unit_rows(n, 0)
    base = rss_mib()
    t = time.perf_counter()
    if which == "vendi-score":
        from vendi_score import vendi

        score = float(vendi.score_dual(X))
    else:
        from core.analysis.diversity import vendi_score

        score = vendi_score(X)
    return {"n": n, "g_vendi": score, "seconds": time.perf_counter() - t, "peak_rss_mib": rss_mib(),
            "rss_with_data_mib": base, "which": which}


def child(args) -> None:
    sys.path.insert(0, str(ROOT))
    kind, n = args.child, args.n
    out = {"write": lambda: write_store(n), "stream": lambda: stream(n),
           "vendi-score": lambda: in_memory(n, "vendi-score"), "ours": lambda: in_memory(n, "ours")}[kind]()
    print(json.dumps(out))


def run_child(kind: str, n: int, env: dict) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", kind, "--n", str(n)], env=env, capture_output=True,
                         text=True)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--in-memory", type=int, nargs="+", default=[100_000, 250_000])
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-vendi"))
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    env = dict(os.environ, PRISM_HOME=args.workspace)
    results = {"write": run_child("write", args.n, env)}
    print(f"store written: {results['write']}", flush=True)
    results["stream"] = run_child("stream", args.n, env)
    s = results["stream"]
    print(f"streamed from DuckDB: n={s.get('n')} G-Vendi {s.get('g_vendi', 0):.2f} in {s.get('seconds', 0):.1f}s, "
          f"peak RSS {s.get('peak_rss_mib', 0):.0f} MiB", flush=True)
    for n in args.in_memory:
        for which in ("vendi-score", "ours"):
            r = run_child(which, n, env)
            results[f"{which}-{n}"] = r
            print(f"{which:12} in memory n={n}: {r}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
