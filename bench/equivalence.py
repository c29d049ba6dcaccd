"""No behaviour change across a refactor: the same CLI commands on the same data, before and after, compared.

    python bench/equivalence.py --before-tree /tmp/eq_before [--json]

`--before-tree` is a git worktree of the commit to compare with (e.g. `git worktree add /tmp/eq_before c49153a`,
the last commit before issue 20's refactors). Each tree runs, in a fresh workspace of its own, the app's demo (300
GSM8K + SVAMP rows whose features ship in the repo: no featurisation, so the comparison is of everything downstream
of the features) and then every analysis the product offers on it: the map under each sparse rule and two k, select
(with and without the quality read), dedup, the quality read, the score, text search, more-like-this, an exclusion
with the score after it, and an export's bytes. Outputs are compared key by key: equal, or equal within 1e-6
relative for floats; wall-clock fields (seconds), file paths and creation times are left out; cache keys are
compared on their own (a key may change on purpose when its recipe's version does; the values under it may not).
Map positions are compared apart: a UMAP fit is chaotic in its input (a PCA coordinate 1 ulp different gives another,
equally good layout), so positions are compared by how many of each row's 10 nearest rows on the map stay the same,
read against the agreement of two fits of this tree that differ only in their seed. The result lists every command
with 'same' or the first differing paths.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORED = {"seconds", "created_at", "source", "path", "out", "workspace", "action_id"}  # action_id: a fresh id
LAYOUT = {"x", "y"}  # 2-D positions: compared by neighbourhoods (layout_agreement), not number by number
KEYS = {"map_key", "config_key"}
TOL = 1e-6


def commands(out_dir: Path) -> list[tuple[str, list[str]]]:
    return [
        ("demo", ["demo", "--json"]),
        ("map mass", ["map", "demo", "--json"]),
        ("map paper", ["map", "demo", "--rule", "paper", "--json"]),
        ("map density k10", ["map", "demo", "--rule", "density", "--k", "10", "--json"]),
        ("select 30", ["select", "demo", "--budget", "30", "--json"]),
        ("select 30 incl. suspect", ["select", "demo", "--budget", "30", "--include-suspect", "--json"]),
        ("select export", ["select", "demo", "--budget", "20", "--out", str(out_dir / "sel.jsonl"), "--json"]),
        ("dedup", ["dedup", "demo", "--json"]),
        ("dedup 0.8", ["dedup", "demo", "--threshold", "0.8", "--json"]),
        ("quality", ["quality", "demo", "--rows", "--json"]),
        ("score", ["score", "demo", "--json"]),
        ("search", ["search", "demo", "apples", "--json"]),
        ("search regex", ["search", "demo", r"\d+ apples", "--regex", "--json"]),
        ("similar", ["similar", "demo", "gsm8k-train-4482", "--k", "5", "--json"]),
        ("exclude", ["tag", "demo", "--exclude", "--ids", "gsm8k-train-4482,gsm8k-train-7439", "--json"]),
        ("score after exclude", ["score", "demo", "--json"]),
        ("map after exclude", ["map", "demo", "--json"]),
    ]


def run_tree(tree: Path, python: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="prism-eq-"))
    out_dir = work / "out"
    out_dir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(tree))
    results = {}
    for name, args in commands(out_dir):
        proc = subprocess.run([python, "-m", "core", "--workspace", str(work / "ws"), *args], cwd=tree, env=env,
                              capture_output=True, text=True)
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
        results[name] = {"rc": proc.returncode, "json": json.loads(line) if line else None,
                         "stderr": proc.stderr[-400:] if proc.returncode else ""}
    results["_workspace"] = str(work / "ws")
    sel = out_dir / "sel.jsonl"
    results["export bytes"] = {"rc": 0, "json": {"sha256": hashlib.sha256(sel.read_bytes()).hexdigest()
                                                 if sel.exists() else None}}
    return results


def diff(a, b, path: str = "") -> list[str]:
    """Paths where a and b differ (floats within TOL relative), wall-clock and path fields left out."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k in IGNORED or k in KEYS or k in LAYOUT:
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k} only {'after' if k in b else 'before'}")
                continue
            out += diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path} length {len(a)} vs {len(b)}"]
        return [d for x, y in zip(a, b) for d in diff(x, y, path + "[]")][:5]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and (
                a == b or math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)):
            return []
        return [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {str(a)[:60]!r} vs {str(b)[:60]!r}"]


def layout_agreement(a: dict, b: dict, k: int = 10) -> float | None:
    """Mean share of each row's k nearest rows on the 2-D map that are the same before and after (1 = the same
    neighbourhoods; a UMAP refit from the same rows with another seed is the scale of noise: see --noise)."""
    import numpy as np

    if not (isinstance(a, dict) and isinstance(b, dict) and a.get("rows") and b.get("rows")
            and "x" in a["rows"][0] and "x" in b["rows"][0]):
        return None
    xa = {r["id"]: (r["x"], r["y"]) for r in a["rows"]}
    xb = {r["id"]: (r["x"], r["y"]) for r in b["rows"]}
    ids = sorted(set(xa) & set(xb))
    if len(ids) <= k:
        return None
    A, B = np.array([xa[i] for i in ids]), np.array([xb[i] for i in ids])
    if np.array_equal(A, B):
        return 1.0

    def knn(P):
        d = ((P[:, None, :] - P[None, :, :]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.argsort(d, axis=1)[:, :k]

    na, nb = knn(A), knn(B)
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(na, nb)]))


