"""The map on the Gradient space page, at full width: colour options in the sidebar (kept in the URL and keyed by the
map, so the radio always says what the map shows; clusters, label columns, sparsity scores and the quality read's
signals), suspect rows as grey crosses with their reasons in the hover, as many cluster names as fit, a density image
past 50k rows, a 'how to read' note, selections that act (ui/selection_actions.py) and a clicked point opened in the
inspector (ui/inspector.py), and downloads (HTML, CSV, Parquet) built only when clicked."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis.sparsity import RULE_HELP
from core.plots import map_figure, plan_points, selected_row
from ui.layout import gl_config
from ui.mapdata import MapData
from ui.qualitydata import SIGNAL_HELP, SIGNAL_PREFIX, SIGNALS, signal_choices

SCORES = {"density": "density", "rel. mass": "rel. mass"}
SUSPECT_READ = ("Crosses are suspect rows (the quality read: hover one for why; Curate → Suspect rows lists them), "
                "grey unless the map is coloured by a score: the clusters' rules leave them out, so they are never "
                "sparse. ")


def score_column(color_by: str, data: MapData) -> str | None:
    """The frame column holding a per-sample score to colour by (None: a cluster or label colouring)."""
    if color_by in SCORES:
        return SCORES[color_by]
    return SIGNAL_PREFIX + color_by if color_by in SIGNALS and color_by not in data.label_cols else None


def colour_choice(dataset: str, data: MapData) -> str:
    """The map's colouring, chosen in the sidebar (beside the map, not above it)."""
    signals = signal_choices(data.frame, [*data.label_cols, *SCORES])
    choices = ["cluster", *data.label_cols, *SCORES, *signals]
    wanted = st.query_params.get("color", "cluster")
    with st.sidebar:
        picked = st.radio("Colour by", choices, index=choices.index(wanted) if wanted in choices else 0,
                          horizontal=True, key=f"color-{dataset}-{data.key}",
                          help="density: mean similarity to the 10 nearest samples · rel. mass: how much of the "
                               "dataset points along the sample's gradient, against a typical sample (1 = typical); "
                               "low = thin · " + SIGNAL_HELP)
        if not {"loss", "IFD"} & set(signals):
            st.caption("loss and IFD are not offered: the proxy model's losses of these rows are not computed yet "
                       "(analyse again to compute them).")
    if picked == "cluster":
        st.query_params.pop("color", None)
    else:
        st.query_params["color"] = picked
    return picked


def cluster_names(data: MapData, summaries) -> dict[int, str]:
    """Every cluster's name, in the order they claim a place on the map: sparse clusters first, then by size (the
    plot draws the first that fit, core.plots.placed_labels; every point's hover names its cluster)."""
    order = sorted(range(data.gmap.k), key=lambda c: (not summaries[c].sparse, -summaries[c].size, c))
    return {c: f"{c}: " + ", ".join(summaries[c].words[:2]) if summaries[c].words else str(c) for c in order}


@st.cache_resource(max_entries=6, show_spinner="Drawing the map…")
def _figure(map_key: str, color_by: str, _data: MapData, _names: dict[int, str]):
    g, frame = _data.gmap, _data.frame
    column = score_column(color_by, _data)
    values = frame[column].to_numpy(dtype=np.float64) if column else None
    suspect = frame["suspect"].to_numpy(dtype=bool)
    return map_figure(frame, g.labels, g.sparse_rows, g.xy, color_by=color_by, values=values, cluster_names=_names,
                      plan=plan_points(g.sparse_rows, suspect=suspect), suspect=suspect,
                      reasons=frame["reasons"].to_numpy(), height=MAP_HEIGHT,
                      dragmode="pan")  # a click selects (opens) a point; lasso and box are in the toolbar


