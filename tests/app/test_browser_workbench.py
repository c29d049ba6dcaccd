"""Issue 21's workbench in a real browser (its own Streamlit server on the demo, headless Debian Chromium):

- at 800x900 the Gradient space page starts with the sidebar collapsed (its toggle opens it) and the page ~800 px
  wide; nothing is cut: every score, metric value and label, every selectbox's shown value and every button's label
  fits its box (scrollWidth <= clientWidth + 1, measured), and no label breaks inside a word (each word's text lies
  on one line, measured with a Range); a row opened from the map opens the collapsed sidebar with the inspector;
- a lasso over part of the map is tagged, excluded and undone: the G-Vendi on the page changes after the exclusion
  and the map loses exactly the selected rows, the undo brings back the first value and all 300 points, and the page
  never says "not analysed" / "no analysis" in between (watched by a MutationObserver the whole time);
- the WebGL map renders at the screen's pixel ratio, not plotly's fixed 2: at 1x its canvas holds as many pixels as it
  shows; on a 2x screen the first session draws at 1x and the next (the layout script's cookie read) at 2x.
- Curate: a search's matches get the action bar; Exclude takes them out and Undo brings them back, the page staying on
  its Search section (in the URL) with its query.

The 800 px, pixel-ratio and Curate tests are in the default run (the demo, no model); the lasso test is marked slow (AppTest covers exclude
and undo faster: tests/app/test_workbench.py). PRISM_SCREENSHOTS=docs also writes the 800 px shots to docs/.
"""
from pathlib import Path

import pytest

from tests.app.test_browser import (CHROMIUM, FIRST_POINT, MAP_POINTS, Server, browser,  # noqa: F401 (a fixture)
                                    ensure_demo, map_points, shot, wait_idle)

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make browser)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("workbench-ws"), tmp_path_factory.mktemp("workbench-logs"))
    yield s
    s.stop()


# Every element of a kind that is on screen (the sidebar's too when it is open, the popover's portal too), and those
# whose content is wider than their box: a cut value ("57…", a selectbox showing no value) is one of these.
CUT = """() => {
  const shown = e => { const r = e.getBoundingClientRect();
    return e.offsetParent !== null && r.width > 0 && r.height > 0 && r.right > 0 && r.left < innerWidth; };
  const kinds = {
    score: '.st-key-scores-line p, .st-key-scores-line h4, [data-testid="stMetricValue"], '
         + '[data-testid="stMetricValue"] *, [data-testid="stMetricLabel"], [data-testid="stMetricLabel"] *',
    select: '[data-testid="stSelectbox"] input, [data-testid="stNumberInput"] input',
    button: 'button[data-testid^="stBaseButton"] p, [data-testid="stPopoverButton"] p',
  };
  const out = {};
  for (const [kind, sel] of Object.entries(kinds)) {
    const all = [...document.querySelectorAll(sel)].filter(shown);
    out[kind] = {n: all.length, cut: all.filter(e => e.scrollWidth > e.clientWidth + 1).map(
        e => [(e.value || e.innerText || '').slice(0, 40), e.scrollWidth, e.clientWidth])};
  }
  return out;
}"""

# Words (split at spaces, hyphens and slashes, where a browser may break a line) that lie on two lines: a label broken
# inside a word. Labels: the scores' line, metrics, widget labels, buttons, tabs.
BROKEN_WORDS = """() => {
  const sel = '.st-key-scores-line p, .st-key-scores-line h4, [data-testid="stMetricLabel"] p, '
            + '[data-testid="stWidgetLabel"] p, button[data-testid^="stBaseButton"] p, [data-testid="stPopoverButton"] p, '
            + '[role=tab] p';
  const broken = [];
  let words = 0;
  for (const e of document.querySelectorAll(sel)) {
    const r = e.getBoundingClientRect();
    if (e.offsetParent === null || r.width === 0 || r.right <= 0 || r.left >= innerWidth) continue;  // shown only
    const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.textContent.matchAll(/[^\\s\\-\\/]+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        words += 1;
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return {words, broken};
}"""

