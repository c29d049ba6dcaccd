"""Real browser end to end: a Streamlit server on a free localhost port, driven by headless Debian Chromium.

The demo opens analysed with no job; upload a JSONL, ingest, watch the analysis job, see the metrics and a map with one
point per sample, lasso-select points, drill into a cluster; compare two datasets (two curves, one shared map); pick
target clusters and see the prompt preview change; grow the seed with the embedded generator. No request leaves
127.0.0.1 (the favicon included). Screenshots go to test-artifacts/, and to docs/ (the README's) with
PRISM_SCREENSHOTS=docs.

The default run keeps the browser tests of the demo (no model): the deep link as the server's first visit, the demo
opening analysed, the prompt preview, nothing fetched from outside. Marked slow (run with -m slow, in file order: the
compare and synthesis tests use the uploaded dataset): the upload and its real analysis (tests/app/test_app.py runs
the same upload, job and page through AppTest), compare (test_app's test_compare_two_datasets) and the embedded
generator's run (tests/synthesis: the loop with the embedded generator, and the real llama.cpp server).

The demo's shipped features: data/demo/demo_features.npz when it matches today's identity, else the file named by
PRISM_DEMO_FEATURES, else a stand-in made here like tests/analysis/test_demo.py::fake_shipped (grouped random vectors
under today's identity).
"""
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.helpers import DATA, ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make browser)")


def demo_features(tmp: Path) -> str | None:
    """The PRISM_DEMO_FEATURES value for the server: None when the shipped file fits today's identity."""
    from core.analysis import demo
    from core.analysis.analyse import AnalysisOptions

    identity = json.loads(json.dumps(AnalysisOptions().feature_config().identity()))
    if demo.shipped_identity(demo.DEMO_FEATURES) == identity:
        return None
    given = os.environ.get("PRISM_DEMO_FEATURES")
    if given and demo.shipped_identity(Path(given)) == identity:
        return given
    from tests.app.fakes import fake_shipped_file

    return str(fake_shipped_file(tmp / "demo_features.npz", AnalysisOptions()))


class Server:
    def __init__(self, workspace: Path, logs: Path):
        self.workspace, self.port = workspace, free_port()
        env = dict(os.environ, PRISM_HOME=str(workspace), PYTHONUNBUFFERED="1")
        env.pop("PRISM_DEMO_FEATURES", None)
        shipped = demo_features(logs)
        if shipped:
            env["PRISM_DEMO_FEATURES"] = shipped
        self.log = open(logs / "streamlit.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats",
             "false", "--server.fileWatcherType", "none"], cwd=ROOT, env=env, stdout=self.log,
            stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.log.flush()
                raise RuntimeError("streamlit did not start:\n" + Path(self.log.name).read_text()[-3000:])
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(self.log.name, ARTIFACTS / "streamlit.log")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("browser-ws"), tmp_path_factory.mktemp("logs"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic"])
        yield b
        b.close()


OUTSIDE: list[str] = []  # requests for anything but the local server, over the whole module


@pytest.fixture()
def page(browser):
    p = browser.new_page(viewport={"width": 1400, "height": 1300})
    p.set_default_timeout(90_000)  # no action waits forever; the long waits say their own timeout
    p.on("request", lambda r: OUTSIDE.append(r.url) if urlparse(r.url).hostname not in ("127.0.0.1", "localhost")
         and not r.url.startswith(("data:", "blob:")) else None)
    yield p
    p.close()


def wait_idle(page, timeout=60_000):
    """Connected and the script finished its run: Streamlit's own test hooks, not sleeps."""
    page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]', timeout=timeout)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout)


def open_tab(page, label: str) -> None:
    """Click one of the Gradient space page's tabs and wait for its content's run (only the open tab is drawn)."""
    page.get_by_role("tab", name=label).click()
    page.wait_for_function("l => [...document.querySelectorAll('[role=tab]')].some("
                           "t => t.innerText.trim() === l && t.getAttribute('aria-selected') === 'true')", arg=label)
    wait_idle(page)


