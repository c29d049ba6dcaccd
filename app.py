"""Prism Studio: see where your training data is thin in the model's gradient space, and grow it there."""
import streamlit as st

from ui.frame import frame

frame()  # page config, narrow-window layout, the address check, the job runner (ui/frame.py)
pages = [
    st.Page("pages/data.py", title="Data", icon=":material/folder_open:", default=True),
    st.Page("pages/gradient-space.py", title="Gradient space", icon=":material/scatter_plot:", url_path="gradient-space"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("pages/target.py", title="Target", icon=":material/my_location:", url_path="target"),
    st.Page("pages/curate.py", title="Curate", icon=":material/cleaning_services:", url_path="curate"),
    st.Page("pages/synthesis.py", title="Synthesis", icon=":material/auto_awesome:", url_path="synthesis"),
]
st.navigation(pages).run()
