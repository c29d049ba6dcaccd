"""Plotly figures for the UI (pure plotly, no streamlit): the gradient-space map, diversity curves, the shared map.

What travels to the browser is kept compact: coordinates, colours and customdata are numpy arrays (plotly sends them
as typed binary arrays), hover text is sent only for small maps, and past `DENSITY_FROM` points the map is a density
image of every point with a sample of points and the sparse (and suspect) ones drawn on top. Suspect rows (the quality
read's, core/analysis/quality.py) are crosses with their reasons in the hover: grey, or a score's colour when the map
is coloured by one.
"""
from __future__ import annotations

import dataclasses
import html

import numpy as np

from core.analysis.clusters import members_by_cluster

PALETTE = ("#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#B68100", "#750D86", "#EB663B", "#511CFB",
           "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1", "#620042",
           "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038", "#222A2A", "#FD3216", "#00FE35", "#6A76FC",
           "#FED4C4", "#FE00CE", "#0DF9FF", "#F6F926", "#FF9616", "#479B55", "#EEA6FB", "#DC587D", "#D626FF",
           "#6E899C", "#00B5F7", "#B68E00", "#C9FBE5", "#FF0092", "#22FFA7", "#E3EE9E", "#86CE00", "#BC7196",
           "#7E7DCD", "#FC6955", "#E48F72")  # plotly's Dark24 + Light24: 48 distinguishable colours
NEUTRAL = "#666666"
SUSPECT = "#8C8C8C"  # suspect rows: grey crosses, apart from the clusters' colours and the sparse rows' diamonds
DENSITY_FROM = 50_000  # past this many points: a density image, a sample of points and every sparse point
SAMPLE_POINTS = 10_000  # dense-region points drawn over the density image
HOVER_TEXT_MAX = 5_000  # hover shows each sample's text only on maps this small (else id and cluster only)
LABELLED_CLUSTERS = 12  # at most this many cluster names drawn on the map (the rest: in each point's hover)
LABEL_BOX = (0.16, 0.05)  # a drawn name's reach, as fractions of the map's width and height: names never overlap

# a colour scale with one flat band per palette entry, so integer colours map to exact palette colours
_DISCRETE = [[edge, c] for i, c in enumerate(PALETTE) for edge in (i / len(PALETTE), (i + 1) / len(PALETTE))]


def snippet(text: str, limit: int = 140) -> str:
    """Hover text: plotly renders a few HTML tags in hover labels, so user text is escaped first."""
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return html.escape(text)


@dataclasses.dataclass(frozen=True)
class PointPlan:
    """Which rows are drawn as points. `image`: the map is large and a density image of every row is drawn below."""

    rows: np.ndarray  # row indices drawn as points
    image: bool
    sampled_dense: int  # dense-region rows drawn (of all dense-region rows)
    sparse_drawn: int
    suspect_drawn: int = 0

    def note(self, n: int) -> str:
        if not self.image:
            return f"{n:,} points"
        return (f"{n:,} rows: too many to draw one by one, so the grey image shows where all of them lie; on top, a "
                f"random {self.sampled_dense:,} of the dense-region rows and {self.sparse_drawn:,} sparse-region rows"
                + (f" and {self.suspect_drawn:,} suspect rows" if self.suspect_drawn else ""))


def plan_points(sparse_rows: np.ndarray, *, suspect: np.ndarray | None = None, max_points: int = DENSITY_FROM,
                sample: int = SAMPLE_POINTS, seed: int = 0) -> PointPlan:
    """Every row of a small map; past `max_points`, a sample of the dense-region rows and every sparse and suspect
    row (each kind sampled only when it alone is too many)."""
    n = len(sparse_rows)
    suspect = np.zeros(n, dtype=bool) if suspect is None else np.asarray(suspect, dtype=bool)
    if n <= max_points:
        return PointPlan(np.arange(n), False, int((~sparse_rows & ~suspect).sum()), int(sparse_rows.sum()),
                         int(suspect.sum()))
    rng = np.random.default_rng(seed)
    dense, sparse = np.flatnonzero(~sparse_rows & ~suspect), np.flatnonzero(sparse_rows & ~suspect)
    flagged = np.flatnonzero(suspect)
    dense = np.sort(rng.choice(dense, min(sample, len(dense)), replace=False))
    if len(sparse) > max_points:  # every sparse row unless that alone is too many
        sparse = np.sort(rng.choice(sparse, max_points, replace=False))
    if len(flagged) > max_points:
        flagged = np.sort(rng.choice(flagged, max_points, replace=False))
    return PointPlan(np.sort(np.concatenate([dense, sparse, flagged])), True, len(dense), len(sparse), len(flagged))


