"""The job panel: progress, stage, ETA and cancel of a background job, polled from DuckDB."""
from __future__ import annotations

import streamlit as st

from ui.state import get_runner


@st.fragment(run_every="1s")
def job_panel(job_id: str) -> None:
    """Polls the job's row in DuckDB; the worker never calls streamlit. Reruns the page when the job ends."""
    runner = get_runner()
    job = runner.get(job_id)
    if job is None:
        return
    if not job.active:
        st.rerun()
    eta = f" · about {job.eta_seconds:.0f} s left" if job.eta_seconds is not None else ""
    detail = f"{job.done}/{job.total}" if job.total > 1 and job.stage == "gradient features" else job.message
    st.progress(job.fraction, text=f"{job.stage or job.status}: {detail}{eta}")
    if st.button("Cancel", key=f"cancel-{job_id}"):
        runner.cancel(job_id)
        st.toast("Cancelling after the current batch; finished work is kept.")


def show_finished_job(job_id: str | None) -> None:
    if not job_id:
        return
    job = get_runner().get(job_id)
    if job and job.status == "failed":
        st.error(f"The analysis failed: {job.error.splitlines()[0] if job.error else 'unknown error'}")
        with st.expander("Details"):
            st.code(job.error or "")
    elif job and job.status in ("cancelled", "interrupted"):
        st.warning(f"The last analysis was {job.status}; computed features are kept and a new run resumes them.")
