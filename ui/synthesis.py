"""Synthesis widgets: the generator (or candidate pool) settings, which sparse clusters to grow and the exact prompt
they will get, launching a run, its map, and its arms as datasets. What is planned, checked and launched is core's
(core/synthesis/plan.py, settings.py, launch.py); the run's stages come from the loop, through its job's row."""
from __future__ import annotations

import dataclasses

import streamlit as st

from core.config import DEFAULT_MODEL
from core.synthesis.credentials import environment_key_notice, redact
from core.synthesis.settings import GeneratorSettings, generator_problems
from ui.state import get_runner, get_store


def source_settings(dataset: str) -> tuple[str | None, GeneratorSettings | None]:
    """Grow from a generator (the embedded model, or an endpoint) or from a candidate pool (another dataset):
    (the pool's name, None) or (None, the generator's settings)."""
    grow_from = st.radio("Grow from", ["generator", "pool"], horizontal=True,
                         format_func={"generator": "a generator (writes new problems)",
                                      "pool": "a candidate pool (another dataset here)"}.get)
    if grow_from == "generator":
        return None, generator_settings()
    others = [n for n in get_store().dataset_names() if n != dataset]
    if not others:
        st.info("No other dataset to draw from: upload a candidate pool on the Data page.")
        st.stop()
    pool = st.selectbox("Candidate pool", others)
    st.caption("Each round draws the pool's next unused rows (a seeded order), featurises them (cached: a pool is "
               "featurised once) and accepts those landing in sparse clusters; the control arm takes as many of the "
               "same rows at random.")
    return pool, None


def generator_settings() -> GeneratorSettings:
    """Embedded (llama.cpp), the same model in process, or an OpenAI-compatible endpoint. The API key stays in this
    browser session's memory (or comes from Streamlit secrets / the environment); it is never written anywhere."""
    kind = st.radio("Generator", ["embedded", "transformers", "openai"], horizontal=True,
                    format_func={"embedded": "Embedded SmolLM2-135M via llama.cpp (offline, weak)",
                                 "transformers": "Embedded, sampled by transformers (slower)",
                                 "openai": "OpenAI-compatible endpoint (vLLM, SGLang, a hosted API)"}.get)
    if kind != "openai":
        return GeneratorSettings(kind=kind, model=DEFAULT_MODEL)
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
    settings = GeneratorSettings(kind="openai", model=model, base_url=base_url, api_key=api_key)
    if st.button("Test connection"):
        problems = generator_problems(settings)
        if problems:
            st.error("Cannot test yet: " + " ".join(problems))
            return settings
        from core.synthesis.launch import make_source
        from core.synthesis.config import SynthesisConfig

        try:
            generator, _ = make_source(get_store(), SynthesisConfig(), dataclasses.replace(settings, timeout=15))
            reply = generator.test_connection()
            st.success(f"Connected: the model answered {redact(reply[:60], api_key)!r}")
        except Exception as exc:  # the endpoint's own (redacted) error, never a traceback
            st.error(f"Connection failed: {redact(str(exc)[:300], api_key)}")
    return settings


def _secret_key(base_url: str) -> str | None:
    """A key from Streamlit secrets (PRISM_API_KEY with PRISM_API_BASE_URL) or the environment, only for the URL it
    was set for."""
    from core.synthesis.credentials import environment_key, same_endpoint

    try:
        key, meant_for = st.secrets.get("PRISM_API_KEY"), st.secrets.get("PRISM_API_BASE_URL")
    except Exception:  # no secrets file
        key = meant_for = None
    if key and meant_for and same_endpoint(meant_for, base_url):
        return key
    return environment_key(base_url)


