"""Synthesis widgets: the generator (or candidate pool) settings, launching a run, and its map."""
from __future__ import annotations

import streamlit as st

from core.config import DEFAULT_MODEL
from core.synthesis.credentials import environment_key_notice, redact
from ui.state import get_runner, get_store


def source_settings(dataset: str) -> dict:
    """Grow from a generator (the embedded model, or an endpoint) or from a candidate pool (another dataset)."""
    grow_from = st.radio("Grow from", ["generator", "pool"], horizontal=True,
                         format_func={"generator": "a generator (writes new problems)",
                                      "pool": "a candidate pool (another dataset here)"}.get)
    if grow_from == "generator":
        return generator_settings()
    others = [n for n in get_store().dataset_names() if n != dataset]
    if not others:
        st.info("No other dataset to draw from: upload a candidate pool on the Data page.")
        st.stop()
    pool = st.selectbox("Candidate pool", others)
    st.caption("Each round draws the pool's next unused rows (a seeded order), featurises them (cached: a pool is "
               "featurised once) and accepts those landing in sparse clusters; the control arm takes as many of the "
               "same rows at random.")
    return {"kind": "pool", "pool": pool}


def generator_settings() -> dict:
    """Embedded (llama.cpp), the same model in process, or an OpenAI-compatible endpoint. The API key stays in this
    browser session's memory (or comes from Streamlit secrets / the environment); it is never written anywhere."""
    kind = st.radio("Generator", ["embedded", "transformers", "openai"], horizontal=True,
                    format_func={"embedded": "Embedded SmolLM2-135M via llama.cpp (offline, weak)",
                                 "transformers": "Embedded, sampled by transformers (slower)",
                                 "openai": "OpenAI-compatible endpoint (vLLM, SGLang, a hosted API)"}.get)
    if kind != "openai":
        return {"kind": kind, "model": DEFAULT_MODEL}
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


def start_synthesis(dataset: str, config, source: dict) -> str:
    """Launch (or join) the run as a background job; a ValueError means the form is incomplete."""
    from core.features.compute import feature_config
    from core.synthesis.generators import make_generator
    from core.synthesis.loop import run_synthesis
    from core.synthesis.runs import start_run
    from core.synthesis.sources import PoolSource

    store, runner = get_store(), get_runner()
    gen = None
    if source["kind"] == "pool":
        name = PoolSource(store, config).name
    else:
        gen = make_generator(store, source["kind"], model=source.get("model"), base_url=source.get("base_url"),
                             api_key=source.get("api_key"))  # raises ValueError on an incomplete form
        name = gen.name
    fc = feature_config()
    run_id = start_run(store, dataset, config, name, fc)
    params = {"run_id": run_id, "generator": name}  # no key: params are stored in DuckDB

    def work(ctx):
        ctx.progress(0, 1, stage="synthesis")
        summary = run_synthesis(store, dataset, config, gen, fc, progress=ctx.progress, should_cancel=ctx.cancelled)
        if summary["status"] == "failed":  # every request failed (a wrong key, say): the job failed, with why
            raise RuntimeError(summary["error"])
        return summary

    return runner.start("synthesize", dataset, params, work)


def arms_figure(per_round: list[dict]):
    """G-Vendi and embedding Vendi of both arms, round by round; bars when there is a single round."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rounds = [r["round"] + 1 for r in per_round]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("G-Vendi (gradient)", "Embedding Vendi (MiniLM)"))
    trace = go.Bar if len(rounds) == 1 else go.Scatter
    for col, key in ((1, "g_vendi"), (2, "embedding_vendi")):
        for arm, name, colour in (("after", "filtered (sparse only)", "#4C78A8"),
                                  ("control", "control (random, same count)", "#F58518")):
            fig.add_trace(trace(x=rounds, y=[r[f"{key}_{arm}"] for r in per_round], name=name, legendgroup=arm,
                                showlegend=col == 1, marker_color=colour), row=1, col=col)
    fig.update_layout(height=330, margin=dict(t=40, b=10), barmode="group", legend=dict(orientation="h", y=-0.15))
    fig.update_xaxes(title_text="round", dtick=1)
    return fig


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
