"""The app's layout in narrow windows (issue 21: usable at 800 px), for every page.

Streamlit's own "auto" sidebar collapses only at 768 px and below: at 800 px its 300 px sidebar left the page 500 px.
Here, below NARROW px, the sidebar starts collapsed (its toggle opens it): a small script clicks Streamlit's collapse
button once per page load, unless the user has chosen a state before (Streamlit keeps that choice in localStorage,
and the script removes the entry its own click left, so a wide window still opens with the sidebar). Rows of small
controls (the scores' line, the selection's action bar, a row of metrics) wrap instead of squeezing their labels, a
button's label never breaks inside a word, and a row opened in the inspector (which lives in the sidebar) opens the
collapsed sidebar.
"""
from __future__ import annotations

import streamlit as st

NARROW = 1024  # px: below this an open sidebar (300 px) would leave the page under ~700 px
DPR_COOKIE = "prism_dpr"  # the screen's device pixel ratio, written by COLLAPSE_SCRIPT

COLLAPSE_SCRIPT = """<script>
(() => {
  if (window.prismNarrowChecked) return;  // once per page load (reruns and page changes keep the window)
  window.prismNarrowChecked = true;
  try {  // the screen's pixel ratio, for the WebGL maps of the next sessions (gl_config)
    document.cookie = '%(cookie)s=' + Math.min(4, Math.max(1, window.devicePixelRatio || 1)) +
                      '; path=/; max-age=31536000; SameSite=Lax';
  } catch (e) {}
  const KEY = 'stSidebarCollapsed-';
  const chosen = () => { try { return Object.keys(localStorage).filter(k => k.startsWith(KEY)); }
                         catch (e) { return []; } };
  // a click of ours is stored by Streamlit as the user's choice: forget it, so a wide window opens the sidebar
  const forget = () => setTimeout(
    () => chosen().forEach(k => { try { localStorage.removeItem(k); } catch (e) {} }), 0);
  const collapse = (tries) => {
    if (window.innerWidth >= %(narrow)d || chosen().length) return;  // wide, or the user's own choice
    const side = document.querySelector('[data-testid="stSidebar"]');
    const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (!side || !button) { if (tries > 0) setTimeout(() => collapse(tries - 1), 100); return; }
    if (side.getAttribute('data-collapsed') !== 'false') return;
    button.click();
    forget();
  };
  collapse(100);
  let timer = null;  // narrowed later (not by the user's toggle): collapse again, as Streamlit does at 768 px
  window.addEventListener('resize', () => { clearTimeout(timer); timer = setTimeout(() => collapse(0), 300); });
  let opened = null;  // a row opened in the inspector (the sidebar's) while the sidebar is collapsed: show it
  setInterval(() => {
    const close = document.querySelector('[data-testid="stSidebar"] [class*="st-key-inspect-close-"]');
    const row = close ? (close.closest('[data-testid="stHorizontalBlock"]') || close).innerText : null;
    const side = document.querySelector('[data-testid="stSidebar"]');
    const expand = document.querySelector('[data-testid="stExpandSidebarButton"]');
    if (row && row !== opened && side && side.getAttribute('data-collapsed') === 'true' && expand) {
      expand.click();
      forget();
    }
    opened = row;
  }, 400);
})();
</script>""" % {"narrow": NARROW, "cookie": DPR_COOKIE}

# rows of metrics and of small controls (the selection's action bar) wrap at any width, the scores' line below NARROW;
# a column there is never narrower than its content, so it moves to the next line instead of cutting its value or
# label ("57…"). Each such row sits in a keyed container (a key gives its element a st-key-… class: metric_columns,
# the action bar's "sel-bar-…", the selection's heading "sel-head-…"), so plain class selectors find it: an earlier
# `:has()` form re-matched the whole page on every element Streamlit added, and the page's load paid for it
# (bench/page_load.py, issue 21). The main column starts near the top on every page (Streamlit's default leaves ~6rem),
# so a map fits above the fold.
LAYOUT_CSS = """<style>
.st-key-prism-layout {display: none;}
[data-testid="stMainBlockContainer"] {padding: 2.2rem 2rem 1rem 2rem;}
[data-testid="stBaseButton-secondary"] p, [data-testid="stBaseButton-primary"] p,
[data-testid="stPopoverButton"] p {word-break: normal; overflow-wrap: normal; hyphens: none;}
[class*="st-key-metrics-"] [data-testid="stHorizontalBlock"],
[class*="st-key-sel-bar-"] [data-testid="stHorizontalBlock"],
[class*="st-key-sel-head-"] [data-testid="stHorizontalBlock"] {flex-wrap: wrap; row-gap: 0.5rem;}
[class*="st-key-metrics-"] [data-testid="stColumn"], [class*="st-key-sel-bar-"] [data-testid="stColumn"] {
  min-width: fit-content; max-width: 100%%; flex: 1 1 auto; width: auto;}
[class*="st-key-sel-head-"] [data-testid="stColumn"]:last-child {min-width: min(100%%, 15rem);}
@media (max-width: %(narrow_max)dpx) {
  [data-testid="stMainBlockContainer"] {padding-left: 1.25rem; padding-right: 1.25rem;}
  .st-key-scores-line [data-testid="stHorizontalBlock"] {flex-wrap: wrap; row-gap: 0.5rem;}
  .st-key-scores-line [data-testid="stColumn"] {min-width: fit-content; max-width: 100%%; flex: 1 1 auto; width: auto;}
}
</style>""" % {"narrow_max": NARROW - 1}


def narrow_window_layout() -> None:
    """The CSS and the sidebar's script, as one element in a hidden container: call once per run, before the page
    draws."""
    with st.container(key="prism-layout"):
        st.html(LAYOUT_CSS + COLLAPSE_SCRIPT, unsafe_allow_javascript=True)


def metric_columns(spec, key: str):
    """st.columns(spec) for a row of metrics, in a keyed container whose columns wrap instead of cutting a value
    (LAYOUT_CSS); `key` names the row, unique on its page."""
    return st.container(key=f"metrics-{key}").columns(spec)


def gl_pixel_ratio(cookies) -> float:
    """The WebGL maps' pixel ratio: the screen's device pixel ratio (the cookie the layout script writes), else 1;
    within plotly's 1-4. Plotly's own default is 2 whatever the screen: on a 1x screen every map then rendered 4x the
    pixels it shows, which in software WebGL (a browser without a GPU) was the largest cost of the map-first page's
    load (bench/page_load.py, issue 21: the canvas's fill grows with its area). A 2x screen's first session draws at 1
    (the cookie comes with the next)."""
    try:
        ratio = float(cookies.get(DPR_COOKIE, 1))
    except (TypeError, ValueError):
        return 1.0
    return min(4.0, max(1.0, ratio)) if ratio == ratio else 1.0  # NaN: 1


def gl_config() -> dict:
    """Plotly config for a chart of WebGL traces (the maps): its pixel ratio (gl_pixel_ratio)."""
    try:
        cookies = st.context.cookies
    except Exception:  # noqa: BLE001  (no session context: AppTest, bare mode)
        cookies = {}
    return {"plotGlPixelRatio": gl_pixel_ratio(cookies)}
