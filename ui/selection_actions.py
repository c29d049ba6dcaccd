"""What a selection does, on the map and on the Curate page: the selected rows (a lasso or box, a clicked point's
cluster, a list, a text search's results, a duplicate group) get one action bar: tag, exclude, include (each
undoable, through the store's marks as `python -m core tag` does), more like this (nearest rows in gradient space),
compare with the rest (`python -m core compare-rows`), and grow this region (the rows handed to the Synthesis page,
whose target picker preselects their clusters).

The selection is kept in the session by row id, so it survives the rerun an action causes, and the map redrawn
after an exclusion (a new map: a new chart, whose empty selection does not clear ours)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.state import get_store

GROW_KEY = "grow-region"  # session key: {"dataset", "prompts", "clusters"} handed to the Synthesis page


def _key(dataset: str) -> str:
    return f"selection-{dataset}"


def selection(dataset: str) -> list[str]:
    return list(st.session_state.get(_key(dataset), []))


def set_selection(dataset: str, ids: list[str]) -> None:
    st.session_state[_key(dataset)] = list(dict.fromkeys(ids))
    st.session_state.pop(f"selection-result-{dataset}", None)


def follow_chart(dataset: str, chart_key: str, ids: list[str]) -> list[str]:
    """The selection after this run's chart event: a new lasso/box/click replaces it, a double-click that empties
    the chart's selection clears it; a chart drawn for the first time (a new map after an action) leaves it be."""
    seen = st.session_state.setdefault("selection-events", {})
    before = seen.get(chart_key)
    if ids and ids != before:
        set_selection(dataset, ids)
    elif not ids and before:
        set_selection(dataset, [])
    seen[chart_key] = ids
    return selection(dataset)


def _last_action_key(dataset: str) -> str:
    return f"last-action-{dataset}"


def _act(dataset: str, ids: list[str], op: str, value: str = "") -> None:
    action = get_store().mark(dataset, ids, op, value)
    st.session_state[_last_action_key(dataset)] = (action.action_id, f"{op} {value}".strip(), action.n)
    st.toast(f"{op} {value}".strip() + f": {action.n} rows changed")


def _undo(dataset: str) -> None:
    action_id, what, _ = st.session_state.pop(_last_action_key(dataset))
    get_store().undo(action_id, dataset_name=dataset)
    st.toast(f"undone: {what}")


def _suffix(scope: str) -> str:
    """Widget and result keys per place: the map's bar keeps its plain keys; a Curate section's bar adds its scope
    (a search, a duplicate group), so bars of two places never share a key."""
    return "" if scope == "map" else f"-{scope}"


def _map_of(dataset: str, opts, gmap):
    """The map whose clusters a comparison counts and a grow hands over: the page's, else the latest of the kept
    rows under the options' features (None when there is none yet)."""
    if gmap is not None:
        return gmap
    from core.analysis import cache

    return cache.latest_map(get_store(), dataset, opts.feature_config().key())


