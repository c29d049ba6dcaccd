"""The Curate page's Suspect rows list: every suspect row of the kept rows with its reasons in words and the start of
its text, most reasons first; exclude one or all in one click (undoable), or tag a row ok to override the read; the
rows tagged ok listed as overridden, each with an un-ok."""
from __future__ import annotations

import streamlit as st

from core.analysis.quality import OK_TAG, read_quality
from ui.curate import apply_mark, undo_button
from ui.curatedata import escape_md
from ui.qualitydata import SUSPECT_NOTE, SuspectRow, loss_note, overridden_rows, suspect_rows
from ui.state import get_store, rows_in_view

PAGE_ROWS = 25  # rows drawn per page (the Exclude-all button acts on every suspect row)


def _row(dataset: str, row: SuspectRow, *, overridden: bool = False) -> None:
    with st.container(border=True):
        c1, c2 = st.columns([6, 1])
        n = len(row.reasons)
        c1.markdown(f"**{escape_md(row.id)}** · {n} reason{'s' if n != 1 else ''}"
                    + (" · tagged ok: not suspect" if overridden else ""))
        c1.markdown("\n".join(f"- {escape_md(t)}" for t in row.reasons))
        c1.caption(f"Prompt: {escape_md(row.prompt)}  \nResponse: {escape_md(row.response)}")
        if overridden:
            if c2.button("Un-ok", key=f"suspect-unok-{dataset}-{row.id}",
                         help="remove the ok tag: the read's verdict applies again"):
                apply_mark(dataset, [row.id], "untag", OK_TAG)
            return
        if c2.button("Exclude", key=f"suspect-ex-{dataset}-{row.id}", help="take this row out of the kept rows"):
            apply_mark(dataset, [row.id], "exclude")
        if c2.button("Mark ok", key=f"suspect-ok-{dataset}-{row.id}",
                     help=f"tag the row '{OK_TAG}': a good row the read got wrong; it is then never suspect"):
            apply_mark(dataset, [row.id], "tag", OK_TAG)


def _page(key: str, rows: list[SuspectRow]) -> list[SuspectRow]:
    """One page of the rows, with a page picker when there are more (`key` names the list)."""
    pages = max(1, -(-len(rows) // PAGE_ROWS))
    if pages == 1:
        return rows
    c1, c2 = st.columns([1, 5])
    page = int(c1.number_input("Page", 1, pages, 1, key=f"page-{key}-{len(rows)}", label_visibility="collapsed"))
    start = (page - 1) * PAGE_ROWS
    c2.caption(f"page {page} of {pages} · rows {start + 1:,}–{min(start + PAGE_ROWS, len(rows)):,} of {len(rows):,}")
    return rows[start:start + PAGE_ROWS]


def suspects_section(dataset: str, config_key: str) -> None:
    """`config_key`: the analysis' gradient features, whose pass gave the losses the read uses."""
    store = get_store()
    n = rows_in_view(dataset)
    with st.spinner("Reading every row's quality…"):
        q = read_quality(store, dataset, config_key, view="kept")
        flagged, vouched = suspect_rows(store, dataset, q), overridden_rows(store, dataset, q)
    st.caption(SUSPECT_NOTE)
    note = loss_note(store, dataset, config_key, n)
    if note:
        st.caption(note)
    c1, c2 = st.columns([1, 2])
    if flagged and c1.button(f"Exclude all {len(flagged):,} suspect rows", type="primary",
                             key=f"suspect-ex-all-{dataset}"):
        apply_mark(dataset, [r.id for r in flagged], "exclude")
    with c2:
        undo_button(dataset, key=f"suspect-undo-{dataset}")
    if not flagged:
        st.info(f"No suspect rows among the {n:,} kept rows.")
    else:
        st.markdown(f"**{len(flagged):,} suspect row{'s' if len(flagged) != 1 else ''}** of the {n:,} kept rows, most "
                    "reasons first (excluded rows are not listed: see Tags & exclusions).")
        for row in _page(f"suspect-{dataset}", flagged):
            _row(dataset, row)
    if vouched:
        st.markdown(f"**Overridden: {len(vouched):,} row{'s' if len(vouched) != 1 else ''} tagged {OK_TAG}** (the read "
                    "flags them; the tag keeps them in every rule)")
        for row in _page(f"suspect-ok-{dataset}", vouched):
            _row(dataset, row, overridden=True)
