"""Hostile storage cases (issue 17) through the real CLI: what the product deletes, overwrites, leaks or leaves stale.

    python bench/hostile_storage.py [--json] [--keep DIR]

Each case is a dict (case, kind, ok, lost, leaked, stale, detail); kinds:
- export-target: `export --out` at a symlink (to a file, to /dev/stdout), a fifo, a folder, the workspace's DuckDB
  file or its WAL is refused (exit 2, one `error:` line), nothing replaced; a regular file is overwritten. (No device
  node is named: a regressed product would replace /dev/null here.)
- temp-cleanup: other programs' `.tmp-*` entries (old files, folders, symlinks) survive an export into their folder
  and a workspace open; the product's own dead temp file / folder is removed.
- hostile-vectors: `import-vectors` of int/nested JSON ids, a .npy of strings or complex values, a header claiming
  10^12 rows, 200,000 dims, a 20 x 32768 Parquet, a NaN row: exit 2, one `error:` line, nothing stored (DuckDB read
  directly); vectors of 1e20s score the G-Vendi of their directions.
- like-escape: `f:y`'s set is not `f`'s, `eX`'s is not `e_`'s; sets `d`/`x:s` and `d:x`/`s` both live.
- replace-exclusions: after `ingest --replace` drops marked ids no mark is stale, undo works, the report counts them.
lost: user files or feature sets deleted/overwritten; leaked: temp files, half-written feature configs/tables, a set
seen by another dataset; stale: marks left on ids that went.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/: the hostile vector files are the tests' own
N = 24


def case(name: str, kind: str, ok: bool, lost: int = 0, leaked: int = 0, stale: int = 0, detail: str = "") -> dict:
    return {"case": name, "kind": kind, "ok": bool(ok), "lost": lost, "leaked": leaked, "stale": stale,
            "detail": detail[-300:]}


def fresh(workdir: Path, name: str) -> Path:
    shutil.rmtree(workdir / name, ignore_errors=True)
    (workdir / name / "ws").mkdir(parents=True)
    return workdir / name


def cli(ws: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PRISM_HOME=str(ws), PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    env.pop("PRISM_MODELS", None)
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


def dataset(ws: Path, name: str, ids: list[str], path: Path, *, args=()) -> subprocess.CompletedProcess:
    path.write_text("".join(json.dumps({"id": i, "prompt": f"question {i}: what is {k} + {k}?", "response": f"{2 * k}"})
                            + "\n" for k, i in enumerate(ids)))
    res = cli(ws, "ingest", path, "--name", name, *args)
    assert res.returncode == 0, res.stderr
    return res


def refused(res: subprocess.CompletedProcess) -> bool:
    err = res.stderr.strip()
    return res.returncode == 2 and err.startswith("error: ") and len(err.splitlines()) == 1


def said(res: subprocess.CompletedProcess) -> str:
    return f"rc={res.returncode} " + (res.stderr.strip().splitlines() or [""])[-1]


def stored(ws: Path) -> int:
    """Feature configs, feature tables and imported-set names in the workspace (read-only, after the CLI exited)."""
    import duckdb

    with duckdb.connect(str(ws / "prism.duckdb"), read_only=True) as con:
        return con.execute("SELECT (SELECT count(*) FROM feature_configs) + (SELECT count(*) FROM kv_cache WHERE "
                           "starts_with(key, 'imported:')) + (SELECT count(*) FROM information_schema.tables WHERE "
                           "starts_with(table_name, 'features_d'))").fetchall()[0][0]


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-prism")) if folder.is_dir() else []


def dead_pid() -> str:
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()


def export_targets(workdir: Path) -> list[dict]:
    base = fresh(workdir, "export")
    ws, out = base / "ws", base / "out"
    out.mkdir()
    dataset(ws, "m", [f"r{i}" for i in range(N)], base / "rows.jsonl")
    victim = out / "victim.txt"
    victim.write_bytes(b"precious")
    (out / "to-victim.jsonl").symlink_to(victim)
    (out / "to-stdout.jsonl").symlink_to("/dev/stdout")
    os.mkfifo(out / "pipe.jsonl")
    (out / "folder.jsonl").mkdir()
    (out / "folder.jsonl" / "inside.txt").write_bytes(b"kept")
    wal = ws / "prism.duckdb.wal"
    checks = {
        "symlink to a file": (out / "to-victim.jsonl",
                              lambda: (out / "to-victim.jsonl").is_symlink() and victim.read_bytes() == b"precious"),
        "symlink to /dev/stdout": (out / "to-stdout.jsonl", lambda: (out / "to-stdout.jsonl").is_symlink()),
        "fifo": (out / "pipe.jsonl", lambda: not (out / "pipe.jsonl").is_file()),
        "folder": (out / "folder.jsonl", lambda: (out / "folder.jsonl" / "inside.txt").read_bytes() == b"kept"),
        "workspace prism.duckdb": (ws / "prism.duckdb", lambda: '"m"' in cli(ws, "datasets", "--json").stdout),
        "workspace prism.duckdb.wal": (wal, lambda: not wal.is_file() or not wal.read_bytes().startswith(b'{"id"')),
    }
    cases = []
    for name, (target, intact) in checks.items():
        res = cli(ws, "export", "m", "--out", target)
        whole, leaked = intact(), len(temps(target.parent))
        cases.append(case(f"export --out {name}", "export-target", refused(res) and whole and not leaked,
                          lost=int(not whole), leaked=leaked, detail=said(res)))
    mine = out / "mine.jsonl"
    mine.write_text("old\n")
    res = cli(ws, "export", "m", "--out", mine)
    rows = len(mine.read_text().splitlines()) if mine.is_file() and not mine.is_symlink() else -1
    cases.append(case("export --out an existing regular file (allowed)", "export-target",
                      res.returncode == 0 and rows == N, leaked=len(temps(out)), detail=f"{said(res)}; {rows} rows"))
    return cases


def foreign(folder: Path, pid: int) -> list[Path]:
    """Entries named like temp files that are not provably the product's: all must survive."""
    folder.mkdir(parents=True, exist_ok=True)
    old = time.time() - 7200
    made = [folder / ".tmp-editor-swap", folder / ".tmp-prism-notapid", folder / f".tmp-prism-{pid}-not-exact"]
    for path in made:
        path.write_bytes(b"someone else's")
    made.append(folder / ".tmp-photos")
    made[-1].mkdir()
    (made[-1] / "holiday.jpg").write_bytes(b"jpeg")
    made.append(folder / f".tmp-prism-{pid}-abcd_123")  # the file pattern, but a folder
    made[-1].mkdir()
    victim = folder.parent / f"victim-of-{folder.name}.txt"
    victim.write_bytes(b"precious")
    made.append(folder / f".tmp-prism-{pid}-zzzzzzzz")  # the file pattern, but a symlink
    made[-1].symlink_to(victim)
    made.append(victim)
    for path in made:
        os.utime(path, (old, old), follow_symlinks=False)
    return made


