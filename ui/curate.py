"""The Curate page's sections: duplicates (gradient space and MinHash), search, more like this, tags and exclusions
with undo, and imported vectors. A search's results, a duplicate group, a row's neighbours and the dataset's
selection get the map's action bar (ui/selection_actions.py: tag, exclude, include, more like this, compare with the
rest, grow this region, undo). Every mark goes through the store (core/data/marks.py) and is undoable; the page
reruns after it, so every section then describes the kept rows."""
from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from core.analysis.dedup import DEFAULT_THRESHOLD
from ui.curatedata import (FeatureSet, action_text, changed_words, curve_frame, escape_md, exclusion_ids, hits_frame,
                           kept_reason, last_undoable, marked_diff, marks_frame, neighbours_frame, rows_text)
from ui.layout import metric_columns
from ui.selection_actions import action_bar, selection
from ui.state import get_store
from ui.tables import no_none, paged

MAX_GROUPS = 50  # groups drawn as expanders; the button still acts on all of them
DUPLICATE_NOTE = (
    "**Gradient space** calls two rows duplicates when their gradients point the same way (cosine at or above the "
    "threshold): the model would learn the same thing from both. Measured on GSM8K (bench/dedup.py): a problem with "
    "its names changed, its sentences reordered or reworded is redundant here (median cosine 0.96-0.97); the same "
    "problem with other numbers usually is not (median 0.73): it teaches something new. Untouched rows' nearest "
    f"neighbours stay below 0.84, hence the default {DEFAULT_THRESHOLD:.2f}. **MinHash** (below) compares the text "
    "only (word 3-shingles, Jaccard ≥ 0.8): it flags rows that look alike, whatever they teach.")


def flash() -> None:
    """The message of the last action (set before a rerun), shown once."""
    msg = st.session_state.pop("curate-flash", None)
    if msg:
        (st.error if msg[0] == "error" else st.success)(msg[1])


def _say(kind: str, text: str) -> None:
    st.session_state["curate-flash"] = (kind, text)


def apply_mark(dataset: str, ids: list[str], op: str, value: str = "") -> None:
    """One undoable action on the rows, then a rerun (every section reads the new kept rows)."""
    try:
        action = get_store().mark(dataset, ids, op, value)
    except (KeyError, ValueError) as exc:
        _say("error", str(exc.args[0]) if exc.args else str(exc))
    else:
        _say("success", f"{action_text(action)} (undo it under Tags & exclusions)")
    st.rerun()


def undo_button(dataset: str, key: str | None = None) -> None:
    """Undo the dataset's last action not undone (the page's action history), then rerun."""
    store = get_store()
    last = last_undoable(store, dataset)
    if st.button(f"Undo last action ({action_text(last)})" if last else "Undo last action",
                 key=key or f"undo-{dataset}", disabled=last is None):
        done = store.undo(last.action_id, dataset_name=dataset)
        _say("success", f"Undone: {action_text(last)} ({action_text(done)})")
        st.rerun()


@st.cache_data(max_entries=16, show_spinner="Finding near-duplicates…")
def _dedup(dataset: str, fingerprint: str, coverage: int, config_key: str, dim: int, threshold: float,
           view: str) -> dict:
    """Keyed by the view's rows (an exclusion changes the kept rows' fingerprint) and how many have features."""
    from core.analysis.curation import dedup_report

    return dedup_report(get_store(), dataset, config_key, dim, threshold=threshold, view=view)


def _curve_figure(report: dict):
    import plotly.graph_objects as go

    curve = curve_frame(report["curve"])
    fig = go.Figure(go.Scatter(x=curve["threshold"].tolist(), y=curve["rows flagged"].tolist(), mode="lines+markers",
                               name="rows flagged"))
    fig.add_vline(x=report["threshold"], line_dash="dot")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="threshold (cosine)",
                      yaxis_title="rows flagged")
    return fig


def _group(dataset: str, number: int, group: list[str], report: dict) -> None:
    text = rows_text(get_store(), dataset, group)
    kept_prompt, kept_response = text[group[0]]
    label = f"Group {number}: {len(group)} rows, keeps {group[0]}"
    with st.expander(label):
        st.markdown(kept_reason(group, report))
        for col, sid in zip(st.columns(min(len(group), 4)), group[:4]):
            prompt, response = text[sid]
            col.markdown(f"**{escape_md(sid)}**" + (" · kept" if sid == group[0] else " · duplicate"))
            col.markdown(escape_md(prompt) if sid == group[0] else marked_diff(kept_prompt, prompt))
            col.caption(escape_md(response) if sid == group[0] else marked_diff(kept_response, response))
            if sid != group[0]:
                words = changed_words(kept_prompt, prompt)
                col.caption(f"{len(words)} prompt word(s) differ from the kept row")
        if len(group) > 4:
            st.caption(f"and {len(group) - 4} more: {', '.join(group[4:])}")
        if st.button("Exclude the others", key=f"dup-ex-{dataset}-{group[0]}"):
            apply_mark(dataset, group[1:], "exclude")


