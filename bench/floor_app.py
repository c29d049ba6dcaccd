"""The floor of bench/page_load.py: a Streamlit page with a title, one "G-Vendi" metric and a one-point WebGL chart,
timed like the Gradient space page. What Streamlit's shell and plotly.js cost on this machine with no data at all."""
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="floor", layout="wide")
st.title("Gradient space")
st.metric("G-Vendi", "1.00")
st.plotly_chart(go.Figure(go.Scattergl(x=[0.0], y=[0.0], mode="markers")), width="stretch")