def temp_cleanup(workdir: Path) -> list[dict]:
    base = fresh(workdir, "temp")
    ws, out = base / "ws", base / "exports"
    dataset(ws, "m", [f"r{i}" for i in range(N)], base / "rows.jsonl")
    pid = dead_pid()
    cases = []
    keep = foreign(out, pid)
    ours = out / f".tmp-prism-{pid}-q8w7e6r5"
    ours.write_bytes(b'{"id": "half')
    res = cli(ws, "export", "m", "--out", out / "grown.jsonl")
    lost = [p.name for p in keep if not os.path.lexists(p)]
    cases.append(case("export into a folder holding other programs' .tmp-* entries", "temp-cleanup",
                      res.returncode == 0 and not lost and not ours.exists(), lost=len(lost),
                      leaked=int(ours.exists()), detail=f"{said(res)}; deleted: {lost}"))
    keep = foreign(ws / "uploads", pid) + foreign(ws / "models", pid)
    own = [ws / "uploads" / f".tmp-prism-{pid}-k3j_9xq2", ws / "models" / f".tmp-prismdir-{pid}-a1b2c3d4"]
    own[0].write_bytes(b"half an upload")
    own[1].mkdir()
    (own[1] / "model.safetensors").write_bytes(bytes(100))
    res = cli(ws, "datasets")
    lost = [str(p.relative_to(ws)) for p in keep if not os.path.lexists(p)]
    left = [p.name for p in own if p.exists()]
    cases.append(case("workspace open with other programs' .tmp-* entries", "temp-cleanup",
                      res.returncode == 0 and not lost and not left, lost=len(lost), leaked=len(left),
                      detail=f"{said(res)}; deleted: {lost}; left: {left}"))
    return cases


