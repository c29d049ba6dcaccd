"""Streaming ingest at scale: a generated GSM8K-like JSONL file through the real CLI, time and peak memory.

    python bench/ingest_scale.py [--rows 1000000] [--json] [--keep DIR]

Rows recombine GSM8K questions with the last two lines of other GSM8K solutions (unique pairs), so texts are
realistic and every row is distinct (~400 bytes a row). The ingest runs as `python -m core ingest FILE --json` in a
child process on a fresh workspace; its peak RSS is the child's own ru_maxrss (os.wait4). Prints one JSON line with --json:
{"rows", "file_mb", "seconds", "rows_per_s", "peak_rss_mb", ...}.
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
sys.path.insert(0, str(ROOT))
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k_train.jsonl"


def write_rows(path: Path, rows: int, source: Path = GSM8K) -> int:
    """Write `rows` distinct GSM8K-like JSONL rows; returns the file size in bytes."""
    base = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["question"] for r in base]
    tails = list(dict.fromkeys("\n".join(r["answer"].splitlines()[-2:]) for r in base))  # distinct endings
    if rows > len(questions) * len(tails):
        raise SystemExit(f"at most {len(questions) * len(tails)} distinct rows from {source}")
    with open(path, "w", encoding="utf-8") as fh:
        for k in range(rows):
            q, t = k % len(questions), (k % len(questions) + 1 + k // len(questions)) % len(tails)
            fh.write(json.dumps({"question": questions[q], "answer": tails[t], "source": "gsm8k-recombined"})
                     + "\n")
    return path.stat().st_size


def ingest_in_child(path: Path, workspace: Path) -> dict:
    env = dict(os.environ, PRISM_HOME=str(workspace), PYTHONPATH=str(ROOT))
    out_path, err_path = workspace.parent / "ingest.out", workspace.parent / "ingest.err"
    started = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "core", "ingest", str(path), "--name", "scale", "--json"],
                                env=env, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS, nothing else's
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"ingest failed ({proc.returncode}): {err_path.read_text()[-2000:]}")
    report = json.loads(out_path.read_text().strip().splitlines()[-1])
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "report": report}  # Linux: KiB


def count_rows(workspace: Path) -> int:
    """The rows the workspace stores for the dataset (read through the store, once the ingest has exited)."""
    from core.data.store import Store

    with Store(workspace / "prism.duckdb") as store:
        return store.count_rows("scale", view="all")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", help="folder for the generated file and workspace (default: a temporary one)")
    args = ap.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ingest-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"gsm8k_like_{args.rows}.jsonl"
    size = data.stat().st_size if data.exists() else write_rows(data, args.rows)
    workspace = folder / "ws"
    if (workspace / "prism.duckdb").exists():
        (workspace / "prism.duckdb").unlink()
    run = ingest_in_child(data, workspace)
    stored = count_rows(workspace)
    result = {"rows": args.rows, "file_mb": round(size / 1e6, 1), "seconds": round(run["seconds"], 1),
              "rows_per_s": round(args.rows / run["seconds"]), "peak_rss_mb": round(run["peak_rss_mb"]),
              "stored_rows": stored, "rejected_rows": run["report"]["rejected_rows"],
              "duplicates": run["report"]["duplicates"]}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.rows:,} rows ({result['file_mb']} MB) in {result['seconds']} s = {result['rows_per_s']:,} rows/s;"
              f" peak RSS {result['peak_rss_mb']} MB; {stored:,} rows stored")
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
