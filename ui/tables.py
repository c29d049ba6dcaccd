"""Tables that stay fast at any size (one page of rows is sent to the browser, never the whole frame), with no
"None" cells."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

PAGE_ROWS = 50
MISSING = "—"  # what a table shows for a missing value, never "None" or "nan"


def no_none(frame: pd.DataFrame):
    """The frame to show with no "None" or "nan" cell: a Styler whose missing values read MISSING (numbers stay
    numbers underneath, so a column still sorts as numbers), or the frame itself when nothing is missing."""
    missing = [c for c in frame.columns if frame[c].isna().any()]
    if not missing:
        return frame
    return frame.style.format(_shown, subset=missing, na_rep=MISSING)


def _shown(value) -> str:
    """A present value of a column that has missing ones, as the table would show it (floats to 6 significant
    digits, without a trailing '.0' for whole numbers that became floats beside a missing value)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def paged(frame: pd.DataFrame, key: str, *, rows: int = PAGE_ROWS, view: Callable[[pd.DataFrame], pd.DataFrame]
          | None = None, column_config: dict | None = None) -> pd.DataFrame:
    """Show one page of `frame` (formatted by `view`, applied to that page only) with a page picker when there is
    more than one page. `key` must name the data shown (dataset, map, selection), so a new table starts at page 1.
    Returns the page shown."""
    pages = max(1, -(-len(frame) // rows))
    page = 1
    if pages > 1:
        c1, c2 = st.columns([1, 5])
        page = int(c1.number_input("Page", 1, pages, 1, key=f"page-{key}", label_visibility="collapsed"))
        start = (page - 1) * rows
        c2.caption(f"page {page} of {pages} · rows {start + 1:,}–{min(start + rows, len(frame)):,} of {len(frame):,}")
    part = frame.iloc[(page - 1) * rows: page * rows]
    st.dataframe(no_none(view(part) if view else part), hide_index=True, width="stretch", key=f"table-{key}",
                 column_config=column_config)
    return part
