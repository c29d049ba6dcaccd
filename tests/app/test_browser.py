"""Real browser end to end: a Streamlit server on a free localhost port, driven by headless Debian Chromium.

Upload a JSONL, ingest, watch the analysis job, see the metrics and a map with one point per sample, lasso-select
points, drill into a cluster; screenshots go to test-artifacts/.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make browser)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workspace = tmp_path_factory.mktemp("browser-ws")
    port = free_port()
    env = dict(os.environ, PRISM_HOME=str(workspace), PYTHONUNBUFFERED="1")
    log = open(tmp_path_factory.mktemp("logs") / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            log.flush()
            raise RuntimeError("streamlit did not start:\n" + Path(log.name).read_text()[-3000:])
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(log.name, ARTIFACTS / "streamlit.log")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic"])
        yield b
        b.close()


def wait_idle(page, timeout=60_000):
    """Connected and the script finished its run: Streamlit's own test hooks, not sleeps."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def lasso_everything(page) -> None:
    drag = page.locator(".js-plotly-plot .nsewdrag").first
    drag.scroll_into_view_if_needed()
    box = drag.bounding_box()
    x0, y0, x1, y1 = box["x"] + 5, box["y"] + 5, box["x"] + box["width"] - 5, box["y"] + box["height"] - 5
    page.mouse.move(x0 + 30, y0 + 30)  # start inside: the plot's corners hold axis-drag handles
    page.mouse.down()
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0 + 30)):
        page.mouse.move(x, y, steps=20)
    page.mouse.up()


def test_upload_analyse_map_select(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1300})
    page.goto(server)
    wait_idle(page)
    page.get_by_text("No datasets yet").wait_for()

    page.set_input_files('[data-testid="stFileUploaderDropzoneInput"]', str(DATA / "mixture_24.jsonl"))
    page.get_by_text("Detected shape").wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="Ingest and analyse").click()
    page.get_by_text("24 samples kept").wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="Open in Gradient space").last.click()

    # the analysis job: progress is polled from DuckDB; the metrics appear when it is done
    page.get_by_text("G-Vendi", exact=True).wait_for(timeout=600_000)
    wait_idle(page)
    assert "job=" in page.url and "dataset=mixture_24" in page.url  # a refresh finds the job and the dataset
    metrics = page.locator('[data-testid="stMetric"]').all_inner_texts()
    g_vendi = next(m for m in metrics if m.startswith("G-Vendi"))
    assert 1.0 < float(g_vendi.split()[-1]) <= 24
    assert any(m.startswith("Samples") and m.split()[-1] == "24" for m in metrics)

    plot = page.locator(".js-plotly-plot").first
    plot.wait_for()
    n_points = page.evaluate(
        "() => document.querySelector('.js-plotly-plot').data.reduce((n, t) => n + t.hovertext.length, 0)")
    assert n_points == 24
    page.screenshot(path=str(ARTIFACTS / "gradient-space.png"), full_page=True)

    # lasso around the whole plot area: every point is selected and listed
    for _attempt in range(3):  # a lasso drawn while plotly is still laying out is dropped: draw it again
        lasso_everything(page)
        try:
            page.get_by_text("Selected: 24 samples").wait_for(timeout=10_000)
            break
        except Exception:
            continue
    page.get_by_text("Selected: 24 samples").wait_for(timeout=20_000)
    wait_idle(page)

    # drill into a cluster through its selectbox
    combo = page.locator('[data-testid="stSelectbox"]').filter(has_text="Drill into a cluster").get_by_role("combobox")
    combo.click()
    combo.press("ArrowDown")  # opens the list (a mouse click on the arrow is swallowed after a plotly drag)
    options = page.get_by_role("option")
    options.last.wait_for()
    label = options.last.inner_text()
    options.last.click()
    cluster = label.split()[1]
    page.get_by_text(f"rows of cluster {cluster};").wait_for(timeout=30_000)
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "cluster-drilldown.png"), full_page=True)

    # a browser refresh keeps the page's state: the dataset comes back from the URL, results from DuckDB
    page.reload()
    wait_idle(page)
    page.get_by_text("G-Vendi", exact=True).wait_for(timeout=60_000)

    # Synthesis: a tiny run with the embedded generator, watched to the end, then exported
    page.get_by_role("link", name="Synthesis").click()
    wait_idle(page)
    for label, value in (("Requests per round", "1"), ("Problems per request", "1"),
                         ("Solutions per problem (vote)", "1"), ("Max tokens per problem reply", "48"),
                         ("Max tokens per solution", "48")):
        field = page.get_by_label(label)
        field.fill(value)
        field.press("Tab")  # commit the value; Enter would submit the form early
    page.get_by_role("button", name="Launch synthesis run").click()
    page.get_by_text("Control (no filter)", exact=True).wait_for(timeout=600_000)
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "synthesis.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSONL").click()
    rows = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert sum(r["origin"] == "seed" for r in rows) == 24
    assert all(r["generator"].startswith("embedded:") for r in rows if r["origin"] == "synthetic")
    page.close()
