"""What makes a G-Vendi value readable: its ceiling, its mode and model, its diversity curve, where it sits against the
demo's curve at the same n, and how much each cluster contributes. Curves and contributions come from the cached
features (no model) and are cached in the workspace; small ones are computed in the page, large ones by a job."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core.analysis import cache, compare
from core.analysis.curves import Curve
from core.analysis.demo import DEMO_NAME
from core.plots import curves_figure
from ui.jobs import background
from ui.layout import metric_columns
from ui.state import get_store, rows_in_view

INLINE_CURVE_ROWS = 3_000  # ~50 Vendi scores of subsets up to n: about a second up to here
INLINE_CONTRIBUTION_COST = 2e10  # ~flops of the exact leave-one-out spectra computed in the page


def g_vendi_help(n: int, dim: int) -> str:
    return (f"≈ the number of effectively distinct gradient directions in the data (exp of the entropy of the "
            f"features' similarity spectrum); at most min(n, d) = min({n:,}, {dim}) = {min(n, dim):,}; it grows with "
            "n, so datasets of different sizes are compared at equal n, on their diversity curves.")


def curve(dataset: str, config_key: str, dim: int, n: int) -> Curve | None:
    """The dataset's diversity curve: cached, computed in the page when small, else in the background (None)."""
    store = get_store()
    return background("curve", dataset, {"key": cache.curve_key(store, dataset, config_key, dim,
                                                                 compare.CurveSettings()).slot},
                      lambda: compare.peek_curve(store, dataset, config_key, dim),
                      lambda: compare.cached_curve(store, dataset, config_key, dim),
                      inline=n <= INLINE_CURVE_ROWS, what="the diversity curve")


def demo_curve(dataset: str, config_key: str, dim: int) -> Curve | None:
    """The demo's curve under the same features, when the demo is in the workspace and fully analysed with them."""
    store = get_store()
    if dataset == DEMO_NAME or not store.has_dataset(DEMO_NAME):
        return None
    if store.feature_coverage(DEMO_NAME, config_key, dim) < rows_in_view(DEMO_NAME):
        return None
    return compare.cached_curve(store, DEMO_NAME, config_key, dim)  # 300 rows: well under a second


def contributions(gmap, dim: int) -> np.ndarray | None:
    store = get_store()
    n = len(gmap.ids)
    cost = min(gmap.k, 200) * min(n, dim) ** 3 + gmap.k * n * dim
    return background("contributions", gmap.dataset, {"key": cache.contributions_key(gmap.key).slot},
                      lambda: compare.peek_contributions(store, gmap.key),
                      lambda: compare.cached_contributions(store, gmap, dim),
                      inline=cost <= INLINE_CONTRIBUTION_COST, what="each cluster's contribution")


def relative_text(n: int, own: Curve | None, ref: Curve | None) -> str | None:
    """'At n = 300: 61.2 here, 48.0 for the demo (1.28x)': both read on their curves at the same n."""
    if own is None or ref is None:
        return None
    at = min(n, ref.sizes[-1], own.sizes[-1])
    mine, theirs = own.at(at), ref.at(at)
    return (f"At n = {at:,} (both read on their curves): **{mine:.1f}** here against **{theirs:.1f}** for the demo "
            f"({mine / theirs:.2f}x) under the same mode and model.")


def curve_section(dataset: str, config_key: str, dim: int, n: int, label: str) -> None:
    own = curve(dataset, config_key, dim, n)
    ref = demo_curve(dataset, config_key, dim)
    c1, c2 = st.columns([3, 2])
    with c2:
        st.markdown("**Reading G-Vendi**")
        st.caption(g_vendi_help(n, dim))
        text = relative_text(n, own, ref)
        if text:
            st.markdown(text)
        elif dataset != DEMO_NAME:
            st.caption("Load the demo on the Data page (same options) to see this dataset against it at equal n.")
        st.caption(f"Features: {label}. Scores of other modes or models are not comparable.")
    with c1:
        if own is not None:
            fig = curves_figure({dataset: own}, reference=("demo (reference)", ref) if ref else None,
                                mark_n=min(n, ref.sizes[-1]) if ref else None, height=300)
            st.plotly_chart(fig, width="stretch", key=f"curve-{dataset}-{config_key}")


def metrics_row(overview: dict, gmap, dim: int, label: str) -> None:
    """G-Vendi beside the baselines, each with what it means; mode and model said under them."""
    from core.analysis.sparsity import RULE_HELP

    n = len(gmap.ids)

    def fmt(key: str, digits: int) -> str:
        return f"{overview[key]:.{digits}f}" if key in overview else "—"

    metrics = [("G-Vendi", f"{overview['g_vendi']:.2f}", g_vendi_help(n, dim)),
               ("Embedding Vendi", fmt("embedding_vendi", 2), "Vendi score of all-MiniLM-L6-v2 text embeddings "
                                                               "(meaning, not what the model learns)"),
               ("Distinct-1", fmt("distinct_1", 3), "unique words / all words"),
               ("Distinct-2", fmt("distinct_2", 3), "unique word pairs / all word pairs"),
               ("Compression", fmt("compression_ratio", 2), "raw / gzip bytes (higher = more repetitive)"),
               ("Samples", f"{n:,}", None), ("Clusters k", f"{gmap.k}", None),
               ("Sparse clusters", f"{int(gmap.sparse_clusters.sum())}", f"{gmap.rule} rule: {RULE_HELP[gmap.rule]}")]
    for col, (name, value, help_text) in zip(metric_columns(len(metrics), "scores"), metrics):
        col.metric(name, value, help=help_text)
    suspect_line(overview, gmap, dim)
    st.caption(f"Scores of this dataset computed with **{label}** · {dim}-dim features. G-Vendi grows with n: the "
               "Diversity curve tab reads it against the demo's at equal n, the Compare page against your others.")


def suspect_line(overview: dict, gmap, dim: int) -> None:
    """G-Vendi with and without the quality read's suspect rows (the map's count), e.g. 'G-Vendi 57.42 · 56.91
    without 3 suspect rows'; computed here on maps small enough to read every row's quality, else by the analysis."""
    from ui.qualitydata import QUALITY_MAP_ROWS, clean_g_vendi, g_vendi_text

    n_suspect = int(gmap.suspect.sum()) if gmap.suspect is not None else 0
    small = len(gmap.ids) <= QUALITY_MAP_ROWS
    with st.spinner("G-Vendi without the suspect rows…"):
        clean = clean_g_vendi(get_store(), gmap.dataset, gmap.config_key, dim, n_suspect, compute=small)
    text = g_vendi_text(overview["g_vendi"], clean, n_suspect, pending=not small)
    st.caption(f"**{text}**" + (" · suspect rows are junk, mismatched or degenerate rows by the quality read: "
                                "crosses on the map, listed with their reasons on the Curate page (Suspect rows)"
                                if n_suspect else ""))
