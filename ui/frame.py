"""What every page runs in: app.py's frame (page config, the narrow-window layout, the check of the address served,
the job runner), a deep link as a fresh server's first visit included.

Streamlit reads a `pages/` folder as an old-style multipage app until some session calls st.navigation
(`PagesManager.uses_pages_directory`, a server-wide flag set when the first session starts; Streamlit's AppTest sets
it again at every run): until then a URL such as /gradient-space runs pages/gradient-space.py alone, without app.py:
no page config (a narrow layout), no check of the address served, no job runner, no narrow-window layout, and a
navigation made of file names. `through_app`, every page's first call, ends that mode: when the session has never
run app.py (its first visit), the run is rerun, and the rerun runs app.py, whose st.navigation routes to the same
page (a page's URL path is its file's name, so both modes give it the same hash); otherwise (AppTest's switched
pages, run alone at every run) the frame is drawn in place, so that a click or a page switch carried by the run is
never dropped by a rerun. Once any session has run app.py this costs nothing.
"""
import os
from pathlib import Path

import streamlit as st

# a local file: a ":material/…:" page icon makes the browser fetch the favicon from fonts.gstatic.com (offline: broken)
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
_FRAMED = "_prism_framed"  # this session has run the frame (app.py)


def frame() -> None:
    """app.py's part before its navigation: page config, layout, the address check (stops the run when refused) and
    the job runner."""
    from ui.layout import narrow_window_layout
    from ui.serving import listen_problem
    from ui.state import get_runner

    st.set_page_config(page_title="Prism Studio", page_icon=str(FAVICON), layout="wide")
    narrow_window_layout()  # below 1024 px: the sidebar starts collapsed, rows of controls wrap (ui/layout.py)
    refusal = listen_problem(st.get_option("server.address"), os.environ)  # every interface: only on purpose
    if refusal:
        st.error(refusal)
        st.stop()
    get_runner()  # marks jobs left running by an earlier server process as interrupted
    st.session_state[_FRAMED] = True


def through_app() -> None:
    from streamlit.runtime.pages_manager import PagesManager

    if not PagesManager.uses_pages_directory:
        return  # app.py ran this page
    PagesManager.uses_pages_directory = False  # what st.navigation's first call does
    if not st.session_state.get(_FRAMED):  # the session's first visit: run it through app.py
        st.session_state[_FRAMED] = True
        st.rerun()
    frame()
