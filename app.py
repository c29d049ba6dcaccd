"""Prism Studio: see where your training data is thin in the model's gradient space, and grow it there."""
import os
from pathlib import Path

import streamlit as st

from ui import get_runner
from ui.layout import narrow_window_layout
from ui.serving import listen_problem

# a local file: a ":material/…:" page icon makes the browser fetch the favicon from fonts.gstatic.com (offline: broken)
FAVICON = Path(__file__).resolve().parent / "ui" / "assets" / "favicon.png"
st.set_page_config(page_title="Prism Studio", page_icon=str(FAVICON), layout="wide")
narrow_window_layout()  # below 1024 px: the sidebar starts collapsed, rows of controls wrap (ui/layout.py)
refusal = listen_problem(st.get_option("server.address"), os.environ)  # every interface: only on purpose
if refusal:
    st.error(refusal)
    st.stop()
get_runner()  # marks jobs left running by an earlier server process as interrupted

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
    st.Page("pages/gradient-space.py", title="Gradient space", icon=":material/scatter_plot:", url_path="gradient-space"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/target.py", title="Target", icon=":material/my_location:", url_path="target"),
    st.Page("pages/curate.py", title="Curate", icon=":material/cleaning_services:", url_path="curate"),
    st.Page("pages/synthesis.py", title="Synthesis", icon=":material/auto_awesome:", url_path="synthesis"),
]
st.navigation(pages).run()
