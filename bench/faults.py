"""Reliability benchmark: nothing lost, nothing stale, nothing poisoned.

    python bench/faults.py [--json] [--only corpus,ingest,features,map,synthesis,export,concurrency,hostile]
                           [--keep DIR] [--jobs 2] [--product-features]

1. Bad files: bench/fault_corpus.py's corpus through the real CLI (`bad_files`, `handled`).
2. kill -9 sweep: `ingest`, `features`, `map`, `synthesize` (against tests/openai_stub.py) and `export` are each
   killed with SIGKILL at several points (right after the n-th committed progress line, at each `stage` line, after a
   delay, once the report is printed, or when the export's temp file reaches a size), each in its own fresh
   workspace. After each kill the same command is run again to completion, and the workspace is read through the
   store (its tables' owners in core/data, and AuditReads; once the process exited) to count rows lost (expected rows
   missing: samples, feature rows per content hash, map rows per sample, candidates of an uninterrupted reference run
   and per request, export rows) and rows duplicated (rows less distinct primary keys per table, rows twice in an
   export, a half-ingested dataset).
   Exports must be absent/old or complete, with no temp file left after the next export; a resumed `features` run
   must compute only the missing rows (`recomputed_rows`); map artifacts must match their recorded sha256
   (`poisoned`).
3. Concurrency (in-process threads, released together by tests/helpers.py's hammer): two tabs starting the same job,
   identical requests to the endpoint, 8 writers of the same keys (`concurrency_failures`), and a dataset replaced
   under its cached scores, map and cluster summaries (`stale_results`).

4. Hostile cases (issue 17; bench/hostile_storage.py, hostile_io.py, hostile_server.py): kinds of hostile vector
   file, export targets (symlinks, devices, fifos, the workspace's own files), temp entries of other programs, LIKE
   wildcards in names, --replace under exclusions, API keys echoed in good replies, regex bombs, bad numbers and
   database errors, ids with commas, killed parents of the llama.cpp server, servers dying by SIGILL and someone
   else's server (`hostile_cases`, `hostile_ok`, `leaked`).

Prints one JSON line with --json (totals first, then per-step details), else a table. The proxy model runs on the
CPU, so the inputs are small (4 and 24 fixture rows, 100k generated rows for ingest/export) and features, map and
synthesis use a light feature config (top block, 64-wide sketches, 32 tokens); `--jobs` kill points run at once.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fault_corpus import build_corpus, run_corpus  # noqa: E402

from core.data.store import Store  # noqa: E402
from tests.helpers import LIGHT_FLAGS, cli_env, hammer, light_config, run_cli  # noqa: E402
from tests.helpers import cli_command  # noqa: E402  (the CLI's command line, light or not)

FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared" / "data"
# features and map run under the tests' light config (top block only, small sketches): the same code paths, ~2x faster
LIGHT = LIGHT_FLAGS
INGEST_ROWS = 100_000
SYNTH = ["--generator", "openai", "--model", "stub", "--rounds", "2", "--requests-per-round", "2",
         "--request-batch", "1", "--problems-per-request", "1", "--solutions-per-problem", "2", "--concurrency", "2",
         "--timeout", "30"]
# `synthesize` featurises its candidates with the product's default config (all blocks, 512-wide sketches: ~10 s a row
# on a busy 2-core CPU). The sweep runs the real CLI with that one default made light (tests/helpers.py's light
# driver, run_cli(..., light=True)); every other line of the command is the product's.
STEPS = ("corpus", "ingest", "features", "map", "synthesis", "export", "concurrency", "hostile")


class Bench:
    """Where the bench's workspaces live, and how the CLI is run in one of them."""

    def __init__(self, root: Path, models: Path, *, product_features: bool = False, jobs: int = 1):
        self.root = root
        self.jobs = jobs
        self.models = models
        self.product_features = product_features

    def env_extra(self) -> dict:
        """What the bench adds to the tests' CLI environment (cli_env): the shared model cache, offline."""
        return {"PRISM_MODELS": str(self.models), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

    def light(self, args) -> bool:
        return args[0] == "synthesize" and not self.product_features

    def command(self, args) -> list[str]:
        return cli_command(args, self.light(args))

    def cli(self, ws: Path, *args, timeout: float = 600) -> subprocess.CompletedProcess:
        return run_cli(ws, *args, env_extra=self.env_extra(), light=self.light(args), timeout=timeout)

    def cli_json(self, ws: Path, *args, timeout: float = 600) -> dict:
        res = self.cli(ws, *args, "--json", timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args[:2]))} exited {res.returncode}: {res.stderr[-800:]}")
        return json.loads(res.stdout.strip().splitlines()[-1])

    def popen(self, ws: Path, *args, stderr=subprocess.PIPE) -> subprocess.Popen:
        return subprocess.Popen(self.command(args), env=cli_env(ws, self.env_extra()), stdout=subprocess.DEVNULL,
                                stderr=stderr, text=True)

    def kill_after_line(self, ws: Path, args: list, match, nth: int, *, delay: float = 0.0, stdout: bool = False,
                        timeout: float = 600) -> dict:
        """Run the CLI; SIGKILL it right after the nth (0-based) stderr line (stdout line with stdout=True) for
        which match(line) holds, then `delay` seconds more. Returns where it was killed; killed=False when it ended
        before that point."""
        if stdout:
            proc = subprocess.Popen(self.command(args), env=cli_env(ws, self.env_extra()), stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        else:
            proc = self.popen(ws, *args)
        stream = proc.stdout if stdout else proc.stderr
        watchdog = threading.Timer(timeout, proc.kill)
        watchdog.start()
        seen, at = 0, None
        try:
            for line in stream:
                if match(line):
                    if seen == nth:
                        at = line.strip()[:100]
                        if delay:
                            time.sleep(delay)
                        proc.send_signal(signal.SIGKILL)
                        break
                    seen += 1
        finally:
            rc = proc.wait()
            watchdog.cancel()
            stream.close()
        return {"at": at + (f" +{delay:g}s" if delay else "") if at else None, "killed": rc == -signal.SIGKILL,
                "rc": rc}

    def fresh(self, template: Path | None, name: str) -> Path:
        """A fresh workspace: a copy of a prepared one (no process has it open), or an empty folder."""
        ws = self.root / name
        shutil.rmtree(ws, ignore_errors=True)
        if template is None:
            ws.mkdir(parents=True)
        else:
            shutil.copytree(template, ws)
        return ws


def open_store(ws: Path) -> Store:
    """The workspace's store, to read what a run left (only once the process that wrote it has exited: DuckDB allows
    one process). Opening it clears temp files of dead writers, so count those before."""
    return Store(ws / "prism.duckdb")


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".tmp-*")) if folder.exists() else []