def group_actions(dataset: str, groups: list[list[str]], opts) -> None:
    """The action bar on one duplicate group, picked by its number (one bar, not one per group). The group acted on
    stays selected after its action: when an exclusion took it out of the rows in view, its bar stays (to include
    it again, or undo), and when it is back in view the picker opens on it."""
    acted_key = f"dup-acted-{dataset}"
    acted = st.session_state.get(acted_key)
    if groups:
        c1, c2 = st.columns([1, 3], vertical_alignment="center")
        number = c1.selectbox("Act on a group", [None, *range(1, len(groups) + 1)], key=f"dup-act-{dataset}",
                              index=groups.index(acted) + 1 if acted in groups else 0,
                              format_func=lambda g: "act on a group…" if g is None else
                              f"group {g} ({len(groups[g - 1])} rows)", label_visibility="collapsed")
        if number is not None and number <= len(groups):
            ids = st.session_state[acted_key] = groups[number - 1]
            c2.markdown(f"**Group {number}: {len(ids)} rows**")
            action_bar(dataset, ids, opts, scope=f"dup-{ids[0]}")
            return
        c2.caption("Pick a group to tag, exclude, include, compare or grow all of its rows (kept one included).")
    if acted and acted not in groups:
        st.markdown(f"**The group acted on: {len(acted)} rows**, no longer a group of the rows in view (include "
                    "them again, or undo)")
        action_bar(dataset, acted, opts, scope=f"dup-{acted[0]}")


def duplicates_section(dataset: str, fs: FeatureSet, view: str, opts) -> None:
    store = get_store()
    threshold = st.slider("Duplicate threshold (cosine)", 0.80, 0.99, DEFAULT_THRESHOLD, 0.01, key=f"dup-t-{dataset}")
    try:
        coverage = store.feature_coverage(dataset, fs.config_key, fs.dim, view)
        report = _dedup(dataset, store.fingerprint(dataset, view), coverage, fs.config_key, fs.dim, float(threshold),
                        view)
    except ValueError as exc:
        st.info(str(exc))
        return
    st.caption(DUPLICATE_NOTE)
    c1, c2, c3 = metric_columns(3, "duplicates")
    c1.metric("Rows flagged", f"{report['rows_flagged']:,}", help=f"in {len(report['groups'])} groups, one row "
              f"kept per group ({report['index']} neighbour search)")
    c2.metric("G-Vendi before", f"{report['g_vendi_before']:.2f}")
    c3.metric("G-Vendi after", f"{report['g_vendi_after']:.2f}", help="without the flagged rows")
    st.plotly_chart(_curve_figure(report), width="stretch", key=f"dup-curve-{dataset}")
    st.caption("Rows flagged at each threshold: pick one seeing what it costs (the dotted line is the slider).")
    groups = report["groups"]
    if not groups:
        st.info(f"No near-duplicates at cosine ≥ {report['threshold']:.2f}.")
    elif st.button("Exclude duplicates (keep one per group)", type="primary", key=f"dup-all-{dataset}"):
        apply_mark(dataset, exclusion_ids(groups), "exclude")
    group_actions(dataset, groups[:MAX_GROUPS], opts)
    for number, group in enumerate(groups[:MAX_GROUPS], 1):
        _group(dataset, number, group, report)
    if len(groups) > MAX_GROUPS:
        st.caption(f"{len(groups) - MAX_GROUPS} more groups not shown (the button above excludes them all).")
    text_groups = report["text_groups"]
    with st.expander(f"MinHash text duplicates: {len(text_groups)} group(s)"):
        for g in text_groups[:MAX_GROUPS]:
            st.markdown(escape_md(", ".join(g)))


def search_section(dataset: str, view: str, opts) -> None:
    from core.analysis.search import search

    c1, c2 = st.columns([4, 1])
    pattern = c1.text_input("Search prompts and responses", key=f"q-{dataset}")
    regex = c2.checkbox("Regular expression", key=f"re-{dataset}")
    if not pattern:
        return
    try:
        hits = search(get_store(), dataset, pattern, regex=regex, view=view)
    except ValueError as exc:
        st.error(str(exc))
        return
    st.caption(f"{len(hits):,} row(s) match" + (" (the first 10,000)" if len(hits) >= 10_000 else ""))
    ids = result_set(dataset, (pattern, regex, view), [h.id for h in hits])
    if len(ids) > len(hits):
        st.caption(f"The actions below act on the {len(ids):,} row(s) this search found, {len(ids) - len(hits):,} "
                   "of them since excluded (include them again, or undo).")
    if ids:
        action_bar(dataset, ids, opts, scope="search")  # on every match, not the page shown
    if hits:
        paged(hits_frame(get_store(), dataset, hits), f"search-{dataset}-{pattern}-{regex}-{view}-{len(hits)}")