def action_bar(dataset: str, ids: list[str], opts, *, gmap=None, scope: str = "map") -> None:
    """The buttons acting on the selected rows, and the last action's Undo: the same on the map (scope "map", with
    its map) and on the Curate page (a search's results, a duplicate group: scope names the place)."""
    store = get_store()
    sfx = _suffix(scope)
    result_key = f"selection-result-{dataset}{sfx}"
    excluded = set(store.excluded(dataset))
    n_excluded = sum(i in excluded for i in ids)
    last = st.session_state.get(_last_action_key(dataset))
    cols = st.container(key=f"sel-bar-{dataset}{sfx}").columns([2.2, 1, 1, 1, 1.3, 1.5, 1.3, 1],
                                                         vertical_alignment="bottom")  # wraps (ui/layout.py)
    tag = cols[0].text_input("Tag", key=f"sel-tag-{dataset}{sfx}", placeholder="a tag for these rows",
                             label_visibility="collapsed")
    if cols[1].button("Tag", key=f"sel-tag-btn-{dataset}{sfx}", disabled=not tag.strip(), width="stretch"):
        _act(dataset, ids, "tag", tag.strip())
        st.rerun()
    if cols[2].button("Exclude", key=f"sel-exclude-{dataset}{sfx}", disabled=n_excluded == len(ids), width="stretch",
                      help="take these rows out of every score, the map and exports (undoable)"):
        _act(dataset, [i for i in ids if i not in excluded], "exclude")
        st.rerun()
    if cols[3].button("Include", key=f"sel-include-{dataset}{sfx}", disabled=n_excluded == 0, width="stretch"):
        _act(dataset, [i for i in ids if i in excluded], "include")
        st.rerun()
    if cols[4].button("More like this", key=f"sel-more-{dataset}{sfx}", width="stretch",
                      help="the rows nearest these in gradient space (cosine to the selection's mean direction)"):
        try:
            st.session_state[result_key] = ("more", more_like(dataset, ids, opts))
        except (KeyError, ValueError) as exc:
            st.warning(str(exc.args[0]) if exc.args else str(exc))
    if cols[5].button("Compare with rest", key=f"sel-compare-{dataset}{sfx}", width="stretch",
                      help="G-Vendi and clusters of the selection against the other kept rows"):
        from core.analysis.row_detail import compare_selection

        cfg = opts.feature_config()
        try:
            st.session_state[result_key] = (
                "compare", compare_selection(store, dataset, ids, cfg.key(), cfg.dim,
                                             gmap=_map_of(dataset, opts, gmap)))
        except ValueError as exc:  # every selected row is excluded
            st.warning(str(exc))
    if cols[6].button("Grow this region", key=f"sel-grow-{dataset}{sfx}", width="stretch",
                      help="open Synthesis with these rows' clusters as the targets"):
        grow(dataset, ids, _map_of(dataset, opts, gmap))
    if cols[7].button("Undo", key=f"sel-undo-{dataset}{sfx}", disabled=last is None, width="stretch",
                      help=f"undo the last action here: {last[1]} ({last[2]} rows)" if last else "nothing to undo"):
        _undo(dataset)
        st.rerun()
    result = st.session_state.get(result_key)
    if result:
        show_result(dataset, *result, scope=scope)


def more_like(dataset: str, ids: list[str], opts, k: int = 10) -> list[tuple[str, float]]:
    from core.analysis.row_detail import more_like_rows

    cfg = opts.feature_config()
    return more_like_rows(get_store(), dataset, ids, cfg.key(), cfg.dim, k=k)


def show_result(dataset: str, kind: str, result, *, scope: str = "map") -> None:
    from core.analysis.row_detail import row_names

    sfx = _suffix(scope)
    if kind == "more":
        names = row_names(get_store(), dataset, [i for i, _ in result])
        st.markdown(f"**{len(result)} rows most like the selection** (select them to act on them)")
        frame = pd.DataFrame({"row": [names.get(i, i) for i, _ in result],
                              "similarity": [round(s, 3) for _, s in result]})
        st.dataframe(frame, hide_index=True, width="stretch", key=f"more-{dataset}{sfx}")
        if st.button("Select these rows", key=f"sel-more-take-{dataset}{sfx}",
                     help="they become the dataset's selection (on the map, and under Curate → Tags & exclusions)"):
            set_selection(dataset, [i for i, _ in result])
            st.rerun()
    else:
        def fmt(v):
            return "—" if v is None else f"{v:.2f}"

        st.markdown(f"**Selection vs the rest**: {result.n_selected:,} rows, G-Vendi "
                    f"**{fmt(result.g_vendi_selected)}** · the other {result.n_rest:,} rows "
                    f"{fmt(result.g_vendi_rest)} "
                    f"({fmt(result.g_vendi_rest_at_n)} at the selection's n) · all {result.g_vendi_all:.2f}")
        if result.clusters_selected:
            st.caption("selected rows per cluster: " + ", ".join(
                f"cluster {c}: {n} of {n + result.clusters_rest.get(c, 0)}"
                for c, n in sorted(result.clusters_selected.items(), key=lambda t: -t[1])))


def grow(dataset: str, ids: list[str], gmap) -> None:
    """Hand the rows (their prompts: the Synthesis page clusters the seed itself) and their clusters on `gmap` (none
    without a map) to the Synthesis page. Only rows on the map are handed over when there is one (an excluded row is
    no seed row)."""
    label = dict(zip(gmap.ids, gmap.labels.tolist())) if gmap is not None else {}
    rows = [i for i in ids if i in label] if gmap is not None else list(ids)
    text = get_store().rows_by_id(dataset, rows)
    st.session_state[GROW_KEY] = {"dataset": dataset, "prompts": [text[i].prompt for i in rows if i in text],
                                  "clusters": sorted({int(label[i]) for i in rows if i in label})}
    st.switch_page("pages/synthesis.py")


