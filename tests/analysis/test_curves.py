"""Diversity curves and per-cluster contributions on constructed data."""
import numpy as np
import pytest

from core.analysis.curves import cluster_contributions, curve_sizes, diversity_curve
from core.analysis.diversity import vendi_score


def clusters(sizes, d=40, spread=0.4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), d))
    X = np.concatenate([c + spread * rng.normal(size=(n, d)) for c, n in zip(centres, sizes)])
    return X.astype(np.float32), np.repeat(np.arange(len(sizes)), sizes)


def test_the_curve_rises_with_n_in_expectation_and_ends_at_the_datasets_g_vendi():
    X, _ = clusters([80, 60, 40, 20])
    c = diversity_curve(X, points=8, draws=6)
    assert c.sizes[-1] == len(X) and c.sizes == sorted(c.sizes)
    assert abs(c.mean[-1] - vendi_score(X)) < 1e-6 * c.mean[-1]  # unit rows in float32 vs as given
    assert all(b >= a - 0.05 * a for a, b in zip(c.mean, c.mean[1:]))  # monotone up to draw noise
    assert c.mean[-1] > c.mean[0]
    assert all(lo <= m <= hi for lo, m, hi in zip(c.low, c.mean, c.high))
    assert abs(c.at(c.sizes[3]) - c.mean[3]) < 1e-9


def test_curve_sizes_span_to_n():
    assert curve_sizes(5) == [5]
    s = curve_sizes(100_000)
    assert s[0] == 10 and s[-1] == 100_000 and len(s) <= 11


def test_an_exact_duplicate_cluster_contributes_about_nothing_and_a_distinct_one_a_lot():
    X, labels = clusters([50, 50, 30], seed=1)
    dup = X[labels == 2]  # a fourth cluster made of exact copies of the third
    X4 = np.concatenate([X, dup])
    labels4 = np.concatenate([labels, np.full(len(dup), 3)])
    contrib = cluster_contributions(X4, labels4, 4)
    assert abs(contrib[3]) < 0.1 * max(contrib[:2])  # ~0 against what a distinct cluster holds
    assert contrib[0] > 0.3 and contrib[1] > 0.3
    approx = cluster_contributions(X4, labels4, 4, max_exact=0)  # the first-order path agrees in sign and rank
    assert np.argsort(approx)[-1] in (0, 1) and abs(approx[3]) < 0.15 * max(approx[:2])


def marked_figure(n: int = 33):
    import types

    from core.plots import curves_figure

    c = types.SimpleNamespace(sizes=[2, 4, 8, 16, 33], mean=[2, 3, 5, 7, 8], low=[2, 3, 5, 7, 8],
                              high=[2, 3, 5, 7, 8])
    return curves_figure({"a": c}, mark_n=n)


def test_the_compared_n_is_marked_at_n():
    """On a log axis plotly places a shape at its data value and an annotation at its log10 (issue 21: the line was
    given log10(33) and drawn at n = 1.5; the annotation, given 33, would stretch the axis to 10^33)."""
    fig = marked_figure(33)
    (line,) = fig.layout.shapes
    assert line.x0 == line.x1 == 33
    assert fig.layout.annotations[0].x == pytest.approx(np.log10(33))


@pytest.mark.slow
def test_the_marker_is_drawn_at_n_in_chromium():
    """The same, read off the page Chromium draws: the line's pixel x is the axis' pixel for n = 33 (it was at the
    pixel of n = 1.5)."""
    from pathlib import Path

    import plotly.io as pio
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed")
    html = pio.to_html(marked_figure(33), include_plotlyjs=True, full_html=True, div_id="fig")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = browser.new_page()
        page.set_content(html)
        page.wait_for_selector(".shapelayer path", state="attached")
        got = page.evaluate("""() => { const gd = document.getElementById('fig'), xa = gd._fullLayout.xaxis;
            const line = document.querySelector('.shapelayer path').getBoundingClientRect();
            const left = gd.getBoundingClientRect().x;
            return {line: line.x + line.width / 2 - left, at_n: xa._offset + xa.l2p(Math.log10(33)), range: xa.range}; }""")
        browser.close()
    assert got["line"] == pytest.approx(got["at_n"], abs=2)
    assert 0 < got["range"][0] < got["range"][1] < np.log10(60)  # about the curve's span (2..33), not stretched


def test_a_selected_point_gives_its_row_whatever_form_customdata_takes():
    """The browser sends a typed-array row as {"0": row, "1": cluster}: reading it as a list raised KeyError."""
    from core.plots import selected_row

    assert selected_row({"customdata": {"0": 7, "1": 2}}) == 7
    assert selected_row({"customdata": [7, 2]}) == 7
    assert selected_row({"customdata": 7}) == 7
    assert selected_row({"point_index": 3}) is None
