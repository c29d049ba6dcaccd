"""Time for the Gradient space page to become interactive in a real browser for a cached dataset of n rows.

    python bench/page_load.py --n 10000 [--runs 3] [--json]
    python bench/page_load.py --n 100000 --json
    python bench/page_load.py --n 10000 --root /tmp/prism-before --json   # the same measurement of another checkout
    python bench/page_load.py --n 10000 --warm-cache --json   # a returning user: the browser's cache kept
    python bench/page_load.py --floor --json   # the framework's own floor: a page of one metric and one 1-point map
    python bench/page_load.py --n 100000 --before /tmp/before --repeats 3 --json   # before/after, interleaved

Set-up (not timed, once per workspace): an n-row dataset from GSM8K texts with random unit gradient features and
random MiniLM embeddings written under the default keys (the page reads caches only; what the vectors are does not
change what it draws), its G-Vendi, baselines and map computed and cached. Timed: page.goto(...gradient-space?dataset=
big) until the metrics and the map (a WebGL scatter) are drawn and the script is idle, in headless Debian Chromium.
The first load is a warm-up (server imports, the cluster summaries' first computation); the median of the next
`--runs` loads is reported. `--root` serves another checkout's app.py (e.g. the commit before a change) from the same
workspace, so before/after numbers come from one set-up. `--before ROOT` times that checkout and this one (or
`--root`) side by side: `--repeats` rounds, each serving before then after in turn (one server at a time: DuckDB lets
one process open the workspace; each with its warm-up load, then `--runs` timed loads), and reports each one's median
over all its timed loads and the ratio after/before, so a load on the machine that comes and goes falls on both.

Each load opens a new browser context (a first visit: Streamlit's and plotly.js's bundles fetched and compiled
again); `--warm-cache` keeps one context for all loads, as a returning user's browser would. `--floor` times
bench/floor_app.py the same way (a title, a "G-Vendi" metric and a one-point WebGL chart, no data): what Streamlit and
plotly.js alone cost on this machine, below which no page of the app can go.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k_train.jsonl"
MAP_PAGE = "gradient-space?dataset=big"
VIEWPORT = {"width": 1400, "height": 1000}
MAP_READY = """() => [...document.querySelectorAll('.js-plotly-plot')].some(
    g => g.data && g.data.some(t => t.type === 'scattergl'))"""


def prepare(n: int) -> None:
    from core.analysis.analyse import baselines
    from core.analysis.diversity import streaming_vendi
    from core.data.ingest import IngestReport, Sample, content_hash
    from core.data.store import Store
    from core.features.compute import feature_config
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY

    rows = [json.loads(line) for line in open(GSM8K)]
    with Store() as store:
        config = feature_config()
        if not store.has_dataset("big"):
            samples = []
            for i in range(n):
                r = rows[i % len(rows)]
                prompt = r["question"] + ("" if i < len(rows) else f" (variant {i // len(rows)})")
                samples.append(Sample(f"s{i}", prompt, r["answer"], content_hash(prompt, r["answer"]),
                                      {"source": "gsm8k" if i % 10 else "other"}))
            store.save_dataset("big", IngestReport(samples, [], [], "bench"), source="bench")
        elif store.get_score("big", config.key(), "g_vendi"):
            derived(store, config)
            return  # cached under the current default feature config
        hashes = [s.content_hash for s in store.samples("big")]
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, config.dim)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        store.write_features(config, hashes, X)
        # the page shows embedding Vendi from the cache: random embeddings stand in for MiniLM's (not timed)
        store.write_vectors(EMBEDDING_KEY, EMBEDDING_DIM, hashes,
                            rng.normal(size=(n, EMBEDDING_DIM)).astype(np.float32))
        value, m = streaming_vendi(store.iter_feature_chunks("big", config.key(), config.dim), config.dim)
        store.save_score("big", config.key(), "g_vendi", value, m)
        baselines(store, "big")
        derived(store, config)  # builds the map of today's default cluster settings


def derived(store, config) -> None:
    """The diversity curve and per-cluster contributions (cached once; a cached dataset has them)."""
    try:
        from core.analysis import compare
    except ImportError:  # a checkout before they existed
        return
    from core.analysis.analyse import AnalysisOptions
    from core.analysis.gradient_map import MapConfig, find_cached_map

    t = time.perf_counter()
    compare.cached_curve(store, "big", config.key(), config.dim)
    gmap = find_cached_map(store, "big", config.key(), config.dim, AnalysisOptions().cluster_config(), MapConfig())
    if gmap is None:  # a new set-up, or the default cluster settings changed since it: today's defaults
        from core.analysis.gradient_map import build_map

        gmap = build_map(store, "big", config.key(), config.dim, cluster_config=AnalysisOptions().cluster_config(),
                         map_config=MapConfig(seed=0))
    compare.cached_contributions(store, gmap, config.dim)
    print(f"curve + contributions ready after {time.perf_counter() - t:.0f}s", file=sys.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_health(url: str, proc: subprocess.Popen) -> None:
    for _ in range(360):
        if proc.poll() is not None:
            raise RuntimeError("streamlit exited")
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("streamlit did not start")


def measure(url: str, runs: int, log=print, *, warm_cache: bool = False, path: str = MAP_PAGE) -> list[float]:
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        context = browser.new_context(viewport=VIEWPORT) if warm_cache else None  # kept: its cache too
        for run in range(runs + 1):  # the first run warms the server's imports and caches
            page = context.new_page() if context else browser.new_page(viewport=VIEWPORT)
            t = time.perf_counter()
            page.goto(f"{url}/{path}")
            page.get_by_text("G-Vendi", exact=True).first.wait_for(timeout=600_000)
            page.wait_for_function(MAP_READY, timeout=600_000)
            page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=600_000)
            elapsed = time.perf_counter() - t
            if run:
                times.append(elapsed)
            log(f"{'warm-up' if not run else f'run {run}'}: interactive after {elapsed:.2f}s")
            page.close()
        browser.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workspace", default=None, help="default: <tmp>/prism-bench-page-<n>")
    ap.add_argument("--root", default=str(ROOT), help="the checkout whose app.py is served (default: this one)")
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    ap.add_argument("--before", default=None, help="another checkout timed side by side with --root (interleaved)")
    ap.add_argument("--repeats", type=int, default=3, help="with --before: rounds of before-then-after")
    ap.add_argument("--warm-cache", action="store_true", help="one browser context for every load (a returning user)")
    ap.add_argument("--floor", action="store_true", help="time bench/floor_app.py instead (no data, no set-up)")
    ap.add_argument("--prepare-only", action="store_true", help="build and cache the workspace, time nothing (a big "
                                                                 "set-up can run beside other work; the timing not)")
    args = ap.parse_args()
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else print
    workspace = args.workspace or os.path.join(tempfile.gettempdir(), f"prism-bench-page-{args.n}")
    os.environ["PRISM_HOME"] = workspace
    t = time.perf_counter()
    if not args.floor:
        prepare(args.n)
    setup_s = time.perf_counter() - t
    log(f"set-up {setup_s:.0f}s")
    if args.prepare_only:
        import resource

        print(json.dumps({"n": args.n, "setup_s": round(setup_s, 1),
                          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
        return
    root = Path(args.root).resolve()
    if args.before:
        return interleaved(Path(args.before).resolve(), root, args, log)
    times = serve_and_measure(root, args, log)
    out = {"n": 0 if args.floor else args.n, "page": "floor" if args.floor else "gradient-space", "root": str(root),
           "commit": commit_of(root), "browser_cache": "warm" if args.warm_cache else "cold",
           "interactive_s": [round(x, 2) for x in times],
           "median_s": round(float(np.median(times)), 2)}
    print(json.dumps(out))


def commit_of(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or root.name


def serve_and_measure(root: Path, args, log) -> list[float]:
    """Serve `root`'s app (or the floor app) on a free port, time its loads (after a warm-up), stop it."""
    script = ROOT / "bench" / "floor_app.py" if args.floor else root / "app.py"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless",
                             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url, proc)
        return measure(url, args.runs, log, warm_cache=args.warm_cache, path="" if args.floor else MAP_PAGE)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def interleaved(before: Path, after: Path, args, log) -> None:
    """Before and after in turn, `args.repeats` rounds; each one's median over all its loads, and the ratio."""
    times: dict[str, list[float]] = {"before": [], "after": []}
    for r in range(args.repeats):
        for name, root in (("before", before), ("after", after)):
            got = serve_and_measure(root, args, log)
            log(f"round {r + 1} {name} ({commit_of(root)}): {', '.join(f'{x:.2f}' for x in got)} s")
            times[name] += got
    med = {k: float(np.median(v)) for k, v in times.items()}
    out = {"n": args.n, "page": "gradient-space", "browser_cache": "warm" if args.warm_cache else "cold",
           "repeats": args.repeats, "runs_per_repeat": args.runs,
           "before": {"root": str(before), "commit": commit_of(before), "interactive_s": [round(x, 2) for x in
                                                                                         times["before"]],
                      "median_s": round(med["before"], 2)},
           "after": {"root": str(after), "commit": commit_of(after), "interactive_s": [round(x, 2) for x in
                                                                                      times["after"]],
                     "median_s": round(med["after"], 2)},
           "ratio_after_over_before": round(med["after"] / med["before"], 3)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"n = {args.n:,}: before {out['before']['median_s']} s, after {out['after']['median_s']} s, "
              f"after/before {out['ratio_after_over_before']}")

if __name__ == "__main__":
    main()