MAP_POINTS = """() => {
  const size = a => !a ? 0 : (a.length !== undefined ? a.length : parseInt(String(a.shape || '0').split(',')[0]));
  const map = [...document.querySelectorAll('.js-plotly-plot')].find(g => g.data && g.data.some(
      t => t.type === 'scattergl' && t.customdata));
  return map ? map.data.filter(t => t.type === 'scattergl').reduce((n, t) => n + size(t.customdata), 0) : -1;
}"""


def map_points(page) -> int:
    page.wait_for_function(f"() => ({MAP_POINTS})() > 0", timeout=120_000)
    return page.evaluate(MAP_POINTS)


def ensure_demo(server, page) -> None:
    """The demo in the module's workspace whichever test runs first: a test that needs it loads it through the Data
    page's button when the workspace has no dataset yet (run in file order, test_demo_opens_analysed... has)."""
    page.goto(server.url)
    wait_idle(page)
    if page.get_by_text("No datasets yet").count():
        page.get_by_role("button", name="Load the demo").click()
        page.get_by_text("G-Vendi", exact=True).first.wait_for(timeout=120_000)
        wait_idle(page)


def shot(page, name: str) -> None:
    """A screenshot for the test's artifacts and, with PRISM_SCREENSHOTS=docs, a small copy for the README."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    if os.environ.get("PRISM_SCREENSHOTS") == "docs":
        from PIL import Image

        DOCS.mkdir(exist_ok=True)
        image = Image.open(path).convert("RGB")
        image.thumbnail((1200, 1200))
        image.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(DOCS / f"{name}.png", optimize=True)


def waited(page, wait, name: str) -> None:
    """Run a long wait; when it fails, keep what the page showed (test-artifacts/NAME.png) for the report."""
    try:
        wait()
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        raise


def lasso_everything(page) -> None:
    drag = page.locator(".js-plotly-plot .nsewdrag").first  # the map: the one chart of the Map tab
    drag.scroll_into_view_if_needed()
    drag.hover()  # shows the toolbar: the map opens in pan mode (a click opens a point); pick its lasso
    lasso = page.locator('.js-plotly-plot .modebar-btn[data-val="lasso"]').first
    if lasso.count():
        lasso.click(force=True)
    box = drag.bounding_box()
    x0, y0, x1, y1 = box["x"] + 5, box["y"] + 5, box["x"] + box["width"] - 5, box["y"] + box["height"] - 5
    # start inside, bottom-left: the corners hold axis-drag handles and the legend sits over the top-left
    page.mouse.move(x0 + 30, y1 - 30)
    page.mouse.down()
    for x, y in ((x0, y1), (x0, y0), (x1, y0), (x1, y1), (x0 + 30, y1)):
        page.mouse.move(x, y, steps=20)
    page.mouse.up()


def select_everything(page, n: int) -> None:
    """Lasso the whole plot area until the page lists all `n` rows as selected."""
    for _attempt in range(3):  # a lasso drawn while plotly is still laying out is dropped: draw it again
        lasso_everything(page)
        try:
            page.get_by_text(f"Selected: {n} samples").wait_for(timeout=10_000)
            break
        except Exception:
            continue
    page.get_by_text(f"Selected: {n} samples").wait_for(timeout=20_000)
    wait_idle(page)


def test_a_deep_link_is_the_servers_first_visit_without_page_not_found(server, page):
    """The module's server is fresh: its first session opens a page by URL. Beside st.navigation, Streamlit also
    reads pages/ as an old-style multipage app before app.py runs, and showed "Page not found" over the right page
    when a page's URL was not its file's name (gradient-space, gradient_space.py). Each file in pages/ is named after
    its URL (pages/gradient-space.py): this test fails with gradient_space.py."""
    page.goto(f"{server.url}/gradient-space")
    wait_idle(page)
    page.get_by_role("heading", name="Gradient space").wait_for()
    page.wait_for_timeout(1_000)  # the dialog came with the first messages; give a late one time to show
    assert page.get_by_text("Page not found").count() == 0
    # and app.py ran (in that old mode Streamlit runs the page's file alone: no page config, no check of the
    # address served, no job runner, no layout): its navigation names the pages, and the layout is wide
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert nav.get_by_text("Gradient space", exact=True).count() == 1, nav.inner_text()
    width = page.evaluate("() => document.querySelector('[data-testid=\"stMainBlockContainer\"]').offsetWidth")
    assert width > 900, width


def test_demo_opens_analysed_with_no_analysis_job(server, page):
    page.goto(server.url)
    wait_idle(page)
    page.get_by_text("No datasets yet").wait_for()
    shot(page, "data")
    page.get_by_role("button", name="Load the demo").click()
    page.get_by_text("G-Vendi", exact=True).first.wait_for(timeout=120_000)
    wait_idle(page)
    assert map_points(page) == 300
    assert "gradient-space" in page.url and "dataset=demo" in page.url and "job=" not in page.url
    assert page.locator('[data-testid="stProgress"]').count() == 0  # no job panel: nothing is being computed
    shot(page, "gradient-space")
    open_tab(page, "Sparse rules")  # drawn only when opened, and kept in the URL
    page.get_by_text("What each sparse rule finds, on this data").wait_for()
    assert "view=rules" in page.url
    open_tab(page, "Map")


FIRST_POINT = """() => {
  const g = [...document.querySelectorAll('.js-plotly-plot')].find(
      p => p.data && p.data.some(t => t.type === 'scattergl' && t.customdata));
  const i = g._fullData.findIndex(t => t.type === 'scattergl' && t.customdata && t.x && t.x.length && t.hovertext);
  const t = g._fullData[i], xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis, r = g.getBoundingClientRect();
  const text = String(t.hovertext[0]).split('<br>').pop();
  return {x: r.left + xa._offset + xa.l2p(t.x[0]), y: r.top + ya._offset + ya.l2p(t.y[0]),
          prompt: new DOMParser().parseFromString(text, 'text/html').body.textContent.replace('…', '')};
}"""


@pytest.mark.slow  # the demo's 800 px test (test_browser_workbench.py) is the default run's click-to-inspector test
def test_the_map_fills_the_first_screen_and_a_lasso_gets_the_action_bar(server, browser):
    """At 1400x900 the map (the Plotly chart with the rows) lies wholly above the fold, at nearly the window's width;
    a click on a point opens it in the inspector (its text, its nearest rows); a lasso selects rows, whose action bar
    (tag, exclude, include, more like this, ...) appears under it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    view = browser.new_page(viewport={"width": 1400, "height": 900})
    view.set_default_timeout(90_000)
    ensure_demo(server, view)
    try:
        view.goto(f"{server.url}/gradient-space?dataset=demo")
        wait_idle(view, timeout=120_000)
        assert map_points(view) == 300
        box = view.evaluate("""() => {
            const g = [...document.querySelectorAll('.js-plotly-plot')].find(
                p => p.data && p.data.some(t => t.type === 'scattergl' && t.customdata));
            const r = g.getBoundingClientRect();
            return {top: r.top, bottom: r.bottom, width: r.width, main: document.querySelector(
                '[data-testid="stMainBlockContainer"]').getBoundingClientRect().width}; }""")
        assert 0 <= box["top"] < box["bottom"] <= 900, box
        assert box["bottom"] - box["top"] >= 500 and box["width"] >= 0.9 * box["main"], box
        shot(view, "gradient-space-map-first")
        point = view.evaluate(FIRST_POINT)  # a click on a point opens it in the inspector (the sidebar)
        view.mouse.move(point["x"], point["y"], steps=5)
        view.wait_for_timeout(500)  # plotly clicks the point it hovers: let the hover land first
        view.mouse.down()
        view.wait_for_timeout(100)
        view.mouse.up()
        view.locator('[data-testid="stSidebar"]').get_by_text("Nearest rows", exact=True).wait_for(timeout=60_000)
        wait_idle(view)
        words = " ".join(point["prompt"].split()[:6])
        try:  # the inspector's text is drawn over a few frames: wait for the row and its 5 nearest rows themselves
            view.wait_for_function("w => { const t = document.querySelector('[data-testid=\"stSidebar\"]').innerText"
                                   ".split(/\\s+/).join(' '); return t.includes(w) && t.split(' · row ').length > 5; }",
                                   arg=words, timeout=30_000)
        except PlaywrightTimeout:
            pass  # the assertion says what the sidebar held
        side = " ".join(view.locator('[data-testid="stSidebar"]').inner_text().split())
        assert words in side and side.count(" · row ") >= 5, side[-600:]
        shot(view, "gradient-space-inspector")
        select_everything(view, 300)
        for label in ("Exclude", "More like this", "Compare with rest", "Grow this region", "Undo"):
            assert view.get_by_role("button", name=label, exact=True).count() == 1, label
    finally:
        view.close()


