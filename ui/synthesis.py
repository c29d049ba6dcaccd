"""Synthesis widgets: the generator (or candidate pool) settings with form checks, which sparse clusters to grow and
the exact prompt they will get, launching a run (its stages reported as it goes), its map, and its arms as datasets."""
from __future__ import annotations

from urllib.parse import urlparse

import streamlit as st

from core.config import DEFAULT_MODEL
from core.synthesis.credentials import environment_key_notice, redact
from core.synthesis.sources import problem_prompt
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


def form_problems(source: dict) -> list[str]:
    """What is missing or malformed in the generator form, in the form's own words (empty: ready)."""
    if source.get("kind") != "openai":
        return []
    problems = []
    url = (source.get("base_url") or "").strip()
    parsed = urlparse(url)
    if not url:
        problems.append("Base URL is empty: give the endpoint's address, e.g. http://127.0.0.1:8000/v1.")
    elif parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append(f"Base URL {url!r} is not an http(s) address, e.g. http://127.0.0.1:8000/v1.")
    if not (source.get("model") or "").strip():
        problems.append("Model is empty: give the model's name as the endpoint knows it (its /v1/models lists them).")
    return problems


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
        problems = form_problems(settings)
        if problems:
            st.error("Cannot test yet: " + " ".join(problems))
            return settings
        from core.synthesis.generators import make_generator

        try:
            reply = make_generator(get_store(), "openai", model=model, base_url=base_url, api_key=api_key,
                                   timeout=15).test_connection()
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


def make_source_generator(source: dict):
    from core.synthesis.generators import make_generator

    return make_generator(get_store(), source["kind"], model=source.get("model"), base_url=source.get("base_url"),
                          api_key=source.get("api_key"))  # raises ValueError on an incomplete form


def generator_name(source: dict) -> str | None:
    """The generator's name (part of the run id) without starting anything; None while the form is incomplete."""
    if form_problems(source):
        return None
    try:
        return make_source_generator(source).name
    except ValueError:
        return None


def target_picker(dataset: str, config, fc):
    """Which sparse clusters of the seed to grow (default: all of them). Returns (target tuple or None, clusters)."""
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

    picked = st.multiselect(f"Sparse clusters to grow ({len(sparse)} under the {config.rule} rule; all by default)",
                            sparse, default=sparse, format_func=name, key=f"targets-{dataset}-{config.rule}",
                            help="few-shot examples are drawn from these clusters of the seed, round robin; later "
                                 "rounds re-cluster the grown pool and grow its sparse clusters")
    if not picked:
        st.warning("No cluster picked: the run grows every sparse cluster.")
    return (tuple(picked) if picked and len(picked) < len(sparse) else None), clusters


def prompt_preview(dataset: str, config, gen_name: str | None, fc, clusters) -> str | None:
    """The exact first prompt for one target cluster, with its few-shot examples; returns it (for the estimate)."""
    from ui.synth_plan import planned_requests, run_id_for

    if clusters is None:
        return None
    name = gen_name or "openai:(model)"
    texts = [s.prompt for s in get_store().samples(dataset)]
    plan = planned_requests(run_id_for(dataset, config, name, fc.key()), config, name, clusters, texts)
    by_target = {}
    for q, target, shots in plan:
        by_target.setdefault(target, (q, shots))
    if not by_target:
        return None
    target = st.selectbox("Preview the prompt for cluster", list(by_target), key=f"preview-{dataset}",
                          format_func=lambda c: f"cluster {c} (request {by_target[c][0] + 1} of "
                                                f"{config.requests_per_round} in round 1)")
    q, shots = by_target[target]
    prompt = problem_prompt(shots, config.problems_per_request)
    st.caption(f"The exact prompt of request {q + 1}, with its {len(shots)} few-shot examples from cluster {target}"
               + ("" if gen_name else " (the examples are drawn again once the model is named: the run id includes "
                                      "it)") + ". Each problem it returns is then solved "
               f"{config.solutions_per_problem}x and kept if the answers agree.")
    st.code(prompt, language=None, wrap_lines=True)
    return prompt


class StagedGenerator:
    """Wraps the run's generator to say, in the job's row, which stage the run is in: writing problems, solving them,
    or featurising and filtering the candidates (what follows the last solve of a step)."""

    def __init__(self, inner, ctx):
        self.inner, self.ctx, self.name = inner, ctx, inner.name
        self.done, self.total = 0, 1

    def note(self, message: str) -> None:
        job = get_runner().get(self.ctx.job_id)
        self.ctx.progress(job.done if job else 0, max(job.total if job else 1, 1), message=message)

    def generate(self, requests):
        solving = requests and "Solve the problem" in requests[0].messages[-1][1]
        self.note(f"solving {len(requests)} (problem × sample)" if solving
                  else f"writing problems ({len(requests)} requests)")
        out = self.inner.generate(requests)
        if solving:
            self.note("featurising and filtering the candidates")
        return out

    def close(self) -> None:
        getattr(self.inner, "close", lambda: None)()


def start_synthesis(dataset: str, config, source: dict) -> str:
    """Launch (or join) the run as a background job; a ValueError means the form is incomplete."""
    from core.features.compute import feature_config
    from core.synthesis.loop import run_synthesis
    from core.synthesis.runs import start_run
    from core.synthesis.sources import PoolSource

    problems = form_problems(source)
    if problems:
        raise ValueError(" ".join(problems))
    store, runner = get_store(), get_runner()
    gen = None
    if source["kind"] == "pool":
        name = PoolSource(store, config).name
    else:
        gen = make_source_generator(source)
        name = gen.name
    fc = feature_config()
    run_id = start_run(store, dataset, config, name, fc)
    params = {"run_id": run_id, "generator": name}  # no key: params are stored in DuckDB

    def work(ctx):
        ctx.progress(0, 1, stage="synthesis", message="featurising the seed (cached after the first time)")
        staged = StagedGenerator(gen, ctx) if gen is not None else None
        summary = run_synthesis(store, dataset, config, staged, fc, progress=ctx.progress,
                                should_cancel=ctx.cancelled)
        if summary["status"] == "failed":  # every request failed (a wrong key, say): the job failed, with why
            raise RuntimeError(summary["error"])
        return summary

    return runner.start("synthesize", dataset, params, work)


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

    from core.analysis.gradient_map import latest_map
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


__all__ = ["add_arm_as_dataset", "arms_figure", "form_problems", "generator_settings", "prompt_preview",
           "source_settings", "start_synthesis", "synthesis_map", "target_picker"]
