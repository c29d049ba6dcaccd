"""The Ray driver's peak memory against the dataset's size (issue 19): flat when the driver streams.

    python bench/ray_driver.py [--sizes 10000 100000] [--row-kb 20] [--workers 2] [--json]

Per size, in fresh workspaces under a temporary folder: a JSONL of N rows of ~row_kb KB of random words, ingested by
the real CLI, then a child process runs compute_features(engine="ray") on a real local Ray instance and reports its
own peak RSS (ru_maxrss). The workers answer hash-seeded unit vectors (PRISM_TEST_RAY_ECHO_WORKERS), so what is
measured is the driver: listing the missing rows, reading their text from DuckDB, handing it out, committing the
results. DuckDB's memory is bounded to 256 MB (PRISM_DUCKDB_MEMORY, as a user may bound it) so that its cache does not
hide the driver's own growth. Prints the peaks and their ratio (largest / smallest); tests/features/
test_ray_driver_memory.py runs the same at 1k and 10k rows.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import string
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DRIVER = """
import json, resource, sys
sys.path.insert(0, {root!r})
from core.data.store import Store
from core.features.compute import ComputeOptions, compute_features, feature_config
with Store() as store:
    config = feature_config()
    run = compute_features(store, "big", config,
                           options=ComputeOptions(engine="ray", workers={workers}, rows_per_task=500))
    written = store.feature_key_counts(config.dim)  # rows, distinct (config key, content hash): one config here
print(json.dumps({{"computed": run.computed, "written": list(written),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def _env(workspace: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRISM_")}
    return env | {"PRISM_HOME": str(workspace), "PYTHONPATH": str(ROOT), "PRISM_TEST_RAY_ECHO_WORKERS": "1",
                  "PRISM_DUCKDB_MEMORY": "256MB"}


def write_rows(path: Path, n: int, row_kb: int = 20) -> None:
    rng = random.Random(n)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(2000)]
    n_words = row_kb * 1024 // 6
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"prompt": f"question {i}: " + " ".join(rng.choices(words, k=20)),
                                 "response": " ".join(rng.choices(words, k=n_words))}) + "\n")


def driver_peak(workspace: Path, n: int, row_kb: int = 20, workers: int = 2) -> dict:
    """Ingest n rows into `workspace` and featurise them with echo workers; the driver's peak RSS and what it wrote."""
    workspace.mkdir(parents=True, exist_ok=True)
    path = workspace / f"rows{n}.jsonl"
    write_rows(path, n, row_kb)
    env = _env(workspace)
    res = subprocess.run([sys.executable, "-m", "core", "ingest", str(path), "--name", "big"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=3600)
    if res.returncode:
        raise RuntimeError(f"ingest failed: {res.stderr[-2000:]}")
    path.unlink()
    res = subprocess.run([sys.executable, "-c", DRIVER.format(root=str(ROOT), workers=workers)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=3600)
    if res.returncode:
        raise RuntimeError(f"driver failed: {res.stderr[-3000:]}")
    return {"n": n, "row_kb": row_kb, **json.loads(res.stdout.strip().splitlines()[-1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--row-kb", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="ray-driver-") as tmp:
        for n in args.sizes:
            runs.append(driver_peak(Path(tmp) / f"ws{n}", n, args.row_kb, args.workers))
            if not args.json:
                print(f"{n:>9,} rows of ~{args.row_kb} KB: driver peak {runs[-1]['peak_mb']:.0f} MB, "
                      f"wrote {runs[-1]['written']}", flush=True)
    out = {"runs": runs, "ratio": round(runs[-1]["peak_mb"] / runs[0]["peak_mb"], 3)}
    print(json.dumps(out) if args.json else f"peak ratio {args.sizes[-1]:,} / {args.sizes[0]:,} rows: {out['ratio']}")


if __name__ == "__main__":
    main()