def step_summary(points: list[dict]) -> dict:
    killed = [p for p in points if p.get("killed")]
    return {"kill_points": len(killed), "missed": len(points) - len(killed),
            "lost": sum(p.get("lost", 0) for p in points), "duplicated": sum(p.get("duplicated", 0) for p in points),
            **{k: sum(p.get(k, 0) for p in points) for k in ("poisoned", "temp_left", "recomputed", "errors")},
            "points": points}


# ---- 1. bad files ---------------------------------------------------------------------------------------------------

def step_corpus(bench: Bench) -> dict:
    cases = build_corpus(bench.root / "corpus")
    out = run_corpus(cases, jobs=2)
    return {"bad_files": out["bad_files"], "handled": out["handled"], "failures": out["failures"]}


# ---- 2. kill -9 sweep -----------------------------------------------------------------------------------------------

def write_ingest_file(path: Path, n: int = INGEST_ROWS) -> int:
    """n distinct rows: real GSM8K problems when ../shared/data has them (numbered, so each row is unique)."""
    base = []
    src = SHARED / "gsm8k_train.jsonl"
    if src.exists():
        with open(src, encoding="utf-8") as fh:
            base = [(r["question"], r["answer"]) for r in map(json.loads, fh)][:2000]
    base = base or [("What is 2 plus 3?", "2 + 3 = 5.\n#### 5")]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            q, a = base[i % len(base)]
            fh.write(json.dumps({"id": f"r{i}", "prompt": f"[{i}] {q}", "response": a, "source": "gsm8k"}) + "\n")
    return n


def sweep(bench: "Bench", point, specs: list, *, lost_if_failed: int = 0) -> list[dict]:
    """point(spec) for every kill point, `bench.jobs` at a time (each in its own workspace); a point that raises is
    reported as an error, not a crash of the bench."""
    def safe(spec):
        try:
            return point(spec)
        except Exception as exc:  # noqa: BLE001 - the point's failure is a result
            return {"kill": None, "killed": False, "errors": 1, "lost": lost_if_failed,
                    "error": f"{type(exc).__name__}: {exc}"[:400]}

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, bench.jobs)) as pool:
        return list(pool.map(safe, specs))


def step_ingest(bench: Bench) -> tuple[dict, Path]:
    src = bench.root / "ingest_big.jsonl"
    n = write_ingest_file(src)
    args = ["ingest", src, "--name", "big"]

    def point(spec):
        nth, delay = spec
        ws = bench.fresh(None, f"ingest-{nth}-{delay:g}")
        if nth == "report":  # the JSON report is out: committed, the process is closing the database
            kill = bench.kill_after_line(ws, [*args, "--json"], lambda l: l.startswith("{"), 0, delay=delay,
                                         stdout=True)
        else:
            kill = bench.kill_after_line(ws, args, lambda l: l.startswith("progress ingest"), nth, delay=delay)
        p = {"kill": kill["at"], "killed": kill["killed"], "workspace": ws}
        with open_store(ws) as store:  # whole or absent, never half
            listed = store.dataset_info("big")["n"] if store.has_dataset("big") else None
            present = store.count_rows("big", view="all")
        p["after_kill"] = ("absent" if listed is None and present == 0 else
                           "whole" if listed == present == n else "partial")
        half = present if p["after_kill"] == "partial" else 0
        res = bench.cli(ws, *args, "--json")
        p["errors"] = int(res.returncode != 0)
        with open_store(ws) as store:
            c = store.sample_counts("big")
            listed = store.dataset_info("big")["n"] if store.has_dataset("big") else None
            datasets = store.key_counts("datasets")
        p["rows"] = c.rows
        p["lost"] = max(0, n - c.prompts) + (0 if listed == c.rows else 1)
        p["duplicated"] = (c.rows - c.ids) + (c.rows - c.hashes) + datasets.duplicated + half
        return p

    # progress lines: 0 rows, then one per 20k-row batch written (5), the last just before the commit; during the
    # commit (fingerprint, datasets row, COMMIT); and once the report is printed (the database being closed)
    points = sweep(bench, point, [(0, 0.0), (1, 0.0), (3, 0.0), (5, 0.0), (5, 0.4), ("report", 0.0)],
                   lost_if_failed=n)
    whole = [p.pop("workspace") for p in points if "workspace" in p]
    return step_summary(points) | {"rows_in_file": n}, (whole[-1] if whole else None)


