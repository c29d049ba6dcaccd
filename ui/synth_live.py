"""A synthesis run as it happens: its stage, counts by reason, ETA, and the latest candidates with the prompt that
produced them, the raw reply, the solutions and their answers, so a user sees why each was kept or rejected (a
suspect candidate with the quality read's reasons in words)."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.synthesis.runs import REASONS, candidates_frame
from ui.curatedata import escape_md
from ui.jobs import cancel_button, job_status, polled_job
from ui.layout import metric_columns
from ui.state import get_store

WHY = {"accepted": "its nearest cluster is sparse: kept", "dense cluster": "its nearest cluster is dense: rejected",
       "off target": "growing toward an eval set: it lands in no eval cluster the data leaves uncovered: rejected",
       "duplicate": "too close to a row already in the pool", "no majority": "the solutions disagree on the answer",
       "no answer": "no solution gave a parsable answer", "parse failure": "no problem found in the reply",
       "generation error": "the endpoint failed to answer", "solution error": "the solve requests failed",
       "suspect": "the quality read flags it against the seed's own rows (junk, mismatched or degenerate): never "
                  "accepted, nor drawn by the control"}


def _prompts(run_id: str) -> dict:
    """Exact prompts per (round, request) of the run's clustered rounds (core/synthesis/plan.py, cached)."""
    from ui.synth_plan import round_prompts

    return round_prompts(run_id, get_store().clustered_rounds(run_id))


def _listed(value) -> list:
    if value is None or (isinstance(value, float) and value != value):
        return []
    if isinstance(value, str):
        try:
            return json.loads(value) or []
        except ValueError:
            return [value]
    return list(value)


def candidate_detail(row, prompts: dict) -> None:
    """One candidate: why it was kept or rejected, then the prompt, the raw reply, and each solution with its answer."""
    reason = row["reason"]
    st.markdown(f"**{reason}** — {WHY.get(reason, '')}" + (f" · target cluster {int(row['target_cluster'])}"
                                                          if pd.notna(row["target_cluster"]) else "")
                + (f" · landed in cluster {int(row['cluster'])}" if pd.notna(row["cluster"]) else ""))
    for why in _listed(row.get("quality")):  # the quality read's reasons (reason "suspect")
        st.markdown(f"- {escape_md(str(why))}")
    found = prompts.get((int(row["round"]), int(row["request_idx"])))
    if found:
        st.caption("Prompt")
        st.code(found[1], language=None, wrap_lines=True)
    if row.get("raw_output"):
        st.caption("Raw reply")
        st.code(str(row["raw_output"])[:4000], language=None, wrap_lines=True)
    solutions, answers = _listed(row.get("solutions")), _listed(row.get("answers"))
    for i, text in enumerate(solutions):
        answer = answers[i] if i < len(answers) else None
        st.caption(f"Solution {i + 1} · answer: {answer if answer is not None else '(none parsed)'}")
        st.code(str(text or "(failed)")[:3000], language=None, wrap_lines=True)
    if pd.notna(row.get("answer")):
        st.caption(f"Majority answer: {row['answer']} ({int(row['votes']) if pd.notna(row['votes']) else '?'} votes)")


def counts_by_reason(frame: pd.DataFrame) -> None:
    counts = frame["reason"].value_counts()
    shown = [r for r in REASONS if r in counts]
    if not shown:
        st.caption("No candidate yet: the first step's replies are being written.")
        return
    for col, reason in zip(metric_columns(len(shown), "reasons"), shown):
        col.metric(reason, int(counts[reason]))


@st.fragment(run_every="2s")
def live_run(job_id: str) -> None:
    """Polled every 2 s from DuckDB (the worker never calls streamlit); reruns the page when the run ends."""
    job = polled_job(job_id)
    if job is None:
        return
    st.subheader("Run in progress")
    job_status(job)
    cancel_button(job, "Cancel the run")
    run_id = job.params.get("run_id")
    frame = candidates_frame(get_store(), run_id) if run_id else pd.DataFrame(columns=["reason"])
    counts_by_reason(frame)
    if len(frame):
        prompts = _prompts(run_id)
        st.caption(f"Latest candidates ({len(frame)} so far), newest first")
        for _, row in frame.tail(8).iloc[::-1].iterrows():
            title = (f"round {int(row['round']) + 1} · request {int(row['request_idx']) + 1} · "
                     f"{row['reason']} · {str(row['problem'] or '')[:80]}")
            with st.expander(title):
                candidate_detail(row, prompts)


def with_quality(frame: pd.DataFrame) -> pd.DataFrame:
    """The candidates with their quality reasons in words, one string each ('' when the read flagged nothing; runs
    made before the quality read have no such column)."""
    reasons = frame["quality"] if "quality" in frame else pd.Series([None] * len(frame), index=frame.index)
    return frame.assign(quality=["; ".join(str(r) for r in _listed(v)) for v in reasons])


def inspect_candidates(run_id: str, frame: pd.DataFrame) -> None:
    """After a run: the candidates by reason, and one of them in full."""
    reasons = st.multiselect("Filter candidates by reason", sorted(frame["reason"].unique()), key=f"rs-{run_id}")
    shown = frame[frame["reason"].isin(reasons)] if reasons else frame
    cols = ["round", "request_idx", "problem_idx", "target_cluster", "cluster", "reason", "quality", "answer", "votes",
            "problem"]
    st.dataframe(with_quality(shown)[cols], hide_index=True, width="stretch",
                 column_config={"quality": st.column_config.TextColumn(
                     "quality", help="why the quality read calls a candidate suspect (reason 'suspect')")})
    if len(shown):
        pick = st.selectbox("Inspect a candidate", list(range(len(shown))), key=f"inspect-{run_id}-{len(shown)}",
                            format_func=lambda i: f"round {int(shown.iloc[i]['round']) + 1} · request "
                                                  f"{int(shown.iloc[i]['request_idx']) + 1} · "
                                                  f"{shown.iloc[i]['reason']}")
        candidate_detail(shown.iloc[pick], _prompts(run_id))
