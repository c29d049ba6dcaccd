"""Streamlit glue shared by the pages: the process-wide store and job runner, options, and the job panel."""
from __future__ import annotations

import threading

import streamlit as st

from core.analysis.analyse import AnalysisOptions, run_analysis
from core.config import DEFAULT_MODEL
from core.jobs import JobRunner
from core.synthesis.credentials import environment_key_notice, redact
from core.data.store import Store


@st.cache_resource
def get_store() -> Store:
    """One DuckDB connection for the server process (DuckDB allows one writer); threads use cursors."""
    return Store()


@st.cache_resource
def get_runner() -> JobRunner:
    return JobRunner(get_store())


@st.cache_resource
def warm_up_umap_in_background() -> threading.Thread:
    """umap's first fit JIT-compiles for ~20 s: do it at server start, off the page's thread."""
    from core.analysis.gradient_map import warm_up_umap

    thread = threading.Thread(target=warm_up_umap, name="umap-warm-up", daemon=True)
    thread.start()
    return thread


def current_dataset(names: list[str]) -> str | None:
    """The dataset in the URL (survives a refresh), else the last one picked in this session."""
    wanted = st.query_params.get("dataset") or st.session_state.get("dataset")
    return wanted if wanted in names else (names[-1] if names else None)


def pick_dataset(label: str = "Dataset") -> str:
    """A dataset selectbox that remembers the choice in the URL; stops the page when the workspace is empty."""
    names = get_store().dataset_names()
    if not names:
        st.info("No datasets yet: add one on the Data page.")
        st.stop()
    picked = st.selectbox(label, names, index=names.index(current_dataset(names)))
    if st.query_params.get("dataset") != picked:
        select_dataset(picked)
    return picked


def select_dataset(name: str) -> None:
    st.session_state["dataset"] = name
    st.query_params["dataset"] = name


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


def generator_settings() -> dict:
    """Embedded or an OpenAI-compatible endpoint. The API key stays in this browser session's memory (or comes from
    Streamlit secrets / the environment); it is never written to the workspace."""
    kind = st.radio("Generator", ["embedded", "openai"], horizontal=True,
                    format_func={"embedded": "Embedded SmolLM2-135M (offline, weak)",
                                 "openai": "OpenAI-compatible endpoint"}.get)
    if kind == "embedded":
        return {"kind": "embedded", "model": DEFAULT_MODEL}
    c1, c2, c3 = st.columns([3, 2, 2])
    base_url = c1.text_input("Base URL", value=st.session_state.get("base_url", "http://127.0.0.1:8000/v1"))
    model = c2.text_input("Model", value=st.session_state.get("gen_model", ""))
    secret = _secret_key(base_url)
    api_key = c3.text_input("API key", type="password", value="",
                            placeholder="from secrets/env for this URL" if secret else "optional") or secret
    notice = environment_key_notice(base_url)
    if notice and not api_key:
        st.caption(notice)
    st.session_state["base_url"], st.session_state["gen_model"] = base_url, model
    settings = {"kind": "openai", "model": model, "base_url": base_url, "api_key": api_key}
    if st.button("Test connection"):
        from core.synthesis.generators import make_generator

        try:
            reply = make_generator(get_store(), "openai", model=model, base_url=base_url, api_key=api_key,
                                   timeout=15).test_connection()
            st.success(f"Connected: the model answered {redact(reply[:60], api_key)!r}")
        except (ValueError, RuntimeError) as exc:  # a form problem, or the endpoint's own (redacted) error
            st.error(f"Connection failed: {redact(str(exc)[:300], api_key)}")
    return settings


def _secret_key(base_url: str) -> str | None:
    """A key from Streamlit secrets (PRISM_API_KEY with PRISM_API_BASE_URL) or the environment, only for the URL it
    was set for."""
    from core.synthesis.credentials import same_endpoint, environment_key

    try:
        key, meant_for = st.secrets.get("PRISM_API_KEY"), st.secrets.get("PRISM_API_BASE_URL")
    except Exception:  # no secrets file
        key = meant_for = None
    if key and meant_for and same_endpoint(meant_for, base_url):
        return key
    return environment_key(base_url)


def start_synthesis(dataset: str, config, generator: dict) -> str:
    from core.synthesis.generators import make_generator
    from core.features.compute import feature_config
    from core.synthesis.loop import run_synthesis, start_run

    store, runner = get_store(), get_runner()
    gen = make_generator(store, generator["kind"], model=generator.get("model"), base_url=generator.get("base_url"),
                         api_key=generator.get("api_key"))  # raises ValueError on an incomplete form
    fc = feature_config()
    run_id = start_run(store, dataset, config, gen.name, fc)
    params = {"run_id": run_id, "generator": gen.name}  # no key: params are stored in DuckDB

    def work(ctx):
        ctx.progress(0, config.rounds * config.requests_per_round, stage="synthesis")
        summary = run_synthesis(store, dataset, config, gen, fc, progress=ctx.progress, should_cancel=ctx.cancelled)
        if summary["status"] == "failed":  # every request failed (a wrong key, say): the job failed, with why
            raise RuntimeError(summary["error"])
        return summary

    return runner.start("synthesize", dataset, params, work)


def synthesis_map(dataset: str, run_id: str):
    """The pool's cached map with the run's accepted samples placed on it (None if no map)."""
    import numpy as np

    from core.analysis.gradient_map import latest_map
    from core.features.compute import feature_config
    from core.plots import map_figure

    store = get_store()
    fc = feature_config()
    gmap = latest_map(store, dataset, fc.key())
    if gmap is None:
        return None
    rows = store.query("SELECT content_hash, problem FROM synth_candidates WHERE run_id = ? AND accepted", [run_id])
    frame = store.samples_frame(dataset).set_index("id").loc[gmap.ids].reset_index()
    extra = None
    if rows:
        feats = store.features_by_hash(fc.key(), fc.dim, [r[0] for r in rows])
        X = np.stack([feats[r[0]] for r in rows])
        extra = {"xy": gmap.layout.place(X), "text": [r[1] for r in rows],
                 "name": f"accepted synthetic ({len(rows)})"}
    return map_figure(frame, gmap.labels, gmap.sparse_rows, gmap.xy, extra_points=extra, height=480)