@pytest.mark.slow
def test_upload_analyse_map_select(server, page):
    page.goto(server.url)
    wait_idle(page)
    page.set_input_files('[data-testid="stFileUploaderDropzoneInput"]', str(DATA / "mixture_24.jsonl"))
    page.get_by_text("Detected shape").wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="Ingest and analyse").click()
    page.get_by_text("24 samples kept").wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="Open in Gradient space").last.click()

    # the analysis job: progress is polled from DuckDB; the scores' line (its "All scores" popover) appears when it
    # is done (a bare "G-Vendi" is also a hidden column header of the datasets table)
    waited(page, lambda: page.get_by_role("button", name="All scores").wait_for(timeout=600_000), "upload-failure")
    wait_idle(page)
    assert "job=" in page.url and "dataset=mixture_24" in page.url  # a refresh finds the job and the dataset
    page.get_by_role("button", name="All scores").click()  # the metrics, with their meanings, in a popover
    page.locator('[data-testid="stMetric"]').first.wait_for()
    metrics = page.locator('[data-testid="stMetric"]').all_inner_texts()
    page.keyboard.press("Escape")
    g_vendi = next(m for m in metrics if m.startswith("G-Vendi"))
    assert 1.0 < float(g_vendi.split()[-1]) <= 24
    assert any(m.startswith("Samples") and m.split()[-1] == "24" for m in metrics)
    assert map_points(page) == 24
    page.screenshot(path=str(ARTIFACTS / "gradient-space-upload.png"), full_page=True)

    # lasso around the whole plot area: every point is selected and listed
    select_everything(page, 24)

    # drill into a cluster through its selectbox, on the Clusters tab
    open_tab(page, "Clusters")
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
    page.get_by_text("G-Vendi", exact=True).first.wait_for(timeout=60_000)


