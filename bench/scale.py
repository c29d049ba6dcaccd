"""Featurising the same 256 GSM8K rows in process, with Ray and 1 worker, and with Ray and 2 workers (issue 7).

    python bench/scale.py [--n 256] [--json]

Each run is the real CLI (`python -m core features NAME [--engine ray --workers W]`) in a fresh workspace, timed
from launch to exit: model load, Ray start-up and actor start-up count, as they do for a user. The de-quantised model
cache is shared and warmed first. overhead_ratio = ray1_s / local_s (target <= 1.15), speedup_2 = ray1_s / ray2_s.
On a 2-core machine two workers share the cores a single process already uses with two threads: speedup_2 measures
Ray's parallel overhead here, not what more machines buy.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def run(env: dict, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "core", *args], env=env, capture_output=True, text=True,
                         timeout=3600)
    took = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return took, json.loads(res.stdout.strip().splitlines()[-1]) if "--json" in args else {}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="prism-scale-"))
    rows = [json.loads(line) for line in open(SHARED / "gsm8k_test.jsonl")][: args.n]
    data = tmp / "gsm8k.jsonl"
    data.write_text("".join(json.dumps({"question": r["question"], "answer": r["answer"]}) + "\n" for r in rows))
    base = dict(os.environ, PYTHONPATH=str(ROOT), PRISM_MODELS=str(tmp / "models"), HF_HUB_OFFLINE="1")
    warm = dict(base, PRISM_HOME=str(tmp / "warm"))
    run(warm, "ingest", str(data.parent / "gsm8k.jsonl"), "--name", "w")
    subprocess.run([sys.executable, "-c", "from core.features.models import load_model; load_model()"], env=warm,
                   check=True, capture_output=True)  # de-quantise once, outside the timings
    result = {"n": args.n}
    for label, extra in (("local", []), ("ray1", ["--engine", "ray", "--workers", "1"]),
                         ("ray2", ["--engine", "ray", "--workers", "2"])):
        env = dict(base, PRISM_HOME=str(tmp / label))
        run(env, "ingest", str(data), "--name", "g")
        took, out = run(env, "features", "g", "--json", *extra)
        assert out["computed"] == args.n, out
        result[f"{label}_s"] = round(took, 2)
        print(f"{label}: {took:.1f}s", file=sys.stderr, flush=True)
    result["overhead_ratio"] = round(result["ray1_s"] / result["local_s"], 3)
    result["speedup_2"] = round(result["ray1_s"] / result["ray2_s"], 3)
    result["cpus"] = os.cpu_count()
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