def target_picker(dataset: str, config, fc):
    """Which sparse clusters of the seed to grow (default: all of them). Returns (target tuple or None, clusters)."""
    from ui.selection_actions import grow_targets
    from ui.synth_plan import seed_clusters

    clusters = seed_clusters(dataset, config, fc)
    if clusters is None:
        st.info("The seed has no gradient features yet: analyse it on the Gradient space page to pick clusters and "
                "preview the prompts (a run analyses it first otherwise).")
        return None, None
    sparse = [int(c) for c in clusters.sparse.nonzero()[0]]
    sizes = {c: int((clusters.labels == c).sum()) for c in sparse}

    def name(c: int) -> str:
        words = ", ".join(clusters.words.get(c, [])[:3])
        return f"cluster {c} · {sizes[c]} rows" + (f" · {words}" if words else "")

    key = f"targets-{dataset}-{config.rule}"
    handed = grow_targets(dataset, clusters.texts, clusters.labels, clusters.sparse)
    if handed is not None:  # "grow this region" on the map: its rows' clusters, once
        from ui.selection_actions import GROW_KEY

        st.session_state.pop(GROW_KEY, None)
        targets, other = handed
        if targets:
            st.session_state[key] = targets
        st.info(f"From the selection (grow this region): {len(targets)} of its clusters are sparse under the "
                f"{config.rule} rule and preselected ({', '.join(map(str, targets)) or 'none'})" +
                (f"; {len(other)} are not sparse, so a run could not grow them ({', '.join(map(str, other))})"
                 if other else "") + ".")
    picked = st.multiselect(f"Sparse clusters to grow ({len(sparse)} under the {config.rule} rule; all by default)",
                            sparse, default=None if key in st.session_state else sparse, format_func=name, key=key,
                            help="few-shot examples are drawn from these clusters of the seed, round robin; later "
                                 "rounds re-cluster the grown pool and grow its sparse clusters")
    if not picked:
        st.warning("No cluster picked: the run grows every sparse cluster.")
    return (tuple(picked) if picked and len(picked) < len(sparse) else None), clusters


def prompt_preview(dataset: str, config, generator: GeneratorSettings, fc, clusters) -> str | None:
    """The exact first prompt for one target cluster, with its few-shot examples (core/synthesis/plan.py: the
    requests the run will send); returns it (for the estimate)."""
    from core.synthesis.launch import source_name
    from core.synthesis.plan import UNNAMED_MODEL, preview

    if clusters is None:
        return None
    named = source_name(get_store(), config, generator)
    by_target = {}
    for request in preview(dataset, config, named or UNNAMED_MODEL, fc.key(), clusters):
        by_target.setdefault(request.target, request)
    if not by_target:
        return None
    target = st.selectbox("Preview the prompt for cluster", list(by_target), key=f"preview-{dataset}",
                          format_func=lambda c: f"cluster {c} (request {by_target[c].index + 1} of "
                                                f"{config.requests_per_round} in round 1)")
    request = by_target[target]
    st.caption(f"The exact prompt of request {request.index + 1}, with its {len(request.shots)} few-shot examples "
               f"from cluster {target}"
               + ("" if named else " (the examples are drawn again once the model is named: the run id includes "
                                   "it)") + ". Each problem it returns is then solved "
               f"{config.solutions_per_problem}x and kept if the answers agree.")
    st.code(request.prompt, language=None, wrap_lines=True)
    return request.prompt


def start_synthesis(dataset: str, config, generator: GeneratorSettings | None) -> str:
    """Launch (or join) the run as a background job (core/synthesis/launch.py); returns the job's id. A ValueError
    says, in words, what the settings lack."""
    from core.features.compute import feature_config
    from core.synthesis.launch import launch

    return launch(get_store(), get_runner(), dataset, config, generator, feature_config()).job_id


def add_arm_as_dataset(dataset: str, run_id: str, arm: str) -> str:
    """The arm's export (seed + its synthetic rows) ingested as a dataset, to analyse and compare with the seed;
    every row's features and embeddings are cached already, so its analysis needs no model."""
    from core.data.datasets import ingest, save_upload
    from core.synthesis.export import export_bytes

    store = get_store()
    name = f"{dataset}-{arm}-{run_id[:6]}"
    path = save_upload(f"{name}.jsonl", export_bytes(store, dataset, run_id=run_id, fmt="jsonl", arm=arm))
    return ingest(store, path, name=name, display_name=f"{name}.jsonl")[0]


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

    from core.analysis.cache import latest_map
    from core.features.compute import feature_config
    from core.plots import map_figure

    store = get_store()
    fc = feature_config()
    gmap = latest_map(store, dataset, fc.key())
    if gmap is None:
        return None
    rows = [(c.content_hash, c.problem) for c in store.arm_candidates(run_id, "filtered")]
    frame = store.samples_frame(dataset).set_index("id").loc[gmap.ids].reset_index()
    extra = None
    if rows:
        feats = store.features_by_hash(fc.key(), fc.dim, [r[0] for r in rows])
        X = np.stack([feats[r[0]] for r in rows])
        extra = {"xy": gmap.layout.place(X), "text": [r[1] for r in rows],
                 "name": f"accepted synthetic ({len(rows)})"}
    return map_figure(frame, gmap.labels, gmap.sparse_rows, gmap.xy, extra_points=extra, height=480,
                      suspect=gmap.suspect)  # the seed's suspect rows as on the Gradient space map (no reasons here)


__all__ = ["add_arm_as_dataset", "arms_figure", "generator_settings", "prompt_preview", "source_settings",
           "start_synthesis", "synthesis_map", "target_picker"]
