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