def feature_rows(ws: Path, dataset: str, dim: int) -> tuple[int, int, int]:
    """(content hashes of the dataset with a feature row, rows in the feature table, distinct keys in it)."""
    with open_store(ws) as store:
        return store.featured_hashes(dataset, dim), *store.feature_key_counts(dim)


def step_features(bench: Bench, template: Path) -> dict:
    args = ["features", "g4", *LIGHT, "--batch-size", "1"]
    n = 4

    def point(nth):
        ws = bench.fresh(template, f"features-{nth}")
        kill = bench.kill_after_line(ws, args, lambda l: l.startswith("progress features"), nth)
        p = {"kill": kill["at"], "killed": kill["killed"]}
        p["present_after_kill"], total, distinct = feature_rows(ws, "g4", 64)
        p["duplicated"] = total - distinct
        out = bench.cli_json(ws, *args)
        p["computed"], p["cached"] = out["computed"], out["cached"]
        # a resumed run computes exactly the missing rows and reuses the committed ones
        p["recomputed"] = max(0, out["computed"] - (n - p["present_after_kill"]))
        p["errors"] = int(out["cached"] != p["present_after_kill"] or out["n"] != n)
        present, total, distinct = feature_rows(ws, "g4", 64)
        p["lost"] = n - present
        p["duplicated"] += total - distinct
        return p

    # after 0/4 (model loaded, nothing committed), 1/4, 2/4, 3/4 and 4/4 (all committed, before the report)
    return step_summary(sweep(bench, point, list(range(5)), lost_if_failed=n))


def poisoned_maps(store: Store, served: str) -> tuple[int, int]:
    """(maps in the workspace: those with rows and the one just served; how many of them do not load). A map loads
    (gradient_map.load_cached) only when it is recorded and its clustering and layout artifacts are exactly the
    files whose sha256 was recorded (maps.py's load_artifact)."""
    from core.analysis.gradient_map import load_cached

    keys = set(store.map_keys()) | {served}
    return len(keys), sum(load_cached(store, key) is None for key in keys)


def step_map(bench: Bench, template: Path) -> dict:
    args = ["map", "mix", *LIGHT, "--json"]
    n = 24

    def point(spec):
        nth, delay = spec
        ws = bench.fresh(template, f"map-{nth}-{delay:g}")
        kill = bench.kill_after_line(ws, args, lambda l: l.startswith("stage "), nth, delay=delay)
        p = {"kill": kill["at"], "killed": kill["killed"]}
        res = bench.cli(ws, *args)
        if res.returncode != 0:
            return p | {"errors": 1, "error": res.stderr[-300:], "lost": n}
        out = json.loads(res.stdout.strip().splitlines()[-1])
        ids = [r["id"] for r in out["rows"]]
        p["temp_left"] = len(temp_files(ws))  # before the store opens (it clears a dead writer's temp files)
        with open_store(ws) as store:
            mapped = {str(i) for i in store.map_rows(out["map_key"])["sample_id"]}
            missing = len(set(store.sample_ids("mix")) - mapped)
            rows = store.key_counts("map_rows")
            p["maps"], p["poisoned"] = poisoned_maps(store, out["map_key"])
        p["lost"] = missing + max(0, n - len(set(ids)))
        p["duplicated"] = rows.duplicated + (len(ids) - len(set(ids)))
        return p

    # at each stage line (loading features, clustering, saving, done), and in the middle of the UMAP fit
    return step_summary(sweep(bench, point, [(0, 0.0), (1, 0.0), (2, 6.0), (3, 0.0), (4, 0.0)], lost_if_failed=n))


def candidates(ws: Path, dataset: str = "mix") -> tuple[dict, dict]:
    """((round, request, problem) -> reason) of the dataset's runs (the workspace holds one), and the tables' counts."""
    got, accepted, accepted_hashes, runs_done, rounds_done = {}, 0, [], 0, 0
    with open_store(ws) as store:
        for run in store.synth_runs_of(dataset):
            run_id = run["run_id"]
            frame = store.candidates_frame(run_id)
            for rnd, q, problem, reason in zip(frame["round"], frame["request_idx"], frame["problem_idx"],
                                               frame["reason"]):
                got[(int(rnd), int(q), int(problem))] = reason
            for rnd in sorted({int(r) for r in frame["round"]}):
                accepted_hashes += [h for h in store.accepted_hashes(run_id, rnd) if h is not None]
            accepted += store.accepted_count(run_id)
            runs_done += run["status"] == "done"
            rounds_done += len(store.done_rounds(run_id))
        cands, rounds, runs = (store.key_counts(t) for t in ("synth_candidates", "synth_rounds", "synth_runs"))
    counts = {"candidates": cands.rows, "candidates_distinct": cands.distinct,
              "accepted_dup": len(accepted_hashes) - len(set(accepted_hashes)), "accepted": accepted,
              "runs": runs.rows, "runs_done": runs_done, "rounds": rounds.rows, "rounds_distinct": rounds.distinct,
              "rounds_done": rounds_done}
    return got, counts