SIDEBAR = """() => { const s = document.querySelector('[data-testid="stSidebar"]'), r = s.getBoundingClientRect();
  return {collapsed: s.getAttribute('data-collapsed'), left: r.left, right: r.right,
          main: document.querySelector('[data-testid="stMainBlockContainer"]').getBoundingClientRect().width}; }"""


def assert_nothing_cut(page, **at_least) -> None:
    """Nothing of a kind is cut, and at least `at_least[kind]` of them were measured (no test of an empty page)."""
    cut = page.evaluate(CUT)
    for kind, n in at_least.items():
        assert cut[kind]["n"] >= n, (kind, cut[kind])
    assert not [c for k in cut.values() for c in k["cut"]], cut
    words = page.evaluate(BROKEN_WORDS)
    assert words["words"] >= 10 and not words["broken"], words


def demo_map(server, browser, width: int):
    """A new page (its own context) at `width` x 900 on Gradient space with the demo's 300 rows drawn."""
    view = browser.new_page(viewport={"width": width, "height": 900})
    view.set_default_timeout(90_000)
    ensure_demo(server, view)
    view.goto(f"{server.url}/gradient-space?dataset=demo")
    wait_idle(view, timeout=120_000)
    assert map_points(view) == 300
    return view


def test_at_800_px_the_sidebar_starts_collapsed_and_nothing_is_cut(server, browser):  # noqa: F811
    view = demo_map(server, browser, 800)  # a new context: no stored sidebar choice
    try:
        view.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]')"
                               ".getAttribute('data-collapsed') === 'true'", timeout=30_000)
        layout = view.evaluate(SIDEBAR)
        assert layout["right"] <= 0 and layout["main"] >= 700, layout  # out of the way, the page ~800 px wide
        assert view.locator('[data-testid="stExpandSidebarButton"]').is_visible()  # and one click opens it
        view.locator(".st-key-scores-line").get_by_text("G-Vendi").first.wait_for()
        assert_nothing_cut(view, score=2, button=1, select=1)  # the scores' line, All scores, the cluster picker
        shot(view, "gradient-space-800")

        view.get_by_role("button", name="All scores").click()  # 8 metrics, each value and label whole
        view.locator('[data-testid="stMetric"]').nth(7).wait_for()
        assert_nothing_cut(view, score=16)
        view.keyboard.press("Escape")
        view.locator('[data-testid="stMetric"]').first.wait_for(state="hidden")

        picker = view.locator('[class*="st-key-sel-cluster-"] input')  # a cluster's rows selected: the action
        picker.fill("1")  # bar (eight controls) must fit too
        picker.press("Enter")
        view.get_by_text("Selected:").first.wait_for(timeout=60_000)
        wait_idle(view)
        view.get_by_role("button", name="Grow this region").wait_for()
        assert_nothing_cut(view, button=8, select=1)
        view.get_by_role("button", name="Exclude", exact=True).evaluate(  # the bar at the bottom, the map above:
            "e => e.scrollIntoView({block: 'end'})")  # headless software WebGL leaves a canvas mostly scrolled out
        view.wait_for_timeout(300)  # of view blank
        shot(view, "gradient-space-800-selection")

        view.evaluate("() => window.scrollTo(0, 0)")
        view.locator('[data-testid="stMain"]').evaluate("e => e.scrollTo(0, 0)")
        point = view.evaluate(FIRST_POINT)  # a click on a point opens it: the collapsed sidebar opens with it
        view.mouse.move(point["x"], point["y"], steps=5)
        view.wait_for_timeout(500)  # plotly clicks the point it hovers: let the hover land first
        view.mouse.down()
        view.wait_for_timeout(100)
        view.mouse.up()
        side = view.locator('[data-testid="stSidebar"]')
        side.get_by_text("Nearest rows", exact=True).wait_for(timeout=60_000)
        view.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]')"
                               ".getAttribute('data-collapsed') === 'false'", timeout=30_000)
        wait_idle(view)
        assert side.get_by_role("combobox", name="Dataset").input_value() == "demo"
        assert_nothing_cut(view, select=1)  # the sidebar's dataset picker shows its value
        shot(view, "gradient-space-800-inspector")
    finally:
        view.close()