def g_vendi(X: np.ndarray) -> float:
    X = np.asarray(X, np.float64)
    X = X / np.abs(X).max(axis=1, keepdims=True)
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    lam = np.linalg.eigvalsh(X.T @ X / len(X))
    lam = lam[lam > 1e-12] / lam[lam > 1e-12].sum()
    return float(np.exp(-np.sum(lam * np.log(lam))))


def hostile_vectors(workdir: Path) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.features.test_imported_hostile import hostile_files

    base = fresh(workdir, "vectors")
    ws, f = base / "ws", base / "files"
    f.mkdir()
    ids = [f"r{i}" for i in range(N)]
    dataset(ws, "mix", ids, base / "rows.jsonl")
    files = hostile_files(f, ids)  # the tests' hostile vector files (tests/features/test_imported_hostile.py)
    X = np.load(f / "good.npy")
    bad = X.copy()
    bad[5, 2] = np.nan
    pq.write_table(pa.table({"id": ids, "emb": list(bad)}), f / "nan.parquet")
    attempts = {name: args for name, (args, _) in files.items()}
    attempts["a NaN row"] = ["nan.parquet"]
    cases = []
    for name, args in attempts.items():
        res = cli(ws, "import-vectors", "mix", *[f / a if "." in a else a for a in args], "--set", "s")
        left = stored(ws)
        cases.append(case(f"import-vectors: {name}", "hostile-vectors", refused(res) and not left, leaked=left,
                          detail=said(res)))
    pq.write_table(pa.table({"id": ids, "emb": list(X * np.float32(1e20))}), f / "big.parquet")
    res = cli(ws, "import-vectors", "mix", f / "big.parquet", "--set", "big")
    score = cli(ws, "score", "mix", "--features", "big", "--json")
    got = json.loads(score.stdout)["g_vendi"] if score.returncode == 0 else float("nan")
    want = g_vendi(X)
    cases.append(case("vectors of 1e20: G-Vendi of their directions", "hostile-vectors",
                      res.returncode == 0 and abs(got - want) <= 1e-4 * want,
                      detail=f"{said(res)}; g_vendi {got:.4f}, want {want:.4f}"))
    return cases


def like_escape(workdir: Path) -> list[dict]:
    base = fresh(workdir, "like")
    ws = base / "ws"
    ids = [f"r{i}" for i in range(N)]
    for name in ("d", "d:x", "e_", "eX", "f", "f:y"):
        dataset(ws, name, ids, base / f"rows-{name}.jsonl")
    (base / "ids.txt").write_text("\n".join(ids))
    for k, (ds, name) in enumerate((("d:x", "s"), ("d", "x:s"), ("eX", "t"), ("f:y", "s"))):
        np.save(base / f"v{k}.npy", np.random.default_rng(k).normal(size=(N, 4 + k)).astype(np.float32))
        res = cli(ws, "import-vectors", ds, base / f"v{k}.npy", "--ids", base / "ids.txt", "--set", name)
        assert res.returncode == 0, res.stderr
    cases = []
    for ds, name, owner in (("f", "s", "f:y"), ("e_", "t", "eX")):
        res = cli(ws, "score", ds, "--features", name, "--json")
        cases.append(case(f"set {name!r} of {owner!r} seen from {ds!r}", "like-escape", res.returncode == 2,
                          leaked=int(res.returncode == 0), detail=said(res)))
    both = [cli(ws, "score", ds, "--features", name, "--json") for ds, name in (("d:x", "s"), ("d", "x:s"))]
    alive = sum(res.returncode == 0 for res in both)
    cases.append(case("sets d:x/'s' and d/'x:s' both live", "like-escape", alive == 2, lost=2 - alive,
                      detail="; ".join(said(res) for res in both)))
    return cases