def result_set(dataset: str, query: tuple, ids: list[str]) -> list[str]:
    """The rows a search acts on: what it finds now, plus what the same query found before (rows it no longer finds
    because an action excluded them stay selected, so they can be included again); a new query starts afresh."""
    key = f"search-set-{dataset}"
    before = st.session_state.get(key)
    found = list(dict.fromkeys([*(before[1] if before and before[0] == query else []), *ids]))
    st.session_state[key] = (query, found)
    return found


def similar_section(dataset: str, fs: FeatureSet, view: str, opts) -> None:
    from core.analysis.search import more_like_this

    c1, c2 = st.columns([4, 1])
    asked = c1.text_input("Row: its number (as in 'row 12') or its id", key=f"mlt-id-{dataset}",
                          placeholder="e.g. 12, or an id; a search's 'More like this' needs neither").strip()
    k = int(c2.number_input("Neighbours", 1, 100, 10, key=f"mlt-k-{dataset}"))
    if not asked:
        return
    sid = asked
    number = asked.lower().removeprefix("row").strip()
    if number.isdigit() and not get_store().rows_by_id(dataset, [asked]):  # a row's number, not an id
        sid = get_store().id_at_line(dataset, int(number)) or asked
    try:
        near = more_like_this(get_store(), dataset, sid, fs.config_key, fs.dim, k=k, view=view)
    except KeyError as exc:
        st.error(str(exc.args[0]))
        return
    action_bar(dataset, [i for i, _ in near], opts, scope="similar")
    st.caption("Cosine similarity of the gradients (1.00: the model learns the same from both); the row itself first.")
    paged(neighbours_frame(get_store(), dataset, near), f"mlt-{dataset}-{sid}-{k}-{view}")


def marks_section(dataset: str, opts) -> None:
    store = get_store()
    frame = marks_frame(store, dataset)
    if frame.empty:
        st.caption("No tags or exclusions yet.")
    else:
        st.dataframe(no_none(frame), hide_index=True, key=f"marks-{dataset}")
    ids = selection(dataset)  # the map's selection (a lasso, a cluster, 'Select these rows')
    if ids:
        st.markdown(f"**The selection: {len(ids):,} row{'s' if len(ids) != 1 else ''}** (made on the map, or with "
                    "'Select these rows')")
        action_bar(dataset, ids, opts, scope="marks")
    else:
        st.caption("Selection: none (select rows on the map, or 'Select these rows' under a 'more like this')")
    undo_button(dataset)
    excluded = store.excluded(dataset)
    if excluded:
        with st.expander(f"Excluded rows ({len(excluded):,})"):
            from core.analysis.row_detail import row_names

            names = row_names(store, dataset, excluded[:500])
            st.markdown("  \n".join(escape_md(names.get(i, i)) for i in excluded[:500]) +
                        (" …" if len(excluded) > 500 else ""))
            if st.button("Include them all again", key=f"include-all-{dataset}"):
                apply_mark(dataset, excluded, "include")


def import_section(dataset: str) -> None:
    from core.features.imported import import_vectors

    st.caption("Per-row vectors computed elsewhere become a named feature set: dedup and more like this then run on "
               "them (pick it under Features above). Nothing is stored unless every id and vector checks out.")
    vectors = st.file_uploader("Vectors: Parquet (id + list column) or .npy", type=["parquet", "npy"],
                               key=f"imp-file-{dataset}")
    ids_file = st.file_uploader("Ids of a .npy: one per line, or a JSON list", type=["txt", "json"],
                                key=f"imp-ids-{dataset}")
    name = st.text_input("Feature set name", key=f"imp-name-{dataset}").strip()
    if not st.button("Import vectors", key=f"imp-btn-{dataset}", disabled=vectors is None or not name):
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(vectors.name).name
        path.write_bytes(vectors.getvalue())
        ids_path = None
        if ids_file is not None:
            ids_path = Path(tmp) / ("ids-" + Path(ids_file.name).name)
            ids_path.write_bytes(ids_file.getvalue())
        try:
            fs = import_vectors(get_store(), dataset, path, name=name, ids_path=ids_path)
        except (ValueError, KeyError, FileNotFoundError, OSError) as exc:
            st.error(f"Nothing imported: {exc.args[0] if exc.args else exc}")
            return
    n = get_store().feature_coverage(dataset, fs.key(), fs.dim, "all")
    _say("success", f"Imported feature set '{fs.name}': {fs.dim} dims covering {n:,} rows (file sha256 "
                    f"{fs.file_sha256[:12]}…, key {fs.key()})")
    st.rerun()