GL_RATIO = """() => { const c = document.querySelector('.js-plotly-plot canvas.gl-canvas-context');
  return c && c.getBoundingClientRect().width ? c.width / c.getBoundingClientRect().width : null; }"""


def test_the_map_renders_at_the_screens_pixel_ratio(server, browser):  # noqa: F811
    view = demo_map(server, browser, 1400)  # 1x: plotly's default (2) drew 4x the pixels shown
    try:
        assert view.evaluate(GL_RATIO) == pytest.approx(1, abs=0.02)
    finally:
        view.close()
    context = browser.new_context(viewport={"width": 1400, "height": 900}, device_scale_factor=2)
    try:
        view = context.new_page()
        view.set_default_timeout(90_000)
        view.goto(f"{server.url}/gradient-space?dataset=demo")
        wait_idle(view, timeout=120_000)
        assert map_points(view) == 300
        assert view.evaluate(GL_RATIO) == pytest.approx(1, abs=0.02)  # a first session: no cookie yet
        assert "prism_dpr=2" in view.evaluate("() => document.cookie")
        view.reload()  # a new session: the cookie came with it
        wait_idle(view, timeout=120_000)
        assert map_points(view) == 300
        view.wait_for_function(f"() => ({GL_RATIO})() > 1.9", timeout=30_000)
    finally:
        context.close()


G_VENDI = """() => { const line = document.querySelector('.st-key-scores-line');
  const m = line && line.innerText.match(/G-Vendi\\s+([0-9]+\\.[0-9]+)/); return m ? m[1] : null; }"""

# set once on the page: whether its text has ever said it is not analysed, over every rerun and redraw in between
WATCH_NOT_ANALYSED = """() => {
  window.prismSaid = [];
  const look = () => { const t = document.body.innerText;
    for (const w of ['not analysed', 'no analysis', 'Not analysed', 'No analysis'])
      if (t.includes(w)) window.prismSaid.push(w); };
  new MutationObserver(look).observe(document.body, {childList: true, subtree: true, characterData: true});
  look(); }"""


def lasso_part(page, left: float, right: float) -> None:
    """A lasso over the band of the map between two fractions of its width (a rectangle drawn as a lasso, inside the
    plot area: its corners hold axis-drag handles)."""
    drag = page.locator(".js-plotly-plot .nsewdrag").first
    drag.scroll_into_view_if_needed()
    drag.hover()  # shows the toolbar: the map opens in pan mode; pick its lasso
    lasso = page.locator('.js-plotly-plot .modebar-btn[data-val="lasso"]').first
    if lasso.count():
        lasso.click(force=True)
    box = drag.bounding_box()
    x0, x1 = box["x"] + max(20, left * box["width"]), box["x"] + right * box["width"]
    y0, y1 = box["y"] + 20, box["y"] + box["height"] - 20
    page.mouse.move(x0, y1)
    page.mouse.down()
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0 + 5, y1)):
        page.mouse.move(x, y, steps=20)
    page.mouse.up()


def selected_count(page) -> int:
    found = page.wait_for_function("() => { const m = document.body.innerText.match(/Selected: ([0-9,]+) sample/);"
                                   " return m ? m[1] : null; }", timeout=10_000)
    return int(found.json_value().replace(",", ""))


def value_changes(page, script: str, before) -> str:
    """Wait for a value read on the page to differ from `before` (and be there), then return it."""
    found = page.wait_for_function(f"b => {{ const v = ({script})(); return v !== null && v !== b ? v : null; }}",
                                   arg=before, timeout=120_000)
    return found.json_value()