def selected_row(point: dict) -> int | None:
    """The dataset row of one selected map point. customdata travels as a typed array, and the browser's selection
    event serialises a typed-array row as an object ({"0": row, "1": cluster}), a plain list as a list."""
    data = point.get("customdata")
    if data is None:
        return None
    if isinstance(data, dict):
        data = data.get("0", data.get(0))
    elif isinstance(data, (list, tuple)):
        data = data[0] if data else None
    return None if data is None else int(data)


def cluster_centres(xy: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(k, 2) median position of each cluster's members (NaN for an empty cluster)."""
    out = np.full((k, 2), np.nan)
    for c, members in enumerate(members_by_cluster(labels, k)):
        if len(members):
            out[c] = np.median(xy[members], axis=0)
    return out


def placed_labels(centres: np.ndarray, order: list[int], limit: int = LABELLED_CLUSTERS,
                  box: tuple[float, float] = LABEL_BOX) -> list[int]:
    """The clusters whose names are drawn: in `order` (priority first), each kept only when its centre is at least a
    label's reach from every name already placed (positions scaled to the map's extent), at most `limit`."""
    finite = np.isfinite(centres).all(axis=1) if len(centres) else np.zeros(0, bool)
    if not finite.any():
        return []
    lo, hi = centres[finite].min(axis=0), centres[finite].max(axis=0)
    scaled = (centres - lo) / np.where(hi > lo, hi - lo, 1.0)
    placed: list[int] = []
    for c in order:
        if len(placed) >= limit:
            break
        if c >= len(centres) or not finite[c]:
            continue
        if all(abs(scaled[c, 0] - scaled[p, 0]) >= box[0] or abs(scaled[c, 1] - scaled[p, 1]) >= box[1]
               for p in placed):
            placed.append(c)
    return placed


def _density_image(xy: np.ndarray, bins: int = 160):
    import plotly.graph_objects as go

    counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins)
    z = np.log1p(counts.T).astype(np.float32)
    z[z == 0] = np.nan  # empty cells stay transparent
    return go.Heatmap(x=((xe[:-1] + xe[1:]) / 2).astype(np.float32), y=((ye[:-1] + ye[1:]) / 2).astype(np.float32),
                      z=z, colorscale=[[0, "#EEEEEE"], [1, "#555555"]], showscale=False, hoverinfo="skip",
                      name="all rows (density)")


def _shape_legend(fig) -> None:
    """Two neutral legend entries that say what the marker shapes mean, whatever the colours are."""
    import plotly.graph_objects as go

    for name, symbol in (("dense-region sample", "circle"), ("sparse-region sample", "diamond-open")):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup="shape",
                                   marker=dict(color=NEUTRAL, symbol=symbol, size=9,
                                               line=dict(width=1.5, color=NEUTRAL))))


def _suspect_trace(frame, labels: np.ndarray, xy: np.ndarray, idx: np.ndarray, total: int, reasons, values):
    """The suspect rows: grey crosses (coloured by `values` when the map is coloured by a score), one legend entry
    'suspect (N)', their reasons in the hover (always sent: suspect rows are few)."""
    import plotly.graph_objects as go

    prompts = frame["prompt"].to_numpy() if "prompt" in frame and len(idx) <= HOVER_TEXT_MAX else None
    text = []
    for i in idx:
        why = [snippet(r, 160) for r in (reasons[i] if reasons is not None else [])] or [
            "its reasons: Curate → Suspect rows"]
        text.append("<br>".join(why) + (f"<br><i>{snippet(prompts[i], 90)}</i>" if prompts is not None else ""))
    marker = dict(symbol="x", size=9, color=SUSPECT, line=dict(width=0))
    if values is not None:
        marker.update(color=np.asarray(values, dtype=np.float32)[idx], coloraxis="coloraxis")
    return go.Scattergl(x=xy[idx, 0].astype(np.float32), y=xy[idx, 1].astype(np.float32), mode="markers",
                        name=f"suspect ({total:,})", legendgroup="suspect", showlegend=True, marker=marker,
                        customdata=np.column_stack([idx, labels[idx]]).astype(np.int32), hovertext=text,
                        hovertemplate="cluster %{customdata[1]} · <b>suspect</b><br>%{hovertext}<extra></extra>")


