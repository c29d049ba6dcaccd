"""Synthesis: grow chosen sparse clusters from a generator (their exact prompt and the cost shown before launch) or
from a candidate pool, beside a control arm; watch each candidate as it is judged; compare and export."""
import dataclasses
from functools import partial

import pandas as pd
import streamlit as st

from core.analysis.sparsity import GROW_HELP, GROW_RULE, RULES
from core.features.compute import feature_config
from core.synthesis.config import SynthesisConfig
from core.synthesis.credentials import redact
from core.synthesis.export import export_bytes
from core.synthesis.plan import cost_estimate
from core.synthesis.runs import candidates_frame, runs_for, summarize
from core.synthesis.settings import check_settings
from ui.layout import gl_config, metric_columns
from ui.frame import through_app
from ui import arms_figure, get_runner, get_store, pick_dataset, source_settings, start_synthesis, \
    synthesis_map
from ui.synth_live import inspect_candidates, live_run
from ui.synthesis import add_arm_as_dataset, prompt_preview, target_picker

through_app()  # a deep link as the server's first visit: app.py runs first (ui/frame.py)

store = get_store()
st.title("Synthesis")
dataset = pick_dataset("Seed dataset")
pool, generator = source_settings(dataset)
pooled = pool is not None

st.write("**Budget and acceptance**")
c1, c2, c3, c4 = st.columns(4)
rounds = c1.number_input("Rounds", 1, 50, 1)
per_round = c2.number_input("Accepted per round" if pooled else "Requests per round", 1, 10_000, 40 if pooled else 8)
rule = c3.selectbox("Sparse rule", list(RULES), index=RULES.index(GROW_RULE), help=GROW_HELP)
max_accepted = c4.number_input("Stop after accepted (0 = no limit)", 0, 1_000_000, 0)
common = dict(rounds=int(rounds), rule=rule, max_accepted=int(max_accepted) or None)
if pooled:
    config = SynthesisConfig(source="pool", pool=pool, accept_per_round=int(per_round), **common)
    st.caption("Cost: no generation; each drawn pool row is featurised once (cached for every later run).")
else:
    c5, c6, c7, c8 = st.columns(4)
    config = SynthesisConfig(requests_per_round=int(per_round), **common,
                             problems_per_request=int(c5.number_input("Problems per request", 1, 8, 2)),
                             solutions_per_problem=int(c6.number_input("Solutions per problem (vote)", 1, 9, 3)),
                             max_problem_tokens=int(c7.number_input("Max tokens per problem reply", 32, 4096, 384)),
                             max_solution_tokens=int(c8.number_input("Max tokens per solution", 32, 4096, 384)))
    fc = feature_config()
    targets, clusters = target_picker(dataset, config, fc)
    config = dataclasses.replace(config, target_clusters=targets)
    with st.expander("What will be sent, and what it costs", expanded=True):
        prompt = prompt_preview(dataset, config, generator, fc, clusters)
        if prompt:
            seed_chars = store.mean_prompt_chars(dataset)
            st.dataframe(pd.DataFrame([cost_estimate(config, prompt, seed_chars or 200)]), hide_index=True)
            st.caption("At most: every request answered in full; prompt tokens ≈ characters / 4.")

problems = check_settings(store, dataset, config, generator)  # the CLI's checks too (core/synthesis/settings.py)
if st.button("Launch synthesis run", type="primary"):
    if problems:
        st.error("Not launched: " + " ".join(problems))
    else:
        try:
            st.query_params["synth_job"] = start_synthesis(dataset, config, generator)
        except (ValueError, KeyError) as exc:  # anything else the form cannot hold: said, never a traceback
            st.error(f"Not launched: {redact(str(exc))}")

job_id = st.query_params.get("synth_job")
job = get_runner().get(job_id) if job_id else get_runner().find_active("synthesize", dataset)
if job and job.active and job.dataset == dataset:
    live_run(job.id)
    st.stop()
if job and job.status == "failed" and job.dataset == dataset:
    st.error(f"The run failed: {redact((job.error or '').splitlines()[0])}")

runs = runs_for(store, dataset)
if not runs:
    st.info("No synthesis runs for this dataset yet.")
    st.stop()
st.subheader("Results")
run = st.selectbox("Run", runs, format_func=lambda r: f"{r['run_id']} · {r['generator']} · {r['status']}")
summary = summarize(store, run["run_id"])
if summary["status"] == "failed":
    st.error(f"This run failed: {summary['error']}. Fix the cause and launch it again: it resumes, and the failed "
             "requests are sent again.")
elif summary["status"] == "stopped (budget)":
    st.warning("This run stopped when its budget ran out; launch it again with a larger budget to finish it.")
for notice in summary.get("notices") or []:  # e.g. llama.cpp could not run here and transformers took over
    st.warning(notice)
c1, c2, c3, c4 = metric_columns(4, "run")
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
    st.plotly_chart(placed, width="stretch", key="synth-map", config=gl_config())

inspect_candidates(run["run_id"], candidates_frame(store, run["run_id"]))

arm = st.radio("Export", ["filtered", "control"], horizontal=True,
               format_func={"filtered": "the filtered pool", "control": "the control arm"}.get)
# built when clicked (a callable), not on every run of the page: a 200k-row export costs seconds and memory
c1, c2, c3 = st.columns(3)
for col, fmt in ((c1, "jsonl"), (c2, "parquet")):
    col.download_button(f"Export {fmt.upper() if fmt == 'jsonl' else 'Parquet'}",
                        partial(export_bytes, store, dataset, run_id=run["run_id"], fmt=fmt, arm=arm),
                        file_name=f"{dataset}-{arm}.{fmt}", mime="application/octet-stream")
if c3.button("Add as a dataset (to compare)", help="ingests this arm's export; its features are cached already"):
    name = add_arm_as_dataset(dataset, run["run_id"], arm)
    st.success(f"Added **{name}**: analyse it on the Gradient space page (no model needed), then compare it with "
               f"{dataset} on the Compare page.")