def quiet_stub(**kwargs):
    from tests.openai_stub import Stub

    stub = Stub(**kwargs)
    stub.server.handle_error = lambda *a: None  # a killed client's closed socket is expected here, not news
    return stub


def step_synthesis(bench: Bench, template: Path) -> dict:
    rounds, per_round, seeds = 2, 2, 24

    def point(spec):
        """One run against its own stub: uninterrupted (spec None, the reference), or killed and run again."""
        with quiet_stub(delay=0.05) as stub:
            args = ["synthesize", "mix", *SYNTH, "--base-url", stub.url]
            if spec is None:
                ws = bench.fresh(template, "synthesis-reference")
                out = bench.cli_json(ws, *args)
                got, c = candidates(ws)
                return {"status": out["status"], "got": got, "accepted": c["accepted"],
                        "endpoint_requests": len(stub.state.bodies)}
            nth, delay = spec
            ws = bench.fresh(template, f"synthesis-{nth}-{delay:g}")
            kill = bench.kill_after_line(ws, args, lambda l: l.startswith("progress synthesis"), nth, delay=delay)
            p = {"kill": kill["at"], "killed": kill["killed"], "candidates_after_kill": len(candidates(ws)[0])}
            out = bench.cli_json(ws, *args)
            p["endpoint_requests"] = len(stub.state.bodies)  # killed run + resumed run; uninterrupted: reference
        got, c = candidates(ws)
        p["got"] = got
        p["duplicated"] = ((c["candidates"] - c["candidates_distinct"]) + c["accepted_dup"]
                           + (c["rounds"] - c["rounds_distinct"]) + max(0, c["runs"] - 1))
        p["errors"] = int(out["status"] != "done" or c["runs_done"] != 1 or c["rounds_done"] != rounds)
        p["accepted"] = c["accepted"]
        p["lost"] = 0
        # the export: every seed row once, every accepted candidate once
        grown = ws / "grown.jsonl"
        res = bench.cli(ws, "export", "mix", "--out", grown)
        if res.returncode != 0:
            p["errors"] += 1
            return p
        rows = [json.loads(line) for line in grown.read_text(encoding="utf-8").splitlines()]
        seed_ids = [r["id"] for r in rows if r["origin"] == "seed"]
        synth_ids = [r["id"] for r in rows if r["origin"] == "synthetic"]
        chashes = [r["meta"]["content_hash"] for r in rows if r["origin"] == "synthetic"]
        p["exported_synthetic"] = len(synth_ids)
        p["lost"] += max(0, seeds - len(set(seed_ids))) + max(0, c["accepted"] - len(set(synth_ids)))
        p["duplicated"] += ((len(seed_ids) - len(set(seed_ids))) + (len(synth_ids) - len(set(synth_ids)))
                            + (len(chashes) - len(set(chashes))))
        return p

    # progress lines: one per committed request (4); 2/4 ends round 0 (its G-Vendi and 'done' come next), 4/4 comes
    # before the run is closed; and in the middle of a request (replies cached, candidates not yet written)
    specs = [None, (0, 0.0), (0, 1.0), (1, 0.0), (2, 0.0), (3, 0.0)]
    results = sweep(bench, point, specs)
    reference, points = results[0], results[1:]
    ref = reference.get("got")  # None: the uninterrupted run failed; then only the per-request check remains
    for p in points:
        got = p.pop("got", None)
        if got is None:
            p["lost"] = p.get("lost", 0) + len(ref or ())
            continue
        covered = {(r, q) for r, q, _ in got}
        no_candidate = {(r, q) for r in range(rounds) for q in range(per_round)} - covered
        lost_keys = set(ref or ()) - set(got)
        p["lost"] += len(lost_keys) + len(no_candidate - {k[:2] for k in lost_keys})
        if ref is not None:
            p["unexpected"] = len(set(got) - set(ref))
            p["reason_differs"] = sum(got[k] != ref[k] for k in set(ref) & set(got))
    summary = step_summary(points)
    if ref is None:
        summary["errors"] += 1
        return summary | {"reference": {"error": reference.get("error")}}
    return summary | {"reference": {"candidates": len(ref), "accepted": reference["accepted"],
                                    "status": reference["status"],
                                    "endpoint_requests": reference["endpoint_requests"]}}