def grow_targets(dataset: str, texts: list[str], labels, sparse) -> tuple[list[int], list[int]] | None:
    """For the Synthesis page: the seed clusters holding the rows handed over by "grow this region", as (sparse ones
    to target, the others: not growable under the run's rule); None when nothing was handed over for `dataset`."""
    handed = st.session_state.get(GROW_KEY)
    if not handed or handed["dataset"] != dataset:
        return None
    wanted = set(handed["prompts"])
    clusters = sorted({int(c) for t, c in zip(texts, labels) if t in wanted and c >= 0})
    return [c for c in clusters if sparse[c]], [c for c in clusters if not sparse[c]]


def selected_frame(dataset: str, ids: list[str], data) -> pd.DataFrame:
    """The selected rows named 'row N · first words', with cluster (blank when off this map), sparse, excluded and
    tags; excluded rows stay listed (so they can be included again)."""
    from core.analysis.row_detail import row_name

    store = get_store()
    rows, lines = store.rows_by_id(dataset, ids), store.source_lines(dataset, ids)
    excluded, tags = set(store.excluded(dataset)), store.tags(dataset)
    on_map = data.frame.set_index("id")[["cluster", "sparse"]]
    ids = [i for i in ids if i in rows]
    return pd.DataFrame({
        "row": [row_name(lines.get(i), rows[i].prompt) for i in ids],
        "cluster": [str(int(on_map.at[i, "cluster"])) if i in on_map.index else "" for i in ids],
        "sparse": ["yes" if i in on_map.index and bool(on_map.at[i, "sparse"]) else "" for i in ids],
        "excluded": ["yes" if i in excluded else "" for i in ids],
        "tags": [", ".join(tags.get(i, [])) for i in ids],
        "id": ids})


def selection_panel(dataset: str, ids: list[str], data, opts) -> None:
    """Under the map: how to select (a cluster picker too), the selected rows with the action bar, and a table of
    them whose clicked row opens in the inspector."""
    from ui.inspector import inspect

    g = data.gmap
    c1, c2 = st.container(key=f"sel-head-{dataset}").columns([3, 1], vertical_alignment="bottom")
    c1.markdown(f"**Selected: {len(ids):,} sample{'s' if len(ids) != 1 else ''}**" if ids else
                "**Select rows**: the lasso or box in the map's toolbar (a click opens a point), or pick a cluster")
    # a number, not a list of k clusters: a select box of up to 1,000 options added ~23 KB and its rendering to every
    # load of the page (bench/page_load.py, issue 21); the selection's line then gives the cluster's size
    pick = c2.number_input("Select a cluster", min_value=0, max_value=g.k - 1, value=None, step=1,
                           key=f"sel-cluster-{dataset}-{data.key}", placeholder=f"select a cluster (0–{g.k - 1})…",
                           label_visibility="collapsed",
                           help=f"a cluster's number, 0 to {g.k - 1} (the Clusters tab lists them with their sizes)")
    if pick is not None and st.session_state.get(f"sel-cluster-last-{dataset}") != (data.key, pick):
        st.session_state[f"sel-cluster-last-{dataset}"] = (data.key, pick)
        set_selection(dataset, [i for i, c in zip(g.ids, g.labels) if int(c) == pick])
        st.rerun()
    if not ids:
        return
    if len(ids) == 1 and ids[0] in set(g.ids):  # a clicked point: its whole cluster is one click away
        c = int(g.labels[g.ids.index(ids[0])])
        if st.button(f"Select all of cluster {c} ({int(g.sizes[c])} rows)", key=f"sel-its-cluster-{dataset}"):
            set_selection(dataset, [i for i, label in zip(g.ids, g.labels) if int(label) == c])
            st.rerun()
    action_bar(dataset, ids, opts, gmap=data.gmap)
    frame = selected_frame(dataset, ids, data)
    event = st.dataframe(frame.drop(columns="id").head(500), hide_index=True, width="stretch", on_select="rerun",
                         selection_mode="single-row", key=f"sel-table-{dataset}-{len(ids)}-{hash(tuple(ids))}")
    picked = event.selection.rows if event and event.selection else []
    if picked and st.session_state.get(f"sel-table-last-{dataset}") != frame["id"].iloc[picked[0]]:
        st.session_state[f"sel-table-last-{dataset}"] = frame["id"].iloc[picked[0]]
        inspect(dataset, frame["id"].iloc[picked[0]])  # the inspector is drawn after this panel, in this run
    if len(frame) > 500:
        st.caption(f"the first 500 of {len(frame):,} selected rows are listed; actions apply to all of them")