def drawn_names(page, keep: str, name: str) -> list[str]:
    """Names of the first drawn Plotly chart's traces that pass `keep`, once such a chart is on the page."""
    found = page.wait_for_function(f"""() => {{
        const names = [...document.querySelectorAll('.js-plotly-plot')].filter(g => g.data).map(
            g => g.data.filter({keep}).map({name})).find(n => n.length);
        return names || null; }}""", timeout=120_000)
    return found.json_value()


@pytest.mark.slow
def test_compare_two_datasets_shows_two_curves_and_one_shared_map(server, page):
    page.goto(f"{server.url}/compare?compare=demo,mixture_24")
    wait_idle(page, timeout=300_000)
    # map first (issue 21): the scores' line at the common n above the shared map, every score in a popover
    line = page.locator(".st-key-scores-line")
    waited(page, lambda: line.get_by_text("G-Vendi at n = 24").wait_for(timeout=300_000), "compare-failure")
    wait_idle(page, timeout=300_000)
    # plotly draws after the script has finished: wait for the drawn traces, then read them
    curves = drawn_names(page, "t => t.mode === 'lines+markers'", "t => t.name")
    assert sorted(curves) == ["demo", "mixture_24"]
    shared = drawn_names(page, "t => t.type === 'scattergl'", "t => t.name.split(' (')[0]")
    assert sorted(shared) == ["demo", "mixture_24"]
    page.set_viewport_size({"width": 1400, "height": 900})  # the shared map fills the first screen at 1400x900
    page.wait_for_timeout(500)
    box = page.evaluate("""() => { const g = [...document.querySelectorAll('.js-plotly-plot')].find(
        g => g.data && g.data.some(t => t.type === 'scattergl')); const r = g.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, width: r.width}; }""")
    assert box["top"] < 250 and box["bottom"] <= 900 and box["width"] >= 900, box
    page.set_viewport_size({"width": 1400, "height": 1300})
    # the table of scores at the common n, in the 'All scores' popover: a data grid, whose header cells are in the
    # DOM but not "visible"
    page.get_by_role("button", name="All scores").click()
    page.locator("th", has_text="G-Vendi at n = 24").first.wait_for(state="attached")
    page.keyboard.press("Escape")
    shot(page, "compare")


