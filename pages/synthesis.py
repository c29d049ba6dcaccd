"""Synthesis: grow the sparse regions from a generator or a candidate pool, beside a control arm; watch; export."""
from functools import partial

import streamlit as st

from core.synthesis.config import SynthesisConfig
from core.synthesis.credentials import redact
from core.synthesis.export import export_bytes
from core.synthesis.runs import candidates_frame, runs_for, summarize
from ui import arms_figure, get_runner, get_store, job_panel, pick_dataset, source_settings, start_synthesis, \
    synthesis_map

store = get_store()
st.title("Synthesis")
dataset = pick_dataset("Seed dataset")
source = source_settings(dataset)
pooled = source["kind"] == "pool"

with st.form("synthesis-budget"):
    st.write("Budget and acceptance")
    c1, c2, c3, c4 = st.columns(4)
    rounds = c1.number_input("Rounds", 1, 50, 1)
    per_round = c2.number_input("Accepted per round" if pooled else "Requests per round", 1, 10_000, 40 if pooled else 8)
    rule = c3.selectbox("Sparse rule", ["paper", "density", "mass"], help="which clusters count as sparse")
    max_accepted = c4.number_input("Stop after accepted (0 = no limit)", 0, 1_000_000, 0)
    if not pooled:
        c5, c6, c7, c8 = st.columns(4)
        problems = c5.number_input("Problems per request", 1, 8, 2)
        solutions = c6.number_input("Solutions per problem (vote)", 1, 9, 3)
        problem_tokens = c7.number_input("Max tokens per problem reply", 32, 4096, 384)
        solution_tokens = c8.number_input("Max tokens per solution", 32, 4096, 384)
    launch = st.form_submit_button("Launch synthesis run", type="primary")
common = dict(rounds=int(rounds), rule=rule, max_accepted=int(max_accepted) or None)
config = (SynthesisConfig(source="pool", pool=source["pool"], accept_per_round=int(per_round), **common) if pooled
          else SynthesisConfig(requests_per_round=int(per_round), problems_per_request=int(problems),
                               solutions_per_problem=int(solutions), max_problem_tokens=int(problem_tokens),
                               max_solution_tokens=int(solution_tokens), **common))
if launch:
    try:
        st.query_params["synth_job"] = start_synthesis(dataset, config, source)
    except (ValueError, KeyError) as exc:  # an incomplete form (no model, no URL): say what is missing
        st.error(str(exc))

job_id = st.query_params.get("synth_job")
job = get_runner().get(job_id) if job_id else get_runner().find_active("synthesize", dataset)
if job and job.active:
    job_panel(job.id)
    run_id = job.params.get("run_id")
    live = candidates_frame(store, run_id) if run_id else None
    if live is not None and len(live):
        st.write("Candidates so far by reason")
        st.bar_chart(live["reason"].value_counts())
        st.dataframe(live.tail(10)[["round", "reason", "cluster", "answer", "problem"]], hide_index=True,
                     width="stretch")
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
c1.metric("Accepted (filtered)", summary["accepted"])
c2.metric("Rejected", sum(summary["rejected"].values()))
if summary["per_round"]:
    c3.metric("G-Vendi filtered", f"{summary['g_vendi_after']:.2f}",
              delta=f"{summary['g_vendi_after'] - summary['g_vendi_before']:+.2f}")
    c4.metric("Control (no filter)", f"{summary['g_vendi_control']:.2f}",
              delta=f"{summary['g_vendi_control'] - summary['g_vendi_before']:+.2f}")
    st.caption("Both arms start from the seed and grow by the same number of rows per round from the same "
               "candidates: the filtered arm keeps those in sparse clusters, the control takes as many at random.")
    st.plotly_chart(arms_figure(summary["per_round"]), width="stretch")

placed = synthesis_map(dataset, run["run_id"])
if placed is not None:
    st.caption("Accepted samples (stars) placed on the seed's map")
    st.plotly_chart(placed, width="stretch", key="synth-map")

frame = candidates_frame(store, run["run_id"])
reasons = st.multiselect("Filter candidates by reason", sorted(frame["reason"].unique()))
st.dataframe(frame[frame["reason"].isin(reasons)] if reasons else frame, hide_index=True, width="stretch")

arm = st.radio("Export", ["filtered", "control"], horizontal=True,
               format_func={"filtered": "the filtered pool", "control": "the control arm"}.get)
# built when clicked (a callable), not on every run of the page: a 200k-row export costs seconds and memory
c1, c2 = st.columns(2)
for col, fmt in ((c1, "jsonl"), (c2, "parquet")):
    col.download_button(f"Export {fmt.upper() if fmt == 'jsonl' else 'Parquet'}",
                        partial(export_bytes, store, dataset, run_id=run["run_id"], fmt=fmt, arm=arm),
                        file_name=f"{dataset}-{arm}.{fmt}", mime="application/octet-stream")
