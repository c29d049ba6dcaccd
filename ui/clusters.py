"""Clusters on the Gradient space page: what each sparse rule flags on this data, the cluster table (paged, with each
cluster's contribution to G-Vendi) and the drill-down, whose picker is keyed by the map so it always names the
cluster whose rows are shown."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui.mapdata import MapData, rule_reports, table_view
from ui.tables import paged

SELECTBOX_MAX = 100  # past this many clusters the picker is a number field (a 1,000-option list is slow and useless)


def rules_section(data: MapData, density_quantile: float, mass_fraction: float) -> None:
    reports = rule_reports(data.key, density_quantile, mass_fraction, data)
    st.markdown("**What each sparse rule finds, on this data**")
    st.caption("The three rules share this map's clusters; each flags different rows. 'Rows flagged' counts rows "
               "in the thin region; the label mix says which kinds of rows those are.")
    table = pd.DataFrame([{"rule": r.rule + (" (in use)" if r.rule == data.gmap.rule else ""),
                           "rows flagged": r.rows, "clusters flagged": r.clusters,
                           **{f"flagged by {col}": mix for col, mix in r.label_mix.items()},
                           "what it finds, and why": r.help} for r in reports])
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"what it finds, and why": st.column_config.TextColumn(width="large")})


def cluster_table(data: MapData, summaries, contributions: np.ndarray | None) -> list[int]:
    """The paged cluster table, sparse clusters first (smallest first); returns that order."""
    order = sorted(range(data.gmap.k), key=lambda c: (not summaries[c].sparse, summaries[c].size))
    table = pd.DataFrame([{
        "cluster": s.cluster, "size": s.size, "sparse": s.sparse,
        "contribution": round(float(contributions[s.cluster]), 3) if contributions is not None else None,
        "distinctive words": ", ".join(s.words[:6]),
        **{f"{col} mix": ", ".join(f"{k}: {v}" for k, v in s.label_mix[col].items()) for col in data.label_cols}}
        for s in (summaries[c] for c in order)])
    paged(table, f"clusters-{data.key}", column_config={"contribution": st.column_config.NumberColumn(
        help="how much G-Vendi drops when the cluster is left out (≈ 0: its directions are covered by others)")})
    return order


def pick_cluster(dataset: str, data: MapData, summaries, order: list[int]) -> int:
    key = f"drill-{dataset}-{data.key}"  # a new map is a new widget: never a stale pick over another map's rows
    if data.gmap.k <= SELECTBOX_MAX:
        return st.selectbox("Drill into a cluster", order, key=key, format_func=lambda c: (
            f"cluster {c} · {summaries[c].size} samples{' · sparse' if summaries[c].sparse else ''}"))
    return int(st.number_input(f"Drill into a cluster (0–{data.gmap.k - 1}; the table lists sparse ones first)",
                               0, data.gmap.k - 1, order[0], key=key))


def clusters_section(dataset: str, data: MapData, summaries, contributions: np.ndarray | None) -> None:
    if contributions is None:
        st.caption("The contribution column fills in when it has been computed.")
    order = cluster_table(data, summaries, contributions)
    chosen = pick_cluster(dataset, data, summaries, order)
    s = summaries[chosen]
    share = f"; contribution to G-Vendi {contributions[chosen]:+.3f}" if contributions is not None else ""
    st.markdown(f"**Cluster {s.cluster}** — {s.size} samples, {'sparse' if s.sparse else 'dense'}{share}; "
                f"distinctive words: {', '.join(s.words) or '(none)'}")
    members = data.frame[data.frame["cluster"].to_numpy() == chosen]
    paged(members, f"members-{data.key}-{chosen}", view=lambda f: table_view(f, data.label_cols))
    st.caption(f"Showing {len(members)} rows of cluster {chosen}; sparse-region samples overall: "
               f"{int(np.sum(data.gmap.sparse_rows))} of {len(data.gmap.ids)}.")
