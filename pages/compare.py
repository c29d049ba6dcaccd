"""Compare 2-5 datasets fairly: their diversity curves on one chart, G-Vendi and baselines at one common n, and all
of them on one shared map, coloured by dataset."""
import streamlit as st

from core.plots import curves_figure, datasets_map_figure
from ui.analysis import options
from ui.compare import map_method, pick_datasets, run, scores_table
from ui.insight import g_vendi_help

st.title("Compare datasets")
opts = options()
st.caption(f"Under {opts.label()} (change the mode or model on the Gradient space page). G-Vendi grows with n, so "
           "datasets are compared at one n, the smallest one's: G-Vendi read on each curve there, and the text "
           "baselines on a random subsample of that size.")
picked = pick_datasets(opts)
if len(picked) < 2:
    st.info("Pick at least two datasets analysed under these options.")
    st.stop()
method, reference = map_method(picked)
result = run(picked, opts, method, reference)
if result is None:
    st.stop()

st.subheader("Diversity curves")
c1, c2 = st.columns([3, 1])
c1.plotly_chart(curves_figure(result.curves, mark_n=result.common_n), width="stretch", key="compare-curves")
c2.caption("Each curve: G-Vendi of random subsets of the dataset at ~10 sizes (line: mean; band: 10th-90th "
           f"percentile of the draws). {g_vendi_help(result.common_n, opts.dim)}")

st.subheader(f"At a common n = {result.common_n:,}")
st.dataframe(scores_table(result), hide_index=True, width="stretch")

st.subheader("One shared map")
shared = result.shared
st.plotly_chart(datasets_map_figure(shared.names, shared.owner, shared.xy), width="stretch", key="compare-map")
how = ("fitted on the distinct rows of all of them together" if shared.method == "union"
       else f"every row placed onto {shared.reference}'s own map")
st.caption(f"A point per row, {how}; rows the datasets share sit on top of each other. Where only one colour shows, "
           "only that dataset covers the region; click a legend entry to hide a dataset.")
