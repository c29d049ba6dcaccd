"""Hostile input and output cases (issue 17, holes 3, 4, 9 and 10) through the real CLI.

    python bench/hostile_io.py [--json] [--keep DIR]

Each case is a dict (case, kind, ok, leaked, lost, detail); kinds:
- echoed-secret: `synthesize` against tests/openai_stub.py in its echo_key mode (every good reply repeats the
  Authorization header and the bare key inside its problems and answers). leaked = cells of any text column of any
  table of the DuckDB file holding the key, plus workspace files, plus stdout/stderr of the command. `synthesize`
  featurises its candidates with a light feature config (bench/faults.py's LIGHT: top block, 64-wide sketches, 32
  tokens); every other line of the command is the product's.
- regex-bomb: `search --regex '(a|a)+c|!'` on a 35-character row must answer within its timeout with the right
  offset (a backtracking engine takes ~2^34 steps); a 1,001-character pattern is refused.
- cli-error: bad numbers (`search --limit -1`, `map --k -1`, `score --q nan`, `synthesize --concurrency 0`, ...) and
  a database error (PRISM_DUCKDB_MEMORY=bogus / 1KB) must exit 2 with one `error:` line, no traceback; lost = tables
  whose row count changed plus workspace files added or removed by the refused command.
- ids: an id holding a comma is tagged whole (--id, --ids-file); `tag other --undo <t's action>` is refused (exit 2)
  and t's exclusion stays; lost = marks wrongly changed.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "sk-hostile-io-SECRET-5f0c9e2d7a1b"
LIGHT = ["--fast-blocks", "1", "--sketch-dim", "64", "--dim", "64", "--max-length", "32"]
LIGHT_FIELDS = {"fast_blocks": 1, "sketch_dim": 64, "dim": 64, "max_length": 32}
LIGHT_DRIVER = f"""
import sys
import core.features.compute as compute
_default = compute.feature_config
compute.feature_config = lambda **kw: _default(**{{**{LIGHT_FIELDS!r}, **kw}})
from core.cli import main
sys.exit(main(sys.argv[1:]))
"""
BOMB, BOMB_ROW = "(a|a)+c|!", "a" * 34 + "!"
ENDPOINT = ["--generator", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
BAD = [("search --limit -1", ["search", "mix", "apples", "--limit", "-1"], {}),
       ("search --limit 0", ["search", "mix", "apples", "--limit", "0"], {}),
       ("map --k -1", ["map", "mix", "--k", "-1", *LIGHT], {}),
       ("similar --k -1", ["similar", "mix", "g0", "--k", "-1", *LIGHT], {}),
       ("select --budget -3", ["select", "mix", "--budget", "-3", *LIGHT], {}),
       ("score --q nan", ["score", "mix", "--q", "nan", "--json", *LIGHT], {}),
       ("score --q -1", ["score", "mix", "--q", "-1", *LIGHT], {}),
       ("dedup --threshold nan", ["dedup", "mix", "--threshold", "nan", *LIGHT], {}),
       ("features --batch-size 0", ["features", "mix", "--batch-size", "0", *LIGHT], {}),
       ("map --seed -1", ["map", "mix", "--seed", "-1", *LIGHT], {}),
       ("synthesize --concurrency 0", ["synthesize", "mix", *ENDPOINT, "--concurrency", "0"], {}),
       ("synthesize --timeout -1", ["synthesize", "mix", *ENDPOINT, "--timeout", "-1"], {}),
       ("PRISM_DUCKDB_MEMORY=bogus", ["search", "mix", "apples"], {"PRISM_DUCKDB_MEMORY": "bogus"}),
       ("PRISM_DUCKDB_MEMORY=1KB", ["search", "mix", "apples"], {"PRISM_DUCKDB_MEMORY": "1KB"})]


def case(name: str, kind: str, ok: bool, leaked: int = 0, lost: int = 0, detail: str = "") -> dict:
    return {"case": name, "kind": kind, "ok": bool(ok), "leaked": leaked, "lost": lost, "detail": detail[-300:]}


def env(ws: Path, **extra) -> dict:
    out = dict(os.environ, PRISM_HOME=str(ws), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out.pop("PRISM_DEBUG", None)
    return out | extra


def cli(ws: Path, *args, timeout: float = 120, light: bool = False, extra: dict | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real CLI (python -m core; with light=True the LIGHT driver around the same main) in workspace ws."""
    command = [sys.executable, *(["-c", LIGHT_DRIVER] if light else ["-m", "core"]), *map(str, args)]
    return subprocess.run(command, env=env(ws, **(extra or {})), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, input=stdin)