def how_to_read(data: MapData) -> None:
    g = data.gmap
    st.caption(
        "Each point is a sample. Samples whose gradients point the same way (the model would learn alike from them) "
        "sit close together; the distance between far-apart groups means little. "
        f"Colours are the {g.k} clusters (spherical k-means on the gradients), named by their most distinctive words "
        "(as many names as fit; hover a point for its cluster's). "
        f"Open diamonds are sparse-region samples under the **{g.rule}** rule: {RULE_HELP[g.rule].split(':')[0]}; "
        "dots are the rest. " + (SUSPECT_READ if data.frame["suspect"].any() else "") +
        "Click a point to open it; pick the lasso or box in the chart's toolbar to select points to tag, exclude or "
        "compare; double-click clears. "
        "The camera button in the chart's toolbar saves a PNG.")


MAP_HEIGHT = 660  # px (~75% of a 900 px window): under the one-line header and the tabs it ends above 900 px


def map_section(dataset: str, data: MapData, summaries, opts) -> None:
    """The map at full width, then the selection's panel (ui/selection_actions.py): a click opens the point in the
    inspector, a lasso or box selects rows to act on; how to read it and the downloads below."""
    from ui.inspector import inspect
    from ui.selection_actions import follow_chart, selection, selection_panel

    color_by = colour_choice(dataset, data)
    fig = _figure(data.key, color_by, data, cluster_names(data, summaries))
    plan = plan_points(data.gmap.sparse_rows, suspect=data.frame["suspect"].to_numpy(dtype=bool))
    chart_key = f"map-{dataset}-{data.key}"
    event = st.plotly_chart(fig, on_select="rerun", selection_mode=("points", "box", "lasso"), key=chart_key,
                            width="stretch", config=gl_config())
    points = (event.selection.points if event and event.selection else []) or []
    rows = sorted({r for r in map(selected_row, points) if r is not None})
    ids = [data.gmap.ids[r] for r in rows if r < len(data.gmap.ids)]
    before = selection(dataset)
    chosen = follow_chart(dataset, chart_key, ids)
    if len(ids) == 1 and ids != before:
        inspect(dataset, ids[0])  # a clicked point opens in the inspector
    selection_panel(dataset, chosen, data, opts)
    c1, c2 = st.columns([3, 2])
    c1.caption(plan.note(len(data.gmap.ids)) + " · click a point to open it; the toolbar's lasso or box selects "
               "rows to act on; double-click clears")
    with c2.expander("How to read this map"):
        how_to_read(data)
    downloads(dataset, data, fig)


def scores_frame(data: MapData) -> pd.DataFrame:
    g = data.gmap
    return data.frame[["id", *data.label_cols]].assign(
        cluster=g.labels, sparse=g.sparse_rows, suspect=data.frame["suspect"].to_numpy(dtype=bool),
        reasons=["; ".join(r) for r in data.frame["reasons"]], density=g.density.astype(np.float32),
        mass=(g.mass if g.mass is not None else np.full(len(g.ids), np.nan)).astype(np.float32),
        relative_mass=data.frame["rel. mass"].to_numpy(), x=g.xy[:, 0], y=g.xy[:, 1],
        rule=g.rule, k=g.k)


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def downloads(dataset: str, data: MapData, fig) -> None:
    """Built on click (a callable), not on every run of the page: the HTML holds plotly.js and every point."""
    c1, c2, c3, _ = st.columns([1, 1, 1, 2])
    c1.download_button("Map as HTML", lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                       file_name=f"{dataset}-map.html", mime="text/html", on_click="ignore",
                       help="interactive and offline (plotly.js inside); for a PNG use the camera in the toolbar")
    c2.download_button("Clusters + scores (CSV)", lambda: scores_frame(data).to_csv(index=False),
                       file_name=f"{dataset}-clusters.csv", mime="text/csv", on_click="ignore")
    c3.download_button("Clusters + scores (Parquet)", lambda: _parquet(scores_frame(data)),
                       file_name=f"{dataset}-clusters.parquet", mime="application/octet-stream", on_click="ignore")
