"""The Gradient space page as a map-first workbench: the dataset and analysis settings in the sidebar, the scores on
one compact line (every metric with its meaning one click away), and the kept rows re-analysed from cached features
right after an exclusion, an inclusion or an undo (never a "not analysed" page while features cover the kept rows)."""
from __future__ import annotations

import streamlit as st

from core.analysis.analyse import cached_overview
from ui.analysis import INLINE_RECLUSTER_ROWS, PageOptions, options_form, start_analysis
from ui.curatedata import escape_md
from ui.state import get_store, pick_dataset

PREVIOUS_MAP = "workbench-previous-map"  # session key: the map drawn before an action, whose places a refresh reuses


def sidebar_settings():
    """The dataset picker, a place for the row inspector, and the analysis settings (a collapsed panel), in the
    sidebar: (dataset, options, the inspector's container)."""
    heading = st.empty()  # the page's name while there is no dataset; then it heads the scores' line
    heading.markdown("#### Gradient space")
    with st.sidebar:
        dataset = pick_dataset()
    heading.empty()
    with st.sidebar:
        slot = st.container()  # the row inspector, filled at the end of the page's run
        with st.expander("Analysis settings", expanded=False):
            opts = options_form()
    return dataset, opts, slot


def remember_map(dataset: str, gmap) -> None:
    st.session_state[PREVIOUS_MAP] = (dataset, gmap)


def refreshed_overview(dataset: str, opts: PageOptions, n: int) -> dict | None:
    """The scores of the kept rows; when there are none yet but every kept row has cached features (the rows just
    changed: an exclusion, an inclusion, an undo), the analysis is run again from them: in the page when small
    (a spinner says so), else as the analyse job. None when there is nothing to show yet."""
    from core.analysis.refresh import can_refresh, refresh

    store = get_store()
    overview = cached_overview(store, dataset, opts)
    if overview is not None:
        return overview
    previous = st.session_state.get(PREVIOUS_MAP)
    gmap = previous[1] if previous and previous[0] == dataset else None
    if not can_refresh(store, dataset, opts, gmap):
        return None
    if n > INLINE_RECLUSTER_ROWS:
        start_analysis(dataset, opts)
        st.rerun()
    with st.spinner(f"The kept rows changed: refreshing the scores and the map of {n:,} rows from cached "
                    "features…"):
        refresh(store, dataset, opts, gmap)
    return cached_overview(store, dataset, opts)


def compact_metrics(dataset: str, overview: dict, gmap, dim: int, label: str) -> None:
    """One line: the page and dataset, the scores, and a popover with every metric, its meaning, the suspect rows'
    effect and the features used."""
    from ui.insight import metrics_row

    n, sparse = len(gmap.ids), int(gmap.sparse_clusters.sum())
    line = st.container(key="scores-line")  # below 1024 px its columns wrap (ui/layout.py), never cut
    c0, c1, c2 = line.columns([1.9, 4.3, 0.8], vertical_alignment="center")
    c0.markdown(f"#### Gradient space · {escape_md(dataset)}")
    c1.markdown(f"**G-Vendi** **{overview['g_vendi']:.2f}** · {n:,} samples · k = {gmap.k} · {sparse} sparse "
                f"cluster{'s' if sparse != 1 else ''} ({gmap.rule} rule) · :gray[{label}]")
    with c2.popover("All scores", width="stretch"):
        metrics_row(overview, gmap, dim, label)
