"""Compare 2-5 datasets fairly, map first: all of them on one shared map (coloured by dataset) fills the first screen,
their scores at one common n on one line above it (every score in a popover), the diversity curves below; which
datasets and how the map is made sit in the sidebar."""
import streamlit as st

from core.plots import curves_figure, datasets_map_figure
from ui.frame import through_app
from ui.analysis import options
from ui.compare import COMPARE_MAP_HEIGHT, run, score_line, scores_table, sidebar_settings
from ui.insight import g_vendi_help
from ui.layout import gl_config

through_app()  # a deep link as the server's first visit: app.py runs first (ui/frame.py)

opts = options()
picked, method, reference = sidebar_settings(opts)
if len(picked) < 2:
    st.markdown("#### Compare datasets")
    st.info("Pick at least two datasets analysed under these options (in the sidebar).")
    st.stop()
result = run(picked, opts, method, reference)
if result is None:
    st.stop()

line = st.container(key="scores-line")  # one line: the page, the scores at the common n, every score one click away
c0, c1, c2 = line.columns([1.7, 4.5, 0.8], vertical_alignment="center")
c0.markdown("#### Compare datasets")
c1.markdown(score_line(result))
with c2.popover("All scores", width="stretch"):
    st.caption(f"Under {opts.label()} (change the mode or model on the Gradient space page). G-Vendi grows with n, "
               "so datasets are compared at one n, the smallest one's: G-Vendi read on each curve there, and the "
               "text baselines on a random subsample of that size.")
    st.dataframe(scores_table(result), hide_index=True, width="stretch")

shared = result.shared
st.plotly_chart(datasets_map_figure(shared.names, shared.owner, shared.xy, height=COMPARE_MAP_HEIGHT),
                width="stretch", key="compare-map", config=gl_config())
how = ("fitted on the distinct rows of all of them together" if shared.method == "union"
       else f"every row placed onto {shared.reference}'s own map")
st.caption(f"A point per row, {how}; rows the datasets share sit on top of each other. Where only one colour shows, "
           "only that dataset covers the region; click a legend entry to hide a dataset.")

st.markdown("**Diversity curves**")
c1, c2 = st.columns([3, 1])
c1.plotly_chart(curves_figure(result.curves, mark_n=result.common_n), width="stretch", key="compare-curves")
c2.caption("Each curve: G-Vendi of random subsets of the dataset at ~10 sizes (line: mean; band: 10th-90th "
           f"percentile of the draws). {g_vendi_help(result.common_n, opts.dim)}")