def replace_exclusions(workdir: Path) -> list[dict]:
    base = fresh(workdir, "replace")
    ws = base / "ws"
    ids = [f"r{i}" for i in range(N)]
    dataset(ws, "m", ids, base / "rows.jsonl")
    excl = json.loads(cli(ws, "tag", "m", "--ids", ",".join(ids[:4]), "--exclude", "--json").stdout)
    cli(ws, "tag", "m", "--ids", f"{ids[4]},{ids[5]}", "--tag", "hard", "--json")
    gone = {ids[1], ids[2], ids[5], ids[20]}
    res = dataset(ws, "m", [i for i in ids if i not in gone], base / "v2.jsonl", args=("--replace", "--json"))
    report = json.loads(res.stdout).get("replaced") if res.returncode == 0 else None
    probe = json.loads(cli(ws, "tag", "m", "--ids", ids[3], "--tag", "probe", "--json").stdout)
    stale = probe["excluded"] - 2  # r0 and r3 remain excluded
    cases = [case("exclusions after ingest --replace", "replace-exclusions", stale == 0, stale=stale,
                  detail=f"{probe['excluded']} excluded, want 2"),
             case("ingest --replace reports the ids that went", "replace-exclusions",
                  bool(report) and report.get("ids_gone") == 4 and report.get("exclusions_dropped") == 2
                  and report.get("tags_dropped") == 1, detail=f"{said(res)}; replaced={report}")]
    undo = cli(ws, "tag", "m", "--undo", excl["action_id"], "--json")
    after = json.loads(undo.stdout)["excluded"] if undo.returncode == 0 else None
    cases.append(case("undo of an exclusion after ingest --replace", "replace-exclusions",
                      undo.returncode == 0 and after == 0, stale=int(after != 0), detail=f"{said(undo)}; {after}"))
    return cases


def run_cases(workdir: Path) -> list[dict]:
    out = []
    for step in (export_targets, temp_cleanup, hostile_vectors, like_escape, replace_exclusions):
        try:
            out += step(Path(workdir))
        except Exception as exc:  # a step that cannot even run is a failed case, not a crashed benchmark
            out.append(case(step.__name__, "error", False, detail=f"{type(exc).__name__}: {exc}"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", help="work in this folder and keep it")
    args = parser.parse_args()
    started = time.perf_counter()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="hostile-storage-"))
    try:
        cases = run_cases(workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = [c["case"] for c in cases if not c["ok"]]
    summary = {"bench": "hostile_storage", "cases": len(cases), "ok": len(cases) - len(failed), "failed": failed,
               **{k: sum(c[k] for c in cases) for k in ("lost", "leaked", "stale")},
               "seconds": round(time.perf_counter() - started, 1), "results": cases}
    if args.json:
        print(json.dumps(summary))
    else:
        for c in cases:
            print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['kind']:<19} {c['case']:<58} lost={c['lost']} "
                  f"leaked={c['leaked']} stale={c['stale']}  {c['detail']}")
        print(f"{summary['ok']}/{summary['cases']} ok; lost {summary['lost']}, leaked {summary['leaked']}, stale "
              f"{summary['stale']} ({summary['seconds']} s)")
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