def one_error_line(res: subprocess.CompletedProcess) -> bool:
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    return res.returncode == 2 and "Traceback" not in res.stderr and len(lines) == 1 and lines[0].startswith("error:")


def db_state(ws: Path) -> tuple[dict, list[str]]:
    """Row counts of every table (DuckDB read directly, read-only) and the workspace's files."""
    import duckdb

    con = duckdb.connect(str(ws / "prism.duckdb"), read_only=True)
    try:
        tables = [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()
    return counts, sorted(str(p.relative_to(ws)) for p in ws.rglob("*") if not p.name.endswith(".wal"))


def text_cells_with(ws: Path, needle: str) -> list[str]:
    """'table.column' of every cell of a text-like column (VARCHAR, JSON, BLOB, lists, structs) holding needle."""
    import duckdb

    con = duckdb.connect(str(ws / "prism.duckdb"), read_only=True)
    try:
        found = []
        for table, column, kind in con.execute("SELECT table_name, column_name, data_type FROM "
                                               "information_schema.columns").fetchall():
            if any(t in kind.upper() for t in ("VARCHAR", "JSON", "BLOB", "[]", "STRUCT", "MAP")):
                n = con.execute(f'SELECT count(*) FROM "{table}" WHERE contains(CAST("{column}" AS VARCHAR), ?)',
                                [needle]).fetchone()[0]
                found += [f"{table}.{column}"] * n
        return found
    finally:
        con.close()


def seeded(workdir: Path, name: str) -> Path:
    ws = workdir / name
    res = cli(ws, "ingest", ROOT / "tests" / "fixtures" / "mixture_24.jsonl", "--name", "mix")
    if res.returncode != 0:
        raise RuntimeError(f"ingest failed: {res.stderr[-500:]}")
    return ws


def echoed_secret(workdir: Path) -> list[dict]:
    from tests.openai_stub import Stub

    ws = seeded(workdir, "echo")
    with Stub(api_key=SECRET, echo_key=True) as stub:
        res = cli(ws, "synthesize", "mix", "--generator", "openai", "--base-url", stub.url, "--model", "stub",
                  "--requests-per-round", "2", "--request-batch", "2", "--problems-per-request", "2",
                  "--solutions-per-problem", "2", "--json", light=True, timeout=900,
                  extra={"PRISM_API_KEY": SECRET, "PRISM_API_BASE_URL": stub.url})
        echoed = sum(SECRET in h for h in stub.state.auth_headers)
    cells = text_cells_with(ws, SECRET)
    files = [str(p.relative_to(ws)) for p in ws.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    leaks = cells + files + [name for name, text in (("stdout", res.stdout), ("stderr", res.stderr)) if SECRET in text]
    masked = text_cells_with(ws, "[redacted]")
    ok = res.returncode == 0 and echoed > 0 and not leaks and bool(masked)
    return [case("key echoed in 200 replies", "echoed-secret", ok, leaked=len(leaks), detail=(
        f"exit {res.returncode}; {echoed} requests carried the key and were echoed; {len(masked)} cells masked; "
        f"leaked in: {sorted(set(leaks)) or 'nowhere'}" + ("" if res.returncode == 0 else f"; {res.stderr[-200:]}")))]


def regex_bomb(workdir: Path) -> list[dict]:
    ws = workdir / "regex"
    rows = workdir / "bomb.jsonl"
    rows.write_text(json.dumps({"id": "bomb", "prompt": BOMB_ROW, "response": "fine"}) + "\n" +
                    json.dumps({"id": "money", "prompt": "It costs 30 dollars", "response": "ok"}) + "\n")
    cli(ws, "ingest", rows, "--name", "b")
    out = []
    for name, pattern, want in ((f"{BOMB} on a 35-char row", BOMB, [("bomb", 34)]),
                                (r"\d+ dollars", r"\d+ dollars", [("money", 9)])):
        try:
            res = cli(ws, "search", "b", pattern, "--regex", "--json", timeout=60)
            hits = [(h["id"], h["start"]) for h in json.loads(res.stdout)["hits"]] if res.returncode == 0 else None
            out.append(case(name, "regex-bomb", hits == want, detail=f"exit {res.returncode}; hits {hits}"))
        except subprocess.TimeoutExpired:
            out.append(case(name, "regex-bomb", False, detail="ran past its 60 s timeout"))
    res = cli(ws, "search", "b", "a" * 1001, "--regex")
    out.append(case("1,001-character regex", "regex-bomb", one_error_line(res), detail=res.stderr.strip()[-200:]))
    return out


def cli_errors(workdir: Path) -> list[dict]:
    ws = seeded(workdir, "errors")
    out = []
    for name, args, extra in BAD:
        before = db_state(ws)
        try:
            res = cli(ws, *args, extra=extra, timeout=300)
        except subprocess.TimeoutExpired:
            out.append(case(name, "cli-error", False, detail="ran past its 300 s timeout"))
            continue
        (rows, files), (rows0, files0) = db_state(ws), before
        lost = sum(rows.get(t) != rows0.get(t) for t in set(rows) | set(rows0)) + len(set(files) ^ set(files0))
        strict = True
        if res.stdout.strip():
            try:
                json.loads(res.stdout, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
            except ValueError:
                strict = False
        out.append(case(name, "cli-error", one_error_line(res) and strict and lost == 0, lost=lost,
                        detail=f"exit {res.returncode}: {(res.stderr.strip().splitlines() or [''])[-1]}"))
    return out


def ids(workdir: Path) -> list[dict]:
    ws = workdir / "ids"
    rows = workdir / "ids.jsonl"
    rows.write_text("".join(json.dumps({"id": i, "prompt": f"p{n}", "response": f"r{n}"}) + "\n"
                            for n, i in enumerate(["a,b", "c", "d"])))
    for name in ("t", "other"):
        cli(ws, "ingest", rows, "--name", name)
    out = []
    res = cli(ws, "tag", "t", "--id", "a,b", "--tag", "comma", "--json")
    changed = json.loads(res.stdout)["changed"] if res.returncode == 0 else 0
    out.append(case("--id 'a,b'", "ids", changed == 1, lost=1 - changed, detail=f"exit {res.returncode}; "
                    f"changed {changed}; {res.stderr.strip()[-150:]}"))
    res = cli(ws, "tag", "t", "--ids-file", "-", "--tag", "listed", "--json", stdin="a,b\nd\n")
    changed = json.loads(res.stdout)["changed"] if res.returncode == 0 else 0
    out.append(case("--ids-file with 'a,b'", "ids", changed == 2, lost=2 - changed,
                    detail=f"exit {res.returncode}; changed {changed}; {res.stderr.strip()[-150:]}"))
    res = cli(ws, "tag", "t", "--ids", "c", "--exclude", "--json")
    action = json.loads(res.stdout)["action_id"]
    res = cli(ws, "tag", "other", "--undo", action, "--json")
    still = cli(ws, "tag", "t", "--ids", "c", "--exclude", "--json")  # 0 changed: t's exclusion is still there
    kept = still.returncode == 0 and json.loads(still.stdout)["changed"] == 0
    out.append(case("undo t's action as 'other'", "ids", one_error_line(res) and kept, lost=0 if kept else 1,
                    detail=f"exit {res.returncode}: {res.stderr.strip()[-200:]}"))
    return out


def run_cases(workdir: Path) -> list[dict]:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for step, kind in ((regex_bomb, "regex-bomb"), (cli_errors, "cli-error"), (ids, "ids"),
                       (echoed_secret, "echoed-secret")):
        try:
            out += step(workdir)
        except Exception as exc:  # a broken step is a failed case, never a crashed bench
            out.append(case(step.__name__, kind, False, detail=f"{type(exc).__name__}: {exc}"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON line")
    ap.add_argument("--keep", help="folder for the workspaces (kept; default: a temporary folder, removed)")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        root = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="prism-hostile-io-")))
        cases = run_cases(root)
    summary = {"cases": len(cases), "ok": sum(c["ok"] for c in cases), "leaked": sum(c["leaked"] for c in cases),
               "lost": sum(c["lost"] for c in cases), "details": cases}
    if args.json:
        print(json.dumps(summary))
        return
    for c in cases:
        print(f"{'ok ' if c['ok'] else 'BAD'} {c['kind']:<14} {c['case']:<32} leaked {c['leaked']} lost {c['lost']}  "
              f"{c['detail']}")
    print(f"{summary['ok']}/{summary['cases']} ok, leaked {summary['leaked']}, lost {summary['lost']}")


if __name__ == "__main__":
    main()