def test_picking_target_clusters_changes_the_prompt_preview(server, page):
    ensure_demo(server, page)
    page.goto(f"{server.url}/synthesis?dataset=demo")
    wait_idle(page, timeout=120_000)
    code = page.locator('[data-testid="stCode"]').first
    code.wait_for(timeout=120_000)
    before = code.inner_text()
    assert "Here are some example problems" in before
    shot(page, "synthesis")
    targets = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Sparse clusters to grow")
    first_chip = targets.locator("[data-tag]").first  # Streamlit's multiselect chips
    removed = first_chip.inner_text().split()[1]
    first_chip.locator('[aria-label^="Remove "]').click()  # the chip's delete cross
    page.wait_for_function("b => { const c = document.querySelector('[data-testid=\"stCode\"]');"
                           " return c && c.innerText !== b; }", arg=before, timeout=60_000)
    wait_idle(page)
    after = code.inner_text()
    assert after != before and "Here are some example problems" in after
    assert f"from cluster {removed}." not in page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()


@pytest.mark.slow
def test_synthesis_run_with_the_embedded_generator(server, page):
    page.goto(f"{server.url}/synthesis?dataset=mixture_24")
    wait_idle(page, timeout=120_000)
    for label, value in (("Requests per round", "1"), ("Problems per request", "1"),
                         ("Solutions per problem (vote)", "1"), ("Max tokens per problem reply", "48"),
                         ("Max tokens per solution", "48")):
        field = page.get_by_label(label)
        field.fill(value)
        field.press("Tab")  # commit the value
        wait_idle(page)
    page.get_by_role("button", name="Launch synthesis run").click()
    page.get_by_text("Control (no filter)", exact=True).wait_for(timeout=600_000)
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "synthesis-run.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSONL").click()
    rows = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert sum(r["origin"] == "seed" for r in rows) == 24
    assert all(r["generator"].startswith(("embedded:", "llama.cpp:")) for r in rows if r["origin"] == "synthetic")


def test_nothing_was_fetched_from_outside_and_the_demo_started_no_job(server):
    assert not OUTSIDE, OUTSIDE[:5]  # the favicon and every asset come from the local server
    server.stop()  # DuckDB: one process at a time
    from core.data.store import Store

    with Store(server.workspace / "prism.duckdb") as store:
        kinds = store.query("SELECT kind, dataset FROM jobs")
    assert not [k for k in kinds if k[1] == "demo"]  # (the upload's analysis job: the slow upload test's "job=")