def layout_noise(workspace: str, config_key: str, dim: int = 1024) -> float:
    """The same kept rows laid out by UMAP with seed 0 and seed 1 (this tree's code): the 10-NN agreement a refit
    shows with nothing changed but the random stream, i.e. the noise a layout comparison is read against."""
    import dataclasses

    sys.path.insert(0, str(ROOT))
    from core.analysis.layout import MapConfig, fit_layout
    from core.data.store import Store

    store = Store(Path(workspace) / "prism.duckdb")
    try:
        ids, X = store.load_features("demo", config_key, dim)
    finally:
        store.close()
    mc = MapConfig()
    xy0, xy1 = fit_layout(X, mc)[0], fit_layout(X, dataclasses.replace(mc, seed=1))[0]
    rows = lambda xy: {"rows": [{"id": i, "x": float(p[0]), "y": float(p[1])} for i, p in zip(ids, xy)]}
    return layout_agreement(rows(xy0), rows(xy1))


def key_changes(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [c for k in set(a) & set(b) for c in (
            [f"{path}/{k}"] if k in KEYS and a[k] != b[k] else key_changes(a[k], b[k], f"{path}/{k}"))]
    return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before-tree", required=True, help="a worktree of the commit to compare with")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    python = str(ROOT / ".venv" / "bin" / "python")
    before, after = run_tree(Path(args.before_tree).resolve(), python), run_tree(ROOT, python)
    rows = []
    ws = after.pop("_workspace")
    before.pop("_workspace")
    for name in after:
        b, a = before[name], after[name]
        if b["rc"] or a["rc"]:
            rows.append({"command": name, "same": False, "rc": [b["rc"], a["rc"]], "stderr": b["stderr"] or a["stderr"]})
            continue
        d = diff(b["json"], a["json"])
        rows.append({"command": name, "same": not d, "differences": d[:8],
                     "keys_changed": key_changes(b["json"], a["json"]),
                     "layout_agreement": layout_agreement(b["json"], a["json"])})
    noise = layout_noise(ws, after["demo"]["json"]["config_key"]) if after["demo"]["json"] else None
    res = {"before": str(args.before_tree), "commands": len(rows), "same": sum(r["same"] for r in rows),
           "layout_noise_seed0_vs_seed1": noise, "rows": rows}
    for r in rows:
        print(f"{r['command']:<26} {'same' if r['same'] else 'DIFFERENT'}"
              + (f"  keys changed: {r['keys_changed']}" if r.get("keys_changed") else "")
              + ("" if r.get("layout_agreement") in (None, 1.0) else f"  map: 10-NN agreement {r['layout_agreement']:.3f}")
              + ("" if r["same"] else f"  {r.get('differences') or r.get('stderr')}"), file=sys.stderr)
    print(f"{res['same']}/{res['commands']} commands give the same output (map positions compared apart); "
          f"a UMAP refit with another seed agrees on {noise:.3f} of 10-NN", file=sys.stderr)
    if args.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
