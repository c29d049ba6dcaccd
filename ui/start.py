"""Before a dataset is analysed: what analysing does, how long it would take here (timed on a probe batch), and a
random sample to look at first when the whole would take long."""
from __future__ import annotations

import streamlit as st

from core.analysis.estimate import Estimate, estimate, peek_estimate, remember_estimate, sample_dataset
from core.config import MIN_MAP_ROWS
from ui.analysis import PageOptions, start_analysis
from ui.state import get_store, select_dataset

SAMPLE_ROWS = 1_000


def run_estimate(dataset: str, opts: PageOptions) -> Estimate:
    """Times a probe batch of the dataset's own rows (their features are kept) and remembers the answer."""
    store, config = get_store(), opts.feature_config()
    with st.spinner("Timing a probe batch of 8 rows (the model loads first, ~20-30 s the first time)…"):
        est = estimate(store, dataset, config)
    return remember_estimate(store, dataset, config, est)


def not_analysed(dataset: str, opts: PageOptions, n: int) -> None:
    if n < MIN_MAP_ROWS:  # an analysis could only fail: say so, and offer none
        st.warning(f"**{dataset}** has {n} kept row{'' if n == 1 else 's'}: an analysis (clusters and the map) needs "
                   f"at least {MIN_MAP_ROWS}. Add rows, or include excluded ones, to analyse it.")
        return
    st.info(f"**{dataset}** ({n:,} samples) has no analysis for these settings ({opts.label()}) yet. Analysing "
            "computes each sample's gradient feature with the proxy model, then G-Vendi, baselines, clusters and the "
            "map. Computed features are cached: a re-run resumes.")
    c1, c2, c3 = st.columns([1, 1, 3])
    if c1.button("Analyse", type="primary"):
        start_analysis(dataset, opts)
        st.rerun()
    est = peek_estimate(get_store(), dataset, opts.feature_config())
    if est is None and c2.button("Estimate time", help="times the model on 8 random rows of this dataset"):
        est = run_estimate(dataset, opts)
    if est is None:
        return
    offer = n > SAMPLE_ROWS
    c3.markdown(f"{est.text()}" + (f"; analyse a random sample of {SAMPLE_ROWS:,} rows first?" if offer else "."))
    if offer and c3.button(f"Analyse a random sample of {SAMPLE_ROWS:,} rows"):
        name = sample_dataset(get_store(), dataset, SAMPLE_ROWS)
        select_dataset(name)
        start_analysis(name, opts)
        st.rerun()
