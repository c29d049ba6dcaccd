"""Tabs whose content runs only when open, the open one kept in the URL.

`st.tabs(on_change="rerun")` tells the script which tab is open (`tab.open`), so a page draws only that tab's
content: the Gradient space page opens on its map without paying for the diversity curve's chart, the rule table and
the cluster tables (measured with bench/page_load.py). The open view is written to the URL (`?view=clusters`), so a
refresh or a shared link opens the same one; the first view is the default and leaves the URL clean.
"""
from __future__ import annotations

import streamlit as st

URL_PARAM = "view"


def view_tabs(views: dict[str, str], *, key: str = URL_PARAM):
    """Draw the tabs of `views` (url slug -> label); return the open view's slug and its container. Draw only that
    view's content, inside the container."""
    slugs, labels = list(views), list(views.values())
    first = f"_{key}-first"  # the URL's view, read once per session: the default is part of the widget's identity,
    if first not in st.session_state:  # so a default that followed the URL would reset the tabs on every click
        st.session_state[first] = views.get(st.query_params.get(key, slugs[0]), labels[0])
    tabs = st.tabs(labels, default=st.session_state[first], key=key, on_change="rerun")
    opened = next((i for i, t in enumerate(tabs) if t.open), 0)
    if opened == 0:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = slugs[opened]
    return slugs[opened], tabs[opened]


def kept_choice(label: str, views: dict[str, str], *, key: str) -> str:
    """A row of buttons choosing one of `views` (url slug -> label) whose value is kept: keyed (an action's rerun, a
    message inserted above it, leaves it where it was), always one chosen, and in the URL (`?KEY=slug`, read when the
    page opens; the first view leaves the URL clean). Return the chosen slug; draw only that view's content. Unlike
    tabs, the control's identity is its key alone, so nothing a page draws above it sends it back to its first
    option."""
    slugs = list(views)
    if st.session_state.get(key) not in views:  # the page just opened (or a stale value): the URL's, else the first
        wanted = st.query_params.get(key)
        st.session_state[key] = wanted if wanted in views else slugs[0]
    picked = st.segmented_control(label, slugs, required=True, format_func=views.get, key=key,
                                  label_visibility="collapsed", width="stretch")
    picked = picked if picked in views else slugs[0]
    if picked == slugs[0]:
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = picked
    return picked
