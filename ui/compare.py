"""Compare page glue: which datasets (kept in the URL) and how the shared map is made, in the sidebar; the comparison
run; its scores as one line and as a table."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import compare as cmp
from ui.analysis import PageOptions
from ui.curatedata import escape_md
from ui.state import get_store

METHODS = {"union": "fit on all of them together", "reference": "place all onto one dataset's own map"}
COMPARE_MAP_HEIGHT = 640  # px: under the one-line header it ends above the fold of a 1400x900 window


def sidebar_settings(opts: PageOptions) -> tuple[list[str], str, str | None]:
    """The datasets and the shared map's method, in the sidebar (beside the map, not above it)."""
    with st.sidebar:
        picked = pick_datasets(opts)
        method, reference = map_method(picked)
    return picked, method, reference


def pick_datasets(opts: PageOptions) -> list[str]:
    """2-5 datasets analysed under the current options; the choice lives in the URL (?compare=a,b)."""
    store = get_store()
    ok, why = cmp.comparable(store, store.dataset_names(), opts.feature_config().key(), opts.dim)
    wanted = [d for d in st.query_params.get("compare", "").split(",") if d in ok]
    picked = st.multiselect(f"Datasets to compare (2–{cmp.MAX_DATASETS})", ok, default=wanted or ok[-2:],
                            max_selections=cmp.MAX_DATASETS, key=f"compare-{','.join(ok)}",
                            help="a seed and its grown exports: add them as datasets from the Synthesis page")
    st.query_params["compare"] = ",".join(picked)
    if why:
        with st.expander(f"{len(why)} dataset(s) cannot be compared under {opts.label()} yet"):
            st.dataframe(pd.DataFrame([{"dataset": d, "why": w} for d, w in why.items()]), hide_index=True,
                         width="stretch")
    return picked


def map_method(picked: list[str]) -> tuple[str, str | None]:
    method = st.radio("Shared map", list(METHODS), format_func=METHODS.get, key="compare-method",
                      help="fit on all: no dataset's shape is privileged (a fit of up to "
                           f"{cmp.SHARED_FIT_ROWS:,} distinct rows, the rest placed) · onto one map: the map you "
                           "know, but regions it does not cover are squeezed onto its nearest ones")
    reference = st.selectbox("Reference map", picked, key=f"compare-ref-{','.join(picked)}") \
        if method == "reference" else None
    return method, reference


def run(picked: list[str], opts: PageOptions, method: str, reference: str | None) -> cmp.Comparison | None:
    store = get_store()
    try:
        with st.spinner("Comparing: curves, baselines at a common n, and the shared map (cached after the first "
                        "time)…"):
            return cmp.compare(store, picked, opts.feature_config().key(), opts.dim, method=method,
                               reference=reference, seed=opts.seed)
    except ValueError as exc:  # e.g. the reference has no map yet
        st.error(str(exc))
        return None


def score_line(result: cmp.Comparison) -> str:
    """The datasets' G-Vendi at the common n on one line, each with its own n ("demo **9.81** (n = 300)")."""
    parts = [f"{escape_md(s.dataset)} **{s.g_vendi_common:.2f}** :gray[(n = {s.n:,})]" for s in result.scores]
    return f"**G-Vendi at n = {result.common_n:,}**: " + " · ".join(parts)


def scores_table(result: cmp.Comparison) -> pd.DataFrame:
    n = result.common_n
    best = max(s.g_vendi_common for s in result.scores)
    rows = []
    for s in result.scores:
        b = s.baselines
        rows.append({"dataset": s.dataset, "n": s.n, "G-Vendi (own n)": round(s.g_vendi, 2),
                     f"G-Vendi at n = {n:,}": round(s.g_vendi_common, 2),
                     "vs best": f"{s.g_vendi_common / best:.0%}",
                     f"embedding Vendi at n = {n:,}": round(b["embedding_vendi"], 2) if "embedding_vendi" in b
                     else None,
                     "distinct-1": round(b["distinct_1"], 3), "distinct-2": round(b["distinct_2"], 3),
                     "compression": round(b["compression_ratio"], 2)})
    return pd.DataFrame(rows)
