"""Analysis options (model, mode, clusters and the sparse rule's threshold), kept in the URL so a refresh keeps them;
starting, re-clustering and finding the analyse job."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import streamlit as st

from core.analysis.analyse import AnalysisOptions, run_analysis
from core.analysis.clusters import ClusterConfig
from core.analysis.sparsity import RULES
from core.config import DEFAULT_MODEL
from core.jobs import Job, list_jobs
from ui.state import get_runner, get_store, warm_up_umap_in_background

RULE_DEFAULTS = ClusterConfig()


@dataclasses.dataclass(frozen=True)
class PageOptions(AnalysisOptions):
    """AnalysisOptions plus the thresholds of the density and mass rules. A threshold is part of the map's key only
    under its own rule, so moving the density quantile never re-clusters a map made with the paper's rule."""

    density_quantile: float = RULE_DEFAULTS.density_quantile
    mass_fraction: float = RULE_DEFAULTS.mass_fraction

    def cluster_config(self) -> ClusterConfig:
        return ClusterConfig(
            k=self.k, seed=self.seed, rule=self.rule,
            density_quantile=self.density_quantile if self.rule == "density" else RULE_DEFAULTS.density_quantile,
            mass_fraction=self.mass_fraction if self.rule == "mass" else RULE_DEFAULTS.mass_fraction)

    def url(self) -> dict[str, str]:
        """The query parameters that differ from the defaults."""
        default, out = PageOptions(), {}
        for name, param in URL_FIELDS.items():
            value = getattr(self, name)
            if value != getattr(default, name):
                out[param] = str(value)
        return out

    def label(self) -> str:
        """Mode and model, said beside every score."""
        return f"{self.mode} mode · {short_model(self.model)}"


MODE_HELP = (
    "fast (default): one batched forward/backward sketches the gradient of every layer, embedding and norm "
    "(~2.2x a forward pass here); it tracks full mode on every family of text measured (Spearman 0.98-1.00, "
    "G-Vendi within 2%; bench/RESULTS.md). full: the exact per-sample gradient of every parameter (one backward "
    "per sample): on a 2-core CPU fast runs 0.8 rows/s and full 0.55 (GSM8K, bench/gpu.py --device cpu), and fast "
    "puts many rows in one backward, which is what a GPU speeds up (not measured yet). Sketching only the top "
    "blocks (CLI --fast-blocks 15) is cheaper but misses the lower blocks and the norms: the previous default, "
    "which did that (~1.6x a forward), ranked mixtures within one source at Spearman 0.77 and read G-Vendi 16% "
    "high.")

URL_FIELDS = {"model": "model", "mode": "mode", "k": "k", "rule": "rule", "density_quantile": "dq",
              "mass_fraction": "mf"}


def short_model(model: str) -> str:
    return model.split(":", 1)[-1].rstrip("/").split("/")[-1]


def _from_url() -> PageOptions | None:
    """Options in the URL, each field checked; a malformed value falls back to its default (never a traceback)."""
    qp = st.query_params
    if not any(p in qp for p in URL_FIELDS.values()):
        return None
    d = PageOptions()

    def num(param, cast, low, high, default):
        try:
            value = cast(qp.get(param, default))
            return value if low <= value <= high else default
        except (TypeError, ValueError):
            return default

    k = num("k", int, 2, 1000, 0)
    return PageOptions(model=qp.get("model", d.model).strip() or DEFAULT_MODEL,
                       mode=qp.get("mode") if qp.get("mode") in ("fast", "full") else d.mode,
                       k=k or None, rule=qp.get("rule") if qp.get("rule") in RULES else d.rule,
                       density_quantile=num("dq", float, 0.05, 0.95, d.density_quantile),
                       mass_fraction=num("mf", float, 0.05, 1.0, d.mass_fraction))


HUB_TOGGLE = "Allow downloads from the Hugging Face Hub"


def hub_allowed() -> bool:
    """Whether this session turned Hub downloads on (off until the user does, in the options form)."""
    return bool(st.session_state.get("hub_allowed", False))


