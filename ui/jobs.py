"""Background jobs in the page: the job panel (stage, progress, ETA, cancel, 'cancelling…'), finished-job notices, and
`background`: a cached value computed in the page when cheap, else by a job whose progress is shown meanwhile."""
from __future__ import annotations

from typing import Callable, TypeVar

import streamlit as st

from core.jobs import list_jobs
from ui.state import get_runner, get_store

T = TypeVar("T")


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f" · about {seconds:.0f} s left" if seconds < 120 else f" · about {seconds / 60:.0f} min left"


def job_status(job) -> None:
    """One job's progress line; after Cancel, a 'cancelling…' state until the worker reaches a checkpoint."""
    if job.cancelling:
        st.progress(job.fraction, text=f"Cancelling {job.kind}… it stops after the current batch; finished work "
                                       "is kept and a new run resumes it.")
        return
    detail = f"{job.done}/{job.total}" if job.total > 1 and job.stage == "gradient features" else job.message
    st.progress(job.fraction, text=f"{job.stage or job.status}{': ' + detail if detail else ''}"
                                   f"{eta_text(job.eta_seconds)}")


def polled_job(job_id: str):
    """The job's row, read from DuckDB by a polling fragment (the worker never calls streamlit); the whole page
    reruns once the job has ended, so its results replace the panel."""
    job = get_runner().get(job_id)
    if job is not None and not job.active:
        st.rerun()
    return job


def cancel_button(job, label: str = "Cancel") -> None:
    """Cancel, disabled while the worker is already cancelling."""
    if st.button(label, key=f"cancel-{job.id}", disabled=job.cancelling):
        get_runner().cancel(job.id)
        st.rerun()


@st.fragment(run_every="1s")
def job_panel(job_id: str) -> None:
    job = polled_job(job_id)
    if job is None:
        return
    job_status(job)
    cancel_button(job)


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


def background(kind: str, scope: str, params: dict, read: Callable[[], T | None], compute: Callable[[], object], *,
               inline: bool, what: str) -> T | None:
    """`read()` if cached; else compute it: in the page (spinner) when `inline`, else as a background job whose
    progress is shown here (None meanwhile; the page reruns when it ends). A failed job is said, with a retry, and
    not started again on every rerun."""
    value = read()
    if value is not None:
        return value
    if inline:
        with st.spinner(f"Computing {what}…"):
            compute()
        return read()
    runner = get_runner()
    active = runner.find_active(kind, scope, params)
    if active is None:
        last = next((j for j in list_jobs(get_store(), dataset=scope, limit=20)
                     if j.kind == kind and j.params == params), None)
        if last is not None and last.status == "failed" and not st.button(f"Retry {what}", key=f"retry-{kind}"):
            st.warning(f"Computing {what} failed: {(last.error or '').splitlines()[0] if last.error else '?'}")
            return None
        active_id = runner.start(kind, scope, params, lambda ctx: (ctx.progress(0, 1, stage=what), compute(), None)[2])
    else:
        active_id = active.id
    st.caption(f"Computing {what} in the background (from the cached features; no model).")
    job_panel(active_id)
    return None