def read_export(path: Path, fmt: str) -> list[str] | None:
    """The ids of a complete export file, or None when it does not parse."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path, columns=["id"]).column("id").to_pylist()
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            return None
        return [json.loads(line)["id"] for line in data.decode("utf-8").splitlines()]
    except Exception:
        return None


def kill_when_temp(bench: Bench, ws: Path, args: list, folder: Path, min_bytes: int, timeout: float = 120) -> dict:
    """Run the CLI; SIGKILL it once its temp file in `folder` holds at least min_bytes."""
    proc = bench.popen(ws, *args, stderr=subprocess.DEVNULL)
    prefix = f".tmp-prism-{proc.pid}-"
    deadline = time.monotonic() + timeout
    at = None
    while proc.poll() is None and time.monotonic() < deadline:
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    size = entry.stat().st_size
                    if size >= min_bytes:
                        at = size
                        proc.send_signal(signal.SIGKILL)
                        break
        if at is not None:
            break
        time.sleep(0.001)
    if proc.poll() is None and at is None:
        proc.kill()
    rc = proc.wait()
    return {"at": f"temp file at {at} bytes" if at is not None else None, "killed": rc == -signal.SIGKILL}


def step_export(bench: Bench, template: Path, n: int) -> dict:
    refs = {}
    for fmt in ("jsonl", "parquet"):
        out = bench.root / "export-reference" / f"grown.{fmt}"
        res = bench.cli(template, "export", "big", "--format", fmt, "--out", out)
        if res.returncode != 0:
            raise RuntimeError(f"reference export failed: {res.stderr[-500:]}")
        refs[fmt] = out.stat().st_size
    def point(spec):
        fmt, frac = spec
        ws = bench.fresh(template, f"export-{fmt}-{frac:g}")
        folder = ws / "out"
        folder.mkdir()
        out = folder / f"grown.{fmt}"
        old = b'{"id": "an older export"}\n'
        out.write_bytes(old)
        args = ["export", "big", "--format", fmt, "--out", out]
        kill = kill_when_temp(bench, ws, args, folder, max(1, int(refs[fmt] * frac)))
        p = {"kill": f"{fmt} {kill['at']}" if kill["at"] else None, "killed": kill["killed"]}
        data = out.read_bytes() if out.exists() else None
        ids = read_export(out, fmt) if data not in (None, old) else None
        p["after_kill"] = ("absent" if data is None else "old" if data == old else
                           "complete" if ids is not None and len(ids) == n else "corrupt")
        p["poisoned"] = int(p["after_kill"] == "corrupt")
        p["temp_after_kill"] = len(temp_files(folder))
        res = bench.cli(ws, *args)  # the next export into that folder: complete, and no temp file left
        p["errors"] = int(res.returncode != 0)
        p["temp_left"] = len(temp_files(folder))
        ids = read_export(out, fmt)
        if ids is None:
            return p | {"poisoned": p["poisoned"] + 1, "lost": n}
        return p | {"lost": n - len(set(ids)), "duplicated": len(ids) - len(set(ids))}

    # killed as soon as the temp file exists, and when it holds a quarter, half, 90% of the output
    points = sweep(bench, point, [("jsonl", 0.0), ("jsonl", 0.25), ("jsonl", 0.5), ("jsonl", 0.9),
                                  ("parquet", 0.0), ("parquet", 0.5)], lost_if_failed=n)
    return step_summary(points) | {"rows": n, "reference_bytes": refs}


# ---- 3. concurrency -------------------------------------------------------------------------------------------------

def two_tabs(ws: Path, trials: int = 12) -> dict:
    from core.jobs import JobRunner, list_jobs

    failures = {"shared_runner": 0, "runner_per_tab": 0}
    with Store(ws / "prism.duckdb") as store:
        release = threading.Event()

        def work(ctx):
            release.wait(10)
            return {"ok": True}

        shared = JobRunner(store)
        for mode in failures:
            for t in range(trials):
                ds = f"{mode}-{t}"
                params = {"mode": "fast", "dim": 1024, "k": None, "trial": t}
                start = (lambda i: shared.start("analyse", ds, params, work)) if mode == "shared_runner" else \
                        (lambda i: JobRunner(store).start("analyse", ds, params, work))
                got = [None, None]  # the job id each tab was given
                errors = hammer(lambda i: got.__setitem__(i, start(i)), n_threads=2, repeats=1)
                rows = sum(job.kind == "analyse" for job in list_jobs(store, dataset=ds))
                if errors or rows != 1 or got[0] != got[1]:
                    failures[mode] += 1
        release.set()
        for job in list_jobs(store, limit=10 * trials):  # let every worker finish before the store closes
            shared.wait(job.id, timeout=10)
        time.sleep(0.1)
    return {"trials": trials, "failures": failures, "failed": sum(failures.values())}


def identical_requests(ws: Path) -> dict:
    from core.synthesis.generators import Request
    from core.synthesis.openai_backend import OpenAIGenerator

    distinct = [Request((("user", f"Solve {i} and {i + 7}.\n\nSolve the problem step by step"),), sample=i % 2)
                for i in range(6)]
    requests = distinct * 3
    random.Random(0).shuffle(requests)
    with Store(ws / "prism.duckdb") as store, quiet_stub(delay=0.2) as stub:
        gen = OpenAIGenerator(store, base_url=stub.url, model="stub", concurrency=4)
        results = gen.generate(requests)
        sent = collections.Counter(json.loads(b)["messages"][-1]["content"] for b in stub.state.bodies)
        cache_rows = store.key_counts("llm_cache")
        by_request: dict = {}
        for req, res in zip(requests, results):
            by_request.setdefault(req, set()).add(res.text)
        # two callers (two tabs launching the same synthesis) with the same requests at once: informational
        stub.state.bodies.clear()
        more = [Request((("user", f"Solve {i} and {i + 3}.\n\nSolve the problem step by step"),)) for i in range(4)]
        both = hammer(lambda i: gen.generate(more), n_threads=2, repeats=1)  # the exceptions raised
        cross = collections.Counter(json.loads(b)["messages"][-1]["content"] for b in stub.state.bodies)
    failures = (sum(v != 1 for v in sent.values()) + (len(distinct) - len(sent))
                + sum(r.text is None or r.error is not None for r in results)
                + sum(len(v) != 1 for v in by_request.values())
                + int(cache_rows[0] != len(distinct) or cache_rows[0] != cache_rows[1]))
    return {"requests": len(requests), "distinct": len(distinct), "sent": sum(sent.values()),
            "results_ok": sum(r.text is not None and r.error is None for r in results),
            "llm_cache_rows": cache_rows[0], "failed": failures,
            "two_callers_sent_per_request": max(cross.values()) if cross else 0,
            "two_callers_errors": len(both)}


def concurrent_writes(ws: Path, threads: int = 8, repeats: int = 10) -> dict:
    import numpy as np

    from core.config import FeatureConfig
    from core.data.ingest import ingest_file

    config = FeatureConfig(model="bench", model_revision="r1", dim=16)
    with Store(ws / "prism.duckdb") as store:
        store.save_dataset("w", ingest_file(FIXTURES / "gsm8k_8.jsonl"), source="bench")
        hashes = [s.content_hash for s in store.samples("w")]
        vecs = np.random.default_rng(0).normal(size=(len(hashes), 16)).astype(np.float32)

        def writer(i):
            for r in range(repeats):
                store.save_score("w", config.key(), "g_vendi", 1.0 + i, len(hashes))
                store.save_score("w", "text", "distinct_1", 0.5, len(hashes))
                for j in range(5):
                    store.cache_put(f"bench:{j}", {"writer": i, "round": r})
                store.write_features(config, hashes, vecs)
                store.write_features(config, hashes[: 1 + (i + r) % len(hashes)], vecs[: 1 + (i + r) % len(hashes)])
            return True

        errors = [f"{type(g).__name__}: {g}"[:200] for g in hammer(writer, n_threads=threads, repeats=1)]
        bench_keys = store.cache_keys("bench:")
        counts = {"scores": store.key_counts("scores"), "kv_cache": (len(bench_keys), len(set(bench_keys))),
                  "features": store.feature_key_counts(16), "feature_configs": store.key_counts("feature_configs")}
    expected = {"scores": 2, "kv_cache": 5, "features": len(hashes), "feature_configs": 1}
    wrong = {k: list(v) for k, v in counts.items() if v[0] != expected[k] or v[1] != expected[k]}
    return {"threads": threads, "exceptions": errors, "wrong_counts": wrong,
            "duplicated": sum(v[0] - v[1] for v in counts.values()), "failed": len(errors) + len(wrong)}


def write_variant(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def replace_case(bench: Bench, template: Path) -> dict:
    """Score + map (+ cluster summaries) a dataset, replace it with an edited file, and look for stale results."""
    from core.analysis.analyse import baselines
    from core.analysis.clusters import ClusterConfig
    from core.analysis.gradient_map import MapConfig, find_cached_map, latest_map
    from core.analysis.summaries import cached_summaries

    base = bench.fresh(template, "replace-base")
    bench.cli_json(base, "score", "mix", *LIGHT)
    bench.cli_json(base, "map", "mix", *LIGHT)
    os.environ["PRISM_MODELS"] = str(bench.models)
    config = light_config()
    key, cc, mc = config.key(), ClusterConfig(), MapConfig()
    labels = ["source"]

    def served(store) -> dict:
        gmap = find_cached_map(store, "mix", key, config.dim, cc, mc)
        latest = latest_map(store, "mix", key)
        out = {"score": store.get_score("mix", key, "g_vendi"), "text_metric": store.get_score("mix", "text",
                                                                                                "distinct_1"),
               "find_cached_map": gmap, "latest_map": latest, "summaries_stale": None}
        m = gmap or latest
        if m is not None:  # the summaries a page would show for this map, against the data as it is now
            frame = store.samples_frame("mix").set_index("id").loc[m.ids].reset_index()
            shown = cached_summaries(store, m, frame, labels)
            truth = collections.defaultdict(collections.Counter)
            for c, v in zip(m.labels, frame["source"]):
                truth[int(c)][str(v)] += 1
            out["summaries_stale"] = any(s.label_mix.get("source", {}) != dict(truth[s.cluster]) for s in shown)
        return out

    with Store(base / "prism.duckdb") as store:
        before = served(store)
        baselines(store, "mix", with_embeddings=False)
    sanity = all(before[k] is not None for k in ("score", "find_cached_map", "latest_map"))
    rows = [json.loads(line) for line in (FIXTURES / "mixture_24.jsonl").read_text(encoding="utf-8").splitlines()]
    edited = [dict(r) for r in rows]
    edited[3]["answer"] = edited[3]["answer"] + " (checked)"
    swapped = [dict(r) for r in rows]
    swapped[0]["id"], swapped[1]["id"] = rows[1]["id"], rows[0]["id"]
    relabelled = [dict(r, source=("svamp" if r["source"] == "gsm8k" else "gsm8k")) if i % 3 == 0 else dict(r)
                  for i, r in enumerate(rows)]
    variants = {
        # content changed: nothing computed on the old rows may be served
        "edited_response": (edited, {"score", "text_metric", "find_cached_map", "latest_map"}),
        # the same texts under swapped ids: a map keyed by id would put two rows in each other's place
        "swapped_ids": (swapped, {"score", "text_metric", "find_cached_map", "latest_map"}),
        # only a label column changed: scores and the map stay valid, the label mix of the summaries must follow
        "relabelled": (relabelled, set()),
        # the same file again: everything may be served, nothing is stale
        "identical": (rows, set()),
    }
    stale, details = 0, {}
    for name, (variant_rows, must_miss) in variants.items():
        ws = bench.fresh(base, f"replace-{name}")
        src = write_variant(bench.root / f"replace-{name}.jsonl", variant_rows)
        res = bench.cli(ws, "ingest", src, "--name", "mix", "--replace", "--json")
        if res.returncode != 0:
            details[name] = {"error": res.stderr[-300:]}
            stale += 1
            continue
        with Store(ws / "prism.duckdb") as store:
            got = served(store)
        hits = sorted(k for k in must_miss if got[k] is not None)
        bad = hits + (["summaries"] if got["summaries_stale"] else [])
        stale += len(bad)
        details[name] = {"served": sorted(k for k in ("score", "text_metric", "find_cached_map", "latest_map")
                                          if got[k] is not None), "stale": bad}
    return {"sanity_before_replace": sanity, "stale": stale, "variants": details}


def step_concurrency(bench: Bench, map_template: Path) -> dict:
    out = {"two_tabs": two_tabs(bench.fresh(None, "conc-tabs")),
           "identical_requests": identical_requests(bench.fresh(None, "conc-requests")),
           "concurrent_writes": concurrent_writes(bench.fresh(None, "conc-writes")),
           "replace": replace_case(bench, map_template)}
    return out


# ---- 4. hostile cases (issue 17) -----------------------------------------------------------------------------------

def step_hostile(bench: Bench) -> dict:
    """Hostile vector files, export targets, temp cleanup, LIKE escapes and --replace (hostile_storage.py); echoed
    secrets, regex bombs, bad numbers and ids (hostile_io.py); killed parents and unrunnable llama.cpp servers
    (hostile_server.py). Each case reports ok, leaked and lost (and stale where it applies)."""
    import hostile_io
    import hostile_server
    import hostile_storage

    cases = []
    for name, module in (("storage", hostile_storage), ("io", hostile_io), ("server", hostile_server)):
        folder = bench.root / f"hostile-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        cases += [dict(c, group=name) for c in module.run_cases(folder)]
    return {"cases": len(cases), "ok": sum(bool(c["ok"]) for c in cases),
            "failed": [c["case"] for c in cases if not c["ok"]],
            "leaked": sum(c.get("leaked", 0) for c in cases), "lost": sum(c.get("lost", 0) for c in cases),
            "stale": sum(c.get("stale", 0) for c in cases),
            "kinds": dict(collections.Counter(c["kind"] for c in cases)), "details": cases}


# ---- driver ---------------------------------------------------------------------------------------------------------

def prepare(bench: Bench, need: set[str]) -> dict[str, Path]:
    """Prepared workspaces the sweep copies: 4 GSM8K rows ingested; mixture_24 with light features."""
    t = {}
    if "features" in need:
        t["g4"] = bench.fresh(None, "template-g4")
        g4 = bench.root / "gsm8k_4.jsonl"
        g4.write_text("".join((FIXTURES / "gsm8k_8.jsonl").read_text(encoding="utf-8").splitlines(True)[:4]),
                      encoding="utf-8")
        bench.cli_json(t["g4"], "ingest", g4, "--name", "g4")
    if "synthesis" in need and bench.product_features:
        t["mix_default"] = bench.fresh(None, "template-mix-default")
        bench.cli_json(t["mix_default"], "ingest", FIXTURES / "mixture_24.jsonl", "--name", "mix")
        bench.cli_json(t["mix_default"], "features", "mix", "--batch-size", "4")
    if need & {"map", "synthesis", "concurrency"}:
        t["mix"] = bench.fresh(None, "template-mix")
        bench.cli_json(t["mix"], "ingest", FIXTURES / "mixture_24.jsonl", "--name", "mix")
        bench.cli_json(t["mix"], "features", "mix", *LIGHT, "--batch-size", "4")
    return t


def run(bench: Bench, only: set[str]) -> dict:
    started = time.perf_counter()
    timings = {}

    def timed(name, fn, *a):
        t = time.perf_counter()
        value = fn(*a)
        timings[name] = round(time.perf_counter() - t, 1)
        return value

    background = concurrent.futures.ThreadPoolExecutor(max_workers=1)  # the corpus's ingests overlap the sweep
    corpus_future = background.submit(timed, "corpus", step_corpus, bench) if "corpus" in only else None
    templates = timed("prepare", prepare, bench, only)
    steps = {}
    big = None
    if "ingest" in only or "export" in only:
        steps["ingest"], big = timed("ingest", step_ingest, bench)
    if "features" in only:
        steps["features"] = timed("features", step_features, bench, templates["g4"])
    if "map" in only:
        steps["map"] = timed("map", step_map, bench, templates["mix"])
    if "synthesis" in only:
        steps["synthesis"] = timed("synthesis", step_synthesis, bench,
                                   templates.get("mix_default", templates.get("mix")))
    if "export" in only:
        if big is None:
            raise RuntimeError("no ingest workspace ended with the whole dataset: nothing to export")
        steps["export"] = timed("export", step_export, bench, big, INGEST_ROWS)
    conc = timed("concurrency", step_concurrency, bench, templates["mix"]) if "concurrency" in only else {}
    hostile = timed("hostile", step_hostile, bench) if "hostile" in only else {}
    corpus = corpus_future.result() if corpus_future else {"bad_files": 0, "handled": 0, "failures": []}
    background.shutdown()
    summary = {
        "bad_files": corpus["bad_files"], "handled": corpus["handled"],
        "kill_points": sum(s["kill_points"] for s in steps.values()),
        "rows_lost": sum(s["lost"] for s in steps.values()),
        "rows_duplicated": sum(s["duplicated"] for s in steps.values())
        + conc.get("concurrent_writes", {}).get("duplicated", 0),
        "stale_results": conc.get("replace", {}).get("stale", 0) + hostile.get("stale", 0),
        "hostile_cases": hostile.get("cases", 0), "hostile_ok": hostile.get("ok", 0),
        "hostile_failed": hostile.get("failed", []), "leaked": hostile.get("leaked", 0),
        "hostile_lost": hostile.get("lost", 0),
        "poisoned": sum(s["poisoned"] for s in steps.values()),
        "temp_files_left": sum(s["temp_left"] for s in steps.values()),
        "recomputed_rows": sum(s["recomputed"] for s in steps.values()),
        "missed_kill_points": sum(s["missed"] for s in steps.values()),
        "rerun_errors": sum(s["errors"] for s in steps.values()),
        "concurrency_failures": sum(c.get("failed", 0) for c in conc.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "corpus_failures": corpus["failures"],
        "steps": {name: {k: v for k, v in s.items()} for name, s in steps.items()},
        "concurrency": conc,
        "hostile": hostile,
        "timings": timings,
    }
    return summary


def print_table(s: dict) -> None:
    print(f"bad files: {s['handled']}/{s['bad_files']} handled")
    for f in s["corpus_failures"]:
        print(f"  FAIL {f['name']}: expect {f['expect']}, got {f['got']}")
    print()
    cols = ("kill_points", "missed", "lost", "duplicated", "poisoned", "temp_left", "recomputed", "errors")
    print(f"{'step':<11}" + "".join(f"{c:>12}" for c in cols))
    for name, st in s["steps"].items():
        print(f"{name:<11}" + "".join(f"{st[c]:>12}" for c in cols))
        for p in st["points"]:
            extra = {k: v for k, v in p.items() if k not in ("kill", "killed") + cols}
            print(f"    {'killed' if p['killed'] else 'MISSED'} at {p['kill']!s:<58.58} lost {p.get('lost', 0)} "
                  f"dup {p.get('duplicated', 0)}  {json.dumps(extra)[:120]}")
    print()
    for name, c in s["concurrency"].items():
        print(f"{name:<20} {json.dumps(c)[:300]}")
    print()
    if s.get("hostile"):
        h = s["hostile"]
        print(f"hostile cases: {h['ok']}/{h['cases']} ok ({', '.join(f'{k} {v}' for k, v in h['kinds'].items())}); "
              f"leaked {h['leaked']}, lost {h['lost']}, stale {h['stale']}")
        for c in h["details"]:
            if not c["ok"]:
                print(f"  FAIL {c['group']}: {c['case']}: {c['detail'][:160]}")
        print()
    print("seconds per step: " + ", ".join(f"{k} {v}" for k, v in s["timings"].items()))
    print(" ".join(f"{k}={s[k]}" for k in ("kill_points", "rows_lost", "rows_duplicated", "stale_results",
                                           "poisoned", "temp_files_left", "recomputed_rows", "missed_kill_points",
                                           "rerun_errors", "concurrency_failures", "hostile_cases", "hostile_ok",
                                           "leaked", "seconds")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="one JSON line")
    ap.add_argument("--only", default=",".join(STEPS), help=f"comma-separated steps of {','.join(STEPS)}")
    ap.add_argument("--keep", help="folder for the workspaces (kept; default: a temporary folder, removed)")
    ap.add_argument("--jobs", type=int, default=2, help="kill points run at once, each in its own workspace")
    ap.add_argument("--product-features", action="store_true",
                    help="synthesize with the product's default feature config (slow on a CPU) instead of LIGHT")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if only - set(STEPS):
        ap.error(f"unknown steps: {sorted(only - set(STEPS))}")
    with contextlib.ExitStack() as stack:
        root = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="prism-faults-")))
        root.mkdir(parents=True, exist_ok=True)
        # the de-quantised model is shared by every workspace (PRISM_MODELS when set: reused across runs)
        models = Path(os.environ.get("PRISM_MODELS") or root / "models")
        summary = run(Bench(root, models, product_features=args.product_features, jobs=args.jobs), only)
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print_table(summary)


if __name__ == "__main__":
    main()