def map_figure(frame, labels: np.ndarray, sparse_rows: np.ndarray, xy: np.ndarray, *, color_by: str = "cluster",
               values: np.ndarray | None = None, cluster_names: dict[int, str] | None = None,
               extra_points: dict | None = None, height: int = 560, max_points: int = DENSITY_FROM,
               plan: PointPlan | None = None, suspect: np.ndarray | None = None, reasons=None,
               label_limit: int = LABELLED_CLUSTERS, dragmode: str = "lasso"):
    """WebGL scatter of the map. Colour: "cluster" (48 colours cycled; clusters named at their centres with
    `cluster_names`), a label column of `frame`, or a per-sample score given as `values` (a colour bar). Sparse-region
    rows are open diamonds, dense-region rows dots, said by neutral legend entries (below the plot, never over it);
    `cluster_names` in priority order: the first that fit (placed_labels) are drawn, every point's hover names its
    cluster; `suspect` rows (a (n,) mask) grey crosses with a legend entry 'suspect (N)' and their `reasons` (per row:
    a list of texts) in the hover. `dragmode` "pan": a click selects a point (Streamlit selects on a click only
    outside the lasso and box modes).
    customdata = (row, cluster) as int32: selections map back to rows without any text travelling."""
    import plotly.graph_objects as go

    n = len(labels)
    suspect = np.zeros(n, dtype=bool) if suspect is None else np.asarray(suspect, dtype=bool)
    plan = plan or plan_points(sparse_rows, suspect=suspect, max_points=max_points)
    fig = go.Figure()
    if plan.image:
        fig.add_trace(_density_image(xy))
    hover = n <= HOVER_TEXT_MAX and "prompt" in frame
    prompts = frame["prompt"].to_numpy() if hover else None
    names = cluster_names or {}
    groups: list[tuple[str, np.ndarray, dict]] = []
    if values is not None:
        v = np.asarray(values, dtype=np.float32)
        lo, hi = np.nanpercentile(v, [2, 98]) if n else (0, 1)
        groups.append(("", plan.rows, dict(coloraxis="coloraxis", color=v)))
        fig.update_layout(coloraxis=dict(colorscale="Viridis", cmin=float(lo), cmax=float(max(hi, lo + 1e-9)),
                                         colorbar=dict(title=dict(text=color_by, side="right"), thickness=12)))
    elif color_by == "cluster":
        groups.append(("", plan.rows, dict(color=(labels % len(PALETTE)).astype(np.int16), colorscale=_DISCRETE,
                                           cmin=0, cmax=len(PALETTE) - 1)))
    else:
        column = frame[color_by].astype(str).fillna("(none)").to_numpy()
        for gi, value in enumerate(sorted(set(column[plan.rows]))):
            # legend names come from the data: escaped, or a label holding HTML would render as a link
            groups.append((html.escape(value), plan.rows[column[plan.rows] == value],
                           dict(color=PALETTE[gi % len(PALETTE)])))
    for name, rows, colour in groups:
        in_legend = False
        for sparse in (False, True):
            idx = rows[(sparse_rows[rows] == sparse) & ~suspect[rows]]
            if idx.size == 0:
                continue
            marker = dict(colour)
            if isinstance(marker.get("color"), np.ndarray):
                marker["color"] = marker["color"][idx]
            marker.update(symbol="diamond-open" if sparse else "circle", size=8 if sparse else 5,
                          line=dict(width=1.5) if sparse else None)
            fig.add_trace(go.Scattergl(
                x=xy[idx, 0].astype(np.float32), y=xy[idx, 1].astype(np.float32), mode="markers",
                name=f"{name} ({rows.size})" if name else ("sparse" if sparse else "dense"),
                legendgroup=name or None, showlegend=bool(name) and not in_legend, marker=marker,
                customdata=np.column_stack([idx, labels[idx]]).astype(np.int32),
                hovertext=[(html.escape(names[labels[i]]) + "<br>" if labels[i] in names else "") +
                           snippet(prompts[i], 90) for i in idx] if hover else None,
                hovertemplate=("cluster %{customdata[1]}" + (" · sparse" if sparse else "") +
                               ("<br>%{hovertext}" if hover else " · row %{customdata[0]}") + "<extra></extra>")))
            in_legend = True
    flagged = plan.rows[suspect[plan.rows]]
    if flagged.size:
        fig.add_trace(_suspect_trace(frame, labels, xy, flagged, int(suspect.sum()), reasons, values))
    _shape_legend(fig)
    if cluster_names:
        centres = cluster_centres(xy, labels, int(labels.max()) + 1 if n else 0)
        shown = placed_labels(centres, list(cluster_names), label_limit)
        fig.add_trace(go.Scatter(x=[centres[c, 0] for c in shown], y=[centres[c, 1] for c in shown], mode="text",
                                 text=[html.escape(cluster_names[c]) for c in shown], name="cluster names",
                                 textfont=dict(size=11, color="#222222"), hoverinfo="skip"))
    if extra_points:
        fig.add_trace(go.Scattergl(
            x=extra_points["xy"][:, 0], y=extra_points["xy"][:, 1], mode="markers", name=extra_points["name"],
            marker=dict(symbol="star", size=12, color="#111111", line=dict(width=1, color="#FFD700")),
            hovertext=[snippet(t) for t in extra_points["text"]], hoverinfo="text"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), dragmode=dragmode,
                      legend=dict(orientation="h", y=-0.01, yanchor="top", x=0), xaxis=dict(visible=False),
                      yaxis=dict(visible=False), plot_bgcolor="white")
    return fig


