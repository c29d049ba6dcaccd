"""Synthesis: one click grows the sparse regions (Prismatic Synthesis); watch it, compare with the control, export."""
from functools import partial

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.synthesis.credentials import redact
from core.synthesis.export import export_bytes
from core.synthesis.loop import SynthesisConfig, candidates_frame, runs_for, summarize
from ui import generator_settings, get_runner, get_store, job_panel, pick_dataset, start_synthesis, synthesis_map

store = get_store()
st.title("Synthesis")
dataset = pick_dataset("Seed dataset")

generator = generator_settings()
with st.form("synthesis-budget"):
    st.write("Budget and sampling")
    c1, c2, c3, c4 = st.columns(4)
    rounds = c1.number_input("Rounds", 1, 20, 1)
    requests = c2.number_input("Requests per round", 1, 500, 8)
    problems = c3.number_input("Problems per request", 1, 8, 2)
    solutions = c4.number_input("Solutions per problem (vote)", 1, 9, 3)
    c5, c6, c7, c8 = st.columns(4)
    max_accepted = c5.number_input("Stop after accepted (0 = no limit)", 0, 100_000, 0)
    answer_mode = c6.selectbox("Answers", ["math", "exact", "none"],
                               help="math: math-verify on \\boxed{}; exact: normalised last line; none: no vote")
    problem_tokens = c7.number_input("Max tokens per problem reply", 32, 4096, 384)
    solution_tokens = c8.number_input("Max tokens per solution", 32, 4096, 384)
    launch = st.form_submit_button("Launch synthesis run", type="primary")
config = SynthesisConfig(rounds=int(rounds), requests_per_round=int(requests), problems_per_request=int(problems),
                         solutions_per_problem=int(solutions), max_accepted=int(max_accepted) or None,
                         answer_mode=answer_mode, max_problem_tokens=int(problem_tokens),
                         max_solution_tokens=int(solution_tokens))
if launch:
    try:
        st.query_params["synth_job"] = start_synthesis(dataset, config, generator)
    except ValueError as exc:  # an incomplete form (no model, no URL): say what is missing, keep the page
        st.error(str(exc))

job_id = st.query_params.get("synth_job")
job = get_runner().get(job_id) if job_id else get_runner().find_active("synthesize", dataset)
if job and job.active:
    job_panel(job.id)
    run_id = job.params.get("run_id")
    if run_id:
        live = candidates_frame(store, run_id)
        if len(live):
            st.write("Candidates so far by reason")
            st.bar_chart(live["reason"].value_counts())
            st.write("Newest accepted")
            st.dataframe(live[live["accepted"]].tail(5)[["round", "cluster", "answer", "problem"]],
                         hide_index=True, width="stretch")
    st.stop()
if job and job.status == "failed":
    st.error(f"The run failed: {redact((job.error or '').splitlines()[0])}")

runs = runs_for(store, dataset)
if not runs:
    st.info("No synthesis runs for this dataset yet.")
    st.stop()
run = st.selectbox("Run", runs, format_func=lambda r: f"{r['run_id']} · {r['generator']} · {r['status']}")
summary = summarize(store, run["run_id"])
if summary["status"] == "failed":
    st.error(f"This run failed: {summary['error']}. Fix the cause and launch it again: it resumes, and the failed "
             "requests are sent again.")
elif summary["status"] == "stopped (budget)":
    st.warning("This run stopped when its budget ran out; launch it again with a larger budget to finish it.")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Accepted", summary["accepted"])
c2.metric("Rejected", sum(summary["rejected"].values()))
if summary["per_round"]:
    c3.metric("G-Vendi after", f"{summary['g_vendi_after']:.2f}",
              delta=f"{summary['g_vendi_after'] - summary['g_vendi_before']:+.2f}")
    c4.metric("Control (no filter)", f"{summary['g_vendi_control']:.2f}",
              delta=f"{summary['g_vendi_control'] - summary['g_vendi_before']:+.2f}")
    per_round = pd.DataFrame(summary["per_round"])
    fig = go.Figure([go.Scatter(x=per_round["round"], y=per_round["g_vendi_after"], name="filtered (sparse only)"),
                     go.Scatter(x=per_round["round"], y=per_round["g_vendi_control"], name="control (no filter)"),
                     go.Scatter(x=per_round["round"], y=per_round["g_vendi_before"], name="pool before the round",
                                line=dict(dash="dot"))])
    fig.update_layout(height=320, xaxis_title="round", yaxis_title="G-Vendi", margin=dict(t=20, b=10))
    st.plotly_chart(fig, width="stretch")

placed = synthesis_map(dataset, run["run_id"])
if placed is not None:
    st.caption("Accepted samples (stars) placed on the pool's map")
    st.plotly_chart(placed, width="stretch", key="synth-map")

frame = candidates_frame(store, run["run_id"])
reasons = st.multiselect("Filter candidates by reason", sorted(frame["reason"].unique()))
shown = frame[frame["reason"].isin(reasons)] if reasons else frame
st.dataframe(shown, hide_index=True, width="stretch")

# built when clicked (a callable), not on every run of the page: a 200k-row export costs seconds and memory
c1, c2 = st.columns(2)
c1.download_button("Export JSONL", partial(export_bytes, store, dataset, run_id=run["run_id"], fmt="jsonl"),
                   file_name=f"{dataset}-grown.jsonl", mime="application/jsonl")
c2.download_button("Export Parquet", partial(export_bytes, store, dataset, run_id=run["run_id"], fmt="parquet"),
                   file_name=f"{dataset}-grown.parquet", mime="application/octet-stream")
