"""Peak RSS and time of `python -m core features` (issue 19), before and after, interleaved: bench/featurize.py --memory.

Each variant runs the real CLI in a fresh workspace on the same N GSM8K rows (ingested first, untimed), under
/usr/bin/time (peak RSS of the features process, wall seconds); variants alternate within each repeat and the medians
are reported with the ratios to `before`. Variants:
  before      the CLI of an older commit (a git worktree, --before-tree; default: none), its defaults
  after       this tree, its defaults (the token budget from the memory budget: at most 2 GiB on a CPU)
  after-4096  this tree with --max-batch-tokens 4096 (the old default batch size)
  pair        two `after` featurisers side by side, each on its own workspace: both peaks, and whether both finished
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def rows_file(n: int, folder: Path) -> Path:
    path = folder / f"gsm8k_{n}.jsonl"
    with open(SHARED / "gsm8k_test.jsonl") as src, open(path, "w") as out:
        for i, line in zip(range(n), src):
            r = json.loads(line)
            out.write(json.dumps({"id": f"g{i}", "prompt": r["question"], "response": r["answer"]}) + "\n")
    return path


def start(tree: Path, rows: Path, work: Path, extra: list[str]) -> tuple[subprocess.Popen, Path, float]:
    ws = Path(tempfile.mkdtemp(dir=work))
    env = dict(os.environ, PRISM_HOME=str(ws), PYTHONPATH=str(tree))
    python = str(ROOT / ".venv" / "bin" / "python")
    subprocess.run([python, "-m", "core", "ingest", str(rows), "--name", "d"], env=env, cwd=tree, check=True,
                   capture_output=True)
    stats = ws / "time.txt"
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M %e", "-o", str(stats), python, "-m", "core", "features",
                             "d", "--json", *extra], env=env, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return proc, stats, time.perf_counter()


def finish(proc, stats: Path) -> dict:
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"ok": False, "error": (err or out)[-400:]}
    kb, seconds = stats.read_text().split()[-2:]
    return {"ok": True, "peak_gb": round(int(kb) / 1024 ** 2, 3), "seconds": float(seconds)}


def run_memory(args, log) -> dict:
    work = Path(tempfile.mkdtemp(prefix="prism-featmem-"))
    rows = rows_file(args.n, work)
    variants = {"after": (ROOT, []), "after-4096": (ROOT, ["--max-batch-tokens", "4096"])}
    if args.before_tree:
        variants = {"before": (Path(args.before_tree), [])} | variants
    got: dict[str, list[dict]] = {name: [] for name in variants}
    for rep in range(args.repeats):
        order = list(variants) if rep % 2 == 0 else list(reversed(variants))
        for name in order:
            tree, extra = variants[name]
            res = finish(*start(tree, rows, work, extra)[:2])
            got[name].append(res)
            log(f"repeat {rep} {name}: {res}")
    pair = [start(ROOT, rows, work, []) for _ in range(2)]
    pair_res = [finish(p, s) for p, s, _ in pair]
    log(f"pair: {pair_res}")
    out = {"n": args.n, "repeats": args.repeats, "variants": {}}
    for name, runs in got.items():
        ok = [r for r in runs if r["ok"]]
        out["variants"][name] = {"ok": len(ok), "runs": len(runs),
                                 "peak_gb": statistics.median([r["peak_gb"] for r in ok]) if ok else None,
                                 "seconds": statistics.median([r["seconds"] for r in ok]) if ok else None,
                                 "errors": [r["error"] for r in runs if not r["ok"]][:1]}
    base = out["variants"].get("before")
    if base and base["peak_gb"]:
        for name, v in out["variants"].items():
            if v["peak_gb"]:
                v["peak_over_before"] = round(v["peak_gb"] / base["peak_gb"], 3)
                v["time_over_before"] = round(v["seconds"] / base["seconds"], 3)
    out["pair"] = {"both_ok": all(r["ok"] for r in pair_res), "peaks_gb": [r.get("peak_gb") for r in pair_res],
                   "seconds": [r.get("seconds") for r in pair_res]}
    return out


def report(res: dict) -> None:
    print(f"features on {res['n']} GSM8K rows, median of {res['repeats']} interleaved repeats")
    print(f"{'variant':12}{'peak GB':>9}{'seconds':>9}{'peak/before':>13}{'time/before':>13}")
    for name, v in res["variants"].items():
        print(f"{name:12}{v['peak_gb'] or 0:9.2f}{v['seconds'] or 0:9.1f}{v.get('peak_over_before', 0):13.2f}"
              f"{v.get('time_over_before', 0):13.2f}")
    p = res["pair"]
    print(f"two featurisers side by side: both finished {p['both_ok']}, peaks {p['peaks_gb']} GB")


if __name__ == "__main__":
    sys.exit("run it as: python bench/featurize.py --memory [--before-tree DIR] [--n 32] [--repeats 3] [--json]")
