"""Target: how well a training set covers an eval set in gradient space, where it does not, which eval rows leaked into
it (and which only look alike: variants with other numbers), and growth toward the uncovered part
(core/analysis/target_view.py; the CLI: coverage, select --toward, synthesize --toward)."""
import streamlit as st

from ui.frame import through_app
from ui.analysis import options
from ui.layout import gl_config, metric_columns
from ui.target import (contamination_table, curve_figure, exclusion_buttons, growth_form, pick_pair, report,
                       shared_map_figure, variants_table)

through_app()  # a deep link as the server's first visit: app.py runs first (ui/frame.py)

st.title("Target an eval set")
opts = options()
st.caption(f"Under {opts.label()}. Both datasets' features must share one identity. An eval row is covered when its "
           "nearest training row is at least as close as the eval set's own median nearest-neighbour cosine.")
train, evals = pick_pair(opts)
if train is None:
    st.stop()
rep = report(train, evals, opts)
if rep is None:
    st.stop()

cov = rep.coverage
c1, c2, c3, c4 = metric_columns(4, "coverage")
c1.metric("Coverage", f"{cov.coverage:.1%}", help="share of eval rows covered (README: Coverage)")
c2.metric("Uncovered eval rows", f"{len(rep.uncovered_ids)} of {len(rep.eval_ids)}")
c3.metric("Uncovered eval clusters", len(cov.uncovered_clusters))
c4.metric("Eval rows with a training copy", len({h['eval_id'] for h in rep.contaminated}))
st.caption(f"Coverage bar: cosine {cov.threshold:.3f}.")

st.subheader("Coverage against budget")
st.plotly_chart(curve_figure(rep.curve, evals), width="stretch", key="target-curve")
st.caption(f"Eval coverage by the first k rows of {train} chosen toward {evals} (greedy facility location, as "
           "`select --toward` does) and by k random rows of it.")

st.subheader("One shared map")
st.plotly_chart(shared_map_figure(rep, opts), width="stretch", key="target-map", config=gl_config())
st.caption("Both datasets fitted on one layout (as Compare does); red crosses are eval rows no training row is near.")

st.subheader("Contamination")
if rep.contaminated:
    st.dataframe(contamination_table(rep), hide_index=True, width="stretch")
else:
    st.success(f"No eval row of {evals} has a copy in {train} (exact, normalised, MinHash or gradient).")
exclusion_buttons(rep)

st.subheader("Variants: not contamination")
st.caption("Eval rows with a near-copy in training whose numbers or final answer differ (the same template with other "
           "numbers, or a sibling subproblem asking something else): a new problem to the model, not a leak. Listed "
           "for review, never excluded. Diff: [-eval words-] {+training words+}.")
if rep.variants:
    st.dataframe(variants_table(rep), hide_index=True, width="stretch")
else:
    st.caption(f"No eval row of {evals} has a near-copy with other numbers in {train}.")

st.subheader("Grow toward the uncovered part")
st.caption(f"A pool run that accepts only candidates landing in the eval clusters {train} leaves uncovered, with a "
           "control arm of as many random valid candidates (`synthesize --toward`).")
growth_form(rep, opts)
