"""Analysis options (model, mode, clusters, where to compute) and starting the analyse job."""
from __future__ import annotations

import streamlit as st

from core.analysis.analyse import AnalysisOptions, run_analysis
from core.config import DEFAULT_MODEL
from ui.state import get_runner, get_store


def options() -> AnalysisOptions:
    return st.session_state.get("options") or AnalysisOptions()


def options_form() -> AnalysisOptions:
    """Model, mode and cluster settings in a form: nothing recomputes until the user applies them."""
    cur = options()
    with st.form("analysis-options"):
        c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
        model = c1.text_input("Proxy model", value=cur.model,
                              help=f"'{DEFAULT_MODEL}' is embedded and offline; or a Hugging Face id or local path")
        mode = c2.selectbox("Mode", ["fast", "full"], index=["fast", "full"].index(cur.mode))
        k = c3.number_input("Clusters k (0 = n/10)", min_value=0, max_value=1000, value=cur.k or 0, step=1)
        rule = c4.selectbox("Sparse rule", ["paper", "density"], index=["paper", "density"].index(cur.rule),
                            help="paper: clusters below the median size; density: the least dense half of samples")
        if st.form_submit_button("Apply"):
            st.session_state["options"] = AnalysisOptions(model=model.strip() or DEFAULT_MODEL, mode=mode,
                                                          k=int(k) or None, rule=rule)
    return options()


def start_analysis(dataset: str, opts: AnalysisOptions) -> str:
    store, runner = get_store(), get_runner()
    params = {"model": opts.model, "mode": opts.mode, "k": opts.k, "rule": opts.rule}
    job_id = runner.start("analyse", dataset, params, lambda ctx: run_analysis(store, dataset, opts, ctx))
    st.query_params["job"] = job_id
    return job_id


def active_job_id(dataset: str) -> str | None:
    """The job in the URL if it is still active, else any active analysis of this dataset (e.g. after a refresh)."""
    runner = get_runner()
    job_id = st.query_params.get("job")
    job = runner.get(job_id) if job_id else None
    if job is None or not job.active:
        job = runner.find_active("analyse", dataset)
    return job.id if job else None
