"""Time for the Gradient space page to become interactive in a real browser for a cached 10k-row dataset.

    python bench/page_load.py [--n 10000] [--runs 3]

Set-up (not timed): a 10k-row dataset from GSM8K texts with random unit features written under the default feature
key, its G-Vendi, baselines and map computed and cached. Timed: page.goto(...gradient-space?dataset=...) until the
metrics and the map are drawn and the script is idle, in headless Debian Chromium.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def prepare(n: int) -> None:
    from core.analysis.analyse import AnalysisOptions, baselines
    from core.data.ingest import IngestReport, Sample, content_hash
    from core.analysis.diversity import streaming_vendi
    from core.analysis.gradient_map import MapConfig, build_map
    from core.features.compute import feature_config
    from core.data.store import Store

    rows = [json.loads(l) for l in open(ROOT.parent / "shared" / "data" / "gsm8k_train.jsonl")]
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
            return  # cached under the current default feature config
        samples = store.samples("big")
        X = np.random.default_rng(0).normal(size=(n, config.dim)).astype(np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        store.write_features(config, [s.content_hash for s in samples], X)
        value, m = streaming_vendi(store.iter_feature_chunks("big", config.key(), config.dim), config.dim)
        store.save_score("big", config.key(), "g_vendi", value, m)
        baselines(store, "big")
        build_map(store, "big", config.key(), config.dim, cluster_config=AnalysisOptions().cluster_config(),
                  map_config=MapConfig(seed=0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-page"))
    args = ap.parse_args()
    os.environ["PRISM_HOME"] = args.workspace
    t = time.perf_counter()
    prepare(args.n)
    print(f"set-up {time.perf_counter() - t:.0f}s", file=sys.stderr)
    from test_browser import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(180):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        from playwright.sync_api import sync_playwright

        times = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            for run in range(args.runs + 1):  # the first run warms the server's imports and caches
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t = time.perf_counter()
                page.goto(f"{url}/gradient-space?dataset=big")
                page.get_by_text("G-Vendi", exact=True).wait_for(timeout=300_000)
                page.wait_for_function("() => { const g = document.querySelector('.js-plotly-plot');"
                                       " return g && g.data && g.data.length > 0; }", timeout=300_000)
                page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                                       timeout=300_000)
                elapsed = time.perf_counter() - t
                if run:
                    times.append(elapsed)
                print(f"{'warm-up' if not run else f'run {run}'}: interactive after {elapsed:.1f}s", flush=True)
                page.close()
            browser.close()
        print(json.dumps({"n": args.n, "interactive_s": times, "median_s": float(np.median(times))}))
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