def curves_figure(curves: dict, *, reference: tuple[str, object] | None = None, mark_n: int | None = None,
                  height: int = 340):
    """Diversity curves (G-Vendi of random subsets against n, log scale): mean line and a 10-90% band each; an
    optional reference curve (e.g. the demo's) dashed; a vertical line at the n where they are compared."""
    import plotly.graph_objects as go

    fig = go.Figure()
    items = list(curves.items()) + ([reference] if reference else [])
    for i, (name, c) in enumerate(items):
        ref = reference is not None and i == len(items) - 1
        colour = NEUTRAL if ref else PALETTE[i % len(PALETTE)]
        label = html.escape(str(name))
        if len(c.sizes) > 1:
            fig.add_trace(go.Scatter(x=list(c.sizes) + list(c.sizes)[::-1], y=list(c.high) + list(c.low)[::-1],
                                     fill="toself", fillcolor=colour, opacity=0.15, line=dict(width=0),
                                     hoverinfo="skip", showlegend=False, legendgroup=label))
        fig.add_trace(go.Scatter(x=c.sizes, y=c.mean, mode="lines+markers", name=label, legendgroup=label,
                                 line=dict(color=colour, dash="dash" if ref else "solid"),
                                 hovertemplate=f"{label}<br>n = %{{x}}<br>G-Vendi %{{y:.2f}}<extra></extra>"))
    if mark_n:
        # on a log axis a shape takes the data value (n) but an annotation its log10 (checked in Chromium: a shape at
        # log10(33) was drawn at n = 1.5, and stretched the axis down to it; add_vline's annotation would go to 10^n)
        fig.add_shape(type="line", x0=mark_n, x1=mark_n, y0=0, y1=1, yref="paper",
                      line=dict(color="#999999", dash="dot"))
        fig.add_annotation(x=float(np.log10(mark_n)), y=1, yref="paper", text=f"n = {mark_n:,}", showarrow=False,
                           xanchor="right", yanchor="bottom")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.1),
                      xaxis=dict(type="log", title="n (rows, random subsets)"), yaxis=dict(title="G-Vendi"),
                      plot_bgcolor="white")
    return fig


def datasets_map_figure(names: list[str], owner: np.ndarray, xy: np.ndarray, *, max_points: int = DENSITY_FROM,
                        height: int = 560, seed: int = 0):
    """Several datasets on one map, a colour each (a seeded sample of each when there are too many points)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rng = np.random.default_rng(seed)
    per = max(1, max_points // max(len(names), 1))
    for i, name in enumerate(names):
        idx = np.flatnonzero(owner == i)
        shown = np.sort(rng.choice(idx, per, replace=False)) if len(idx) > per else idx
        label = html.escape(name) + (f" ({len(idx):,}; {len(shown):,} drawn)" if len(shown) < len(idx)
                                     else f" ({len(idx):,})")
        fig.add_trace(go.Scattergl(x=xy[shown, 0].astype(np.float32), y=xy[shown, 1].astype(np.float32),
                                   mode="markers", name=label, opacity=0.65,
                                   marker=dict(color=PALETTE[i % len(PALETTE)], size=6,
                                               symbol=("circle", "diamond", "square", "triangle-up", "cross")[i % 5]),
                                   customdata=shown.astype(np.int32),
                                   hovertemplate=f"{html.escape(name)}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=1.02, x=0),
                      xaxis=dict(visible=False), yaxis=dict(visible=False), plot_bgcolor="white")
    return fig