@pytest.mark.slow  # a real lasso; AppTest covers exclude, its refresh and undo (tests/app/test_workbench.py)
def test_a_lasso_is_tagged_excluded_and_undone_with_the_score_refreshed(server, browser):  # noqa: F811
    view = demo_map(server, browser, 1400)
    try:
        view.evaluate(WATCH_NOT_ANALYSED)
        first = view.evaluate(G_VENDI)
        assert first is not None
        n = 0
        for _attempt in range(3):  # a lasso drawn while plotly is still laying out is dropped: draw it again
            lasso_part(view, 0.0, 0.45)  # the left of the map: its island of two clusters, not the main mass
            try:
                n = selected_count(view)
                break
            except Exception:
                continue
        wait_idle(view)
        assert 0 < n < 300, n
        view.get_by_role("button", name="Grow this region").wait_for()
        assert_nothing_cut(view, button=8, select=2)  # at 1400 px too: the action bar's labels whole

        view.get_by_placeholder("a tag for these rows").fill("island")
        view.get_by_placeholder("a tag for these rows").press("Enter")
        wait_idle(view)
        view.get_by_role("button", name="Tag", exact=True).click()
        view.get_by_text(f"tag island: {n} rows changed").wait_for(timeout=30_000)  # the action's toast
        wait_idle(view)

        view.get_by_role("button", name="Exclude", exact=True).click()
        excluded = value_changes(view, G_VENDI, first)  # refreshed from cached features, in the page
        wait_idle(view, timeout=120_000)
        view.wait_for_function(f"() => ({MAP_POINTS})() === {300 - n}", timeout=120_000)
        assert excluded != first and view.evaluate(G_VENDI) == excluded
        assert f"{300 - n:,} samples" in view.locator(".st-key-scores-line").inner_text()
        assert view.get_by_text(f"Selected: {n:,} samples").count() == 1  # the selection survives the action
        shot(view, "gradient-space-excluded")

        view.get_by_role("button", name="Undo", exact=True).click()
        assert value_changes(view, G_VENDI, excluded) == first
        wait_idle(view, timeout=120_000)
        view.wait_for_function(f"() => ({MAP_POINTS})() === 300", timeout=120_000)
        assert "300 samples" in view.locator(".st-key-scores-line").inner_text()
        assert view.evaluate("() => window.prismSaid") == []  # never "not analysed" in between
    finally:
        view.close()


def test_curate_a_search_is_excluded_and_undone_and_the_section_stays(server, browser):  # noqa: F811
    """Curate in a real browser: a search's rows get the map's action bar; Exclude takes every match out (the page
    stays on Search, in the URL too, and says how many of the found rows are now excluded), Undo brings them back."""
    view = browser.new_page(viewport={"width": 1400, "height": 900})
    view.set_default_timeout(90_000)
    try:
        ensure_demo(server, view)
        view.goto(f"{server.url}/curate?dataset=demo&tab=search")
        wait_idle(view, timeout=120_000)
        box = view.get_by_label("Search prompts and responses")
        box.fill("apples")
        box.press("Enter")
        found = view.wait_for_function("() => { const m = document.body.innerText.match(/([0-9,]+) row\\(s\\) match/);"
                                       " return m ? m[1] : null; }", timeout=60_000)
        n = int(found.json_value().replace(",", ""))
        assert 0 < n < 300
        wait_idle(view)
        view.locator(".st-key-sel-exclude-demo-search button").first.click()
        view.get_by_text(f"of them since excluded").wait_for(timeout=60_000)
        wait_idle(view)
        assert f"The actions below act on the {n:,} row(s) this search found, {n:,} of them" in view.inner_text("body")
        assert "tab=search" in view.url and box.input_value() == "apples"  # the section and the query stay
        view.locator(".st-key-sel-undo-demo-search button").first.click()
        view.get_by_text("of them since excluded").wait_for(state="detached", timeout=60_000)
        wait_idle(view)
        assert f"{n:,} row(s) match" in view.inner_text("body") and "tab=search" in view.url
    finally:
        view.close()