def hub_cached(model: str) -> bool:
    """Whether a Hugging Face id is in this machine's Hugging Face cache (a file lookup: no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # not a valid repo id, or no cache at all
        return False


def model_problem(model: str, allow_hub: bool) -> str | None:
    """Why the app will not use this proxy model (None: it may), decided before any network access: a Hugging Face
    id that is neither embedded, a local folder nor in the local Hugging Face cache, while Hub downloads are off."""
    from core.features.models import EMBEDDED_MODELS

    model = model.strip()
    if allow_hub or not model or model in EMBEDDED_MODELS or Path(model).expanduser().exists() or hub_cached(model):
        return None
    return (f"Proxy model {model!r} is not embedded, not a local folder and not in this machine's Hugging Face "
            f"cache, and downloads from the Hugging Face Hub are off, so nothing was fetched. Turn on "
            f"'{HUB_TOGGLE}' and apply to download it, or give a local path.")


def options() -> PageOptions:
    """The URL's options (a refresh keeps them), else this session's, else the defaults; a proxy model the Hub
    setting refuses (model_problem) is replaced by the embedded one, so no page reaches for the Hub unasked."""
    opts = _from_url() or st.session_state.get("options") or PageOptions()
    if model_problem(opts.model, hub_allowed()):
        return dataclasses.replace(opts, model=DEFAULT_MODEL)
    return opts


def set_options(opts: PageOptions) -> None:
    st.session_state["options"] = opts
    for param in URL_FIELDS.values():
        if param in st.query_params:
            del st.query_params[param]
    st.query_params.update(opts.url())


def options_form() -> PageOptions:
    """Model, mode and cluster settings in a form: nothing recomputes until the user applies them. Changing only k,
    the rule or its threshold re-clusters the cached features in place."""
    cur = options()
    if cur.url() and not _from_url():
        st.query_params.update(cur.url())  # a page switch drops the query string: put the options back
    asked = _from_url() or st.session_state.get("options")
    if asked and asked.model != cur.model:
        st.warning(f"{model_problem(asked.model, hub_allowed())} The embedded model {DEFAULT_MODEL!r} is used "
                   "instead.")
    with st.form("analysis-options", border=False):  # drawn in the sidebar: one column
        model = st.text_input("Proxy model", value=cur.model,
                              help=f"'{DEFAULT_MODEL}' is embedded and offline; or a local path, or a Hugging Face "
                                   f"id (one in this machine's Hugging Face cache, or any with '{HUB_TOGGLE}' on)")
        mode = st.selectbox("Mode", ["fast", "full"], index=["fast", "full"].index(cur.mode),
                            help=MODE_HELP)
        k = st.number_input("Clusters k (0 = n/10)", min_value=0, max_value=1000, value=cur.k or 0, step=1)
        rule = st.selectbox("Sparse rule", list(RULES), index=list(RULES).index(cur.rule),
                            help="paper: small clusters · density: isolated rows · mass: rare kinds of rows "
                                 "(see the page's Sparse rules tab)")
        dq = st.number_input("Density quantile", 0.05, 0.95, float(cur.density_quantile), 0.05,
                             help="density rule: rows below this quantile of 10-NN similarity are sparse")
        mf = st.number_input("Mass fraction", 0.05, 1.0, float(cur.mass_fraction), 0.05,
                             help="mass rule: rows with less than this fraction of the typical row's mass")
        allow = st.toggle(HUB_TOGGLE, value=hub_allowed(),
                          help="Off (the default): a Hugging Face id must already be in this machine's Hugging Face "
                               "cache, and nothing is downloaded. On: the proxy model may be fetched from the Hub.")
        if st.form_submit_button("Apply"):
            st.session_state["hub_allowed"] = bool(allow)
            problem = model_problem(model, bool(allow))
            if problem:
                st.error(problem)
            else:
                set_options(PageOptions(model=model.strip() or DEFAULT_MODEL, mode=mode, k=int(k) or None, rule=rule,
                                        density_quantile=float(dq), mass_fraction=float(mf)))
    return options()


def job_params(opts: AnalysisOptions) -> dict:
    cc = opts.cluster_config()
    return {"model": opts.model, "mode": opts.mode, "k": opts.k, "rule": opts.rule,
            "density_quantile": cc.density_quantile, "mass_fraction": cc.mass_fraction}


def start_analysis(dataset: str, opts: AnalysisOptions) -> str:
    store, runner = get_store(), get_runner()
    warm_up_umap_in_background()  # compiles UMAP while the features are computed, so the map step does not wait
    job_id = runner.start("analyse", dataset, job_params(opts), lambda ctx: run_analysis(store, dataset, opts, ctx))
    st.query_params["job"] = job_id
    return job_id


def active_job_id(dataset: str) -> str | None:
    """The job in the URL if it is still active, else any active analysis of this dataset (e.g. after a refresh)."""
    runner = get_runner()
    job_id = st.query_params.get("job")
    job = runner.get(job_id) if job_id else None
    if job is None or not job.active or job.dataset != dataset:
        job = runner.find_active("analyse", dataset)
    return job.id if job else None


def failed_analysis(dataset: str, opts: AnalysisOptions) -> Job | None:
    """The newest analyse job of this dataset under these options, when it failed (None when it did not, or there
    is none): after a failure nothing starts another by itself."""
    wanted = json.loads(json.dumps(job_params(opts), sort_keys=True))
    for job in list_jobs(get_store(), dataset=dataset, limit=50):  # newest first
        if job.kind == "analyse" and job.params == wanted:
            return job if job.status == "failed" else None
    return None


def stop_after_failure(dataset: str, opts: AnalysisOptions) -> bool:
    """When the last analysis under these options failed: its error and an explicit Retry, and True (the page
    stops: a rerun never restarts a failed analysis; only the button does)."""
    job = failed_analysis(dataset, opts)
    if job is None:
        return False
    if st.query_params.get("job") != job.id:  # show_finished_job has said it already for the URL's job
        st.error(f"The last analysis of {dataset} with these settings failed: "
                 f"{job.error.splitlines()[0] if job.error else 'unknown error'}")
    if st.button("Retry the analysis", type="primary", key=f"retry-analyse-{dataset}"):
        start_analysis(dataset, opts)
        st.rerun()
    return True


INLINE_RECLUSTER_ROWS = 20_000  # k-means + 10-NN + mass on cached features: seconds up to here


def recluster_in_place(dataset: str, opts: AnalysisOptions, n: int, config_key: str) -> bool:
    """A new k / rule / threshold on features that are all cached: cluster again from them (the 2-D layout is
    reused), in the page when small, else as the analyse job (which finds every feature cached). True when done."""
    from core.analysis.cache import layout_cached
    from core.analysis.gradient_map import build_map
    from core.analysis.layout import MapConfig

    store = get_store()
    if n > INLINE_RECLUSTER_ROWS or not layout_cached(store, dataset, config_key, n, MapConfig(seed=opts.seed)):
        start_analysis(dataset, opts)
        return False
    cc = opts.cluster_config()
    with st.spinner(f"Re-clustering {n:,} cached features (k = {cc.k or 'n/10'}, rule = {cc.rule})…"):
        build_map(store, dataset, config_key, opts.dim, cluster_config=cc, map_config=MapConfig(seed=opts.seed))
    return True
