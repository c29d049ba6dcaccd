"""Plotly figures for the UI (pure plotly, no streamlit): the gradient-space map."""
from __future__ import annotations

import html

import numpy as np

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC", "#EECA3B", "#72B7B2",
           "#E45756", "#1F77B4", "#8C564B", "#17BECF", "#BCBD22", "#7F7F7F", "#D62728")


# a colour scale with one flat band per palette entry, so integer colours map to exact palette colours
_DISCRETE = [[edge, c] for i, c in enumerate(PALETTE) for edge in (i / len(PALETTE), (i + 1) / len(PALETTE))]


def snippet(text: str, limit: int = 140) -> str:
    """Hover text: plotly renders a few HTML tags in hover labels, so user text is escaped first."""
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return html.escape(text)


def map_figure(frame, labels: np.ndarray, sparse_rows: np.ndarray, xy: np.ndarray, *, color_by: str = "cluster",
               extra_points: dict | None = None, height: int = 560):
    """WebGL scatter of the map. One trace per colour group (cluster colour cycles through a palette); points in
    sparse regions are drawn as open diamonds. customdata = (row index, sample id, cluster) for selections."""
    import plotly.graph_objects as go

    fig = go.Figure()
    hover = [snippet(p) for p in frame["prompt"]]
    if color_by == "cluster":
        groups = [("dense regions", ~sparse_rows), ("sparse regions", sparse_rows)]
    else:
        values = frame[color_by].astype(str).fillna("(none)").to_numpy()
        # legend names come from the data: escaped, or a label holding HTML would render as a link
        groups = [(html.escape(v), values == v) for v in sorted(set(values))]
    for gi, (name, mask) in enumerate(groups):
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            continue
        if color_by == "cluster":
            color = labels[idx] % len(PALETTE)  # numbers + a discrete colour scale: cheap to validate and send
            symbol = "diamond-open" if name == "sparse regions" else "circle"
            size = 9 if name == "sparse regions" else 6
        else:
            color = PALETTE[gi % len(PALETTE)]
            symbol = ["diamond-open" if s else "circle" for s in sparse_rows[idx]]
            size = 7
        fig.add_trace(go.Scattergl(
            x=xy[idx, 0], y=xy[idx, 1], mode="markers", name=f"{name} ({idx.size})",
            marker=dict(color=color, symbol=symbol, size=size, line=dict(width=1.5) if symbol != "circle" else None,
                        **({"colorscale": _DISCRETE, "cmin": 0, "cmax": len(PALETTE) - 1}
                           if color_by == "cluster" else {})),
            customdata=np.stack([idx, frame["id"].to_numpy()[idx], labels[idx]], axis=1),
            hovertext=[f"cluster {labels[i]}{' · sparse' if sparse_rows[i] else ''}<br>{hover[i]}" for i in idx],
            hoverinfo="text"))
    if extra_points:
        fig.add_trace(go.Scattergl(
            x=extra_points["xy"][:, 0], y=extra_points["xy"][:, 1], mode="markers", name=extra_points["name"],
            marker=dict(symbol="star", size=12, color="#111111", line=dict(width=1, color="#FFD700")),
            hovertext=[snippet(t) for t in extra_points["text"]], hoverinfo="text"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), dragmode="lasso",
                      legend=dict(orientation="h", y=1.02, x=0), xaxis=dict(visible=False),
                      yaxis=dict(visible=False))
    return fig
