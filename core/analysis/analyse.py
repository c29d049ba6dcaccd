"""One 'analyse' step for a dataset: gradient features -> G-Vendi -> baselines -> clusters + map, all cached."""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.clusters import ClusterConfig
from core.analysis.sparsity import DEFAULT_RULE
from core.config import DEFAULT_MODEL
from core.features.compute import ComputeOptions
from core.analysis import cache
from core.analysis.gradient_map import GradientMap, build_map
from core.analysis.layout import MapConfig
from core.data.store import Store
from core.analysis.summaries import cached_summaries, guess_label_columns


TEXT_METRICS = "text"  # the config key of the baselines (they depend on the text only)


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """What an analysis computes (model, mode, dtype, clusters) and where (compute: device, engine, batches)."""

    model: str = DEFAULT_MODEL
    mode: str = "fast"
    dim: int = 1024
    seed: int = 0
    dtype: str = "float32"
    k: int | None = None
    rule: str = DEFAULT_RULE
    view: str = "kept"  # the dataset's rows without the excluded ones (default), or "all"
    compute: ComputeOptions = ComputeOptions()

    def cluster_config(self) -> ClusterConfig:
        return ClusterConfig(k=self.k, seed=self.seed, rule=self.rule)

    def feature_config(self):
        from core.features.compute import feature_config

        return feature_config(model=self.model, mode=self.mode, dim=self.dim, seed=self.seed, dtype=self.dtype)


def baselines(store: Store, dataset: str, *, with_embeddings: bool = True, view: str = "kept") -> dict[str, float]:
    """distinct-1/2, compression ratio and embedding Vendi of the view's rows, cached per their content."""
    from core.analysis import diversity

    key = TEXT_METRICS  # scores are stored with the rows' content fingerprint: changed rows miss
    wanted = ["distinct_1", "distinct_2", "compression_ratio"] + (["embedding_vendi"] if with_embeddings else [])
    cached = {m: store.get_score(dataset, key, m, view=view) for m in wanted}
    if all(cached.values()):
        return {m: v[0] for m, v in cached.items()}
    frame = store.samples_frame(dataset, view)
    texts = (frame["prompt"] + "\n" + frame["response"]).tolist()
    values = {"distinct_1": diversity.distinct_n(texts, 1), "distinct_2": diversity.distinct_n(texts, 2),
              "compression_ratio": diversity.compression_ratio(texts)}
    if with_embeddings:  # embeddings are cached by content hash: a re-analysis (or the demo) embeds nothing again
        from core.features.embeddings import embed_cached

        emb = embed_cached(store, dict(zip(frame["content_hash"], zip(frame["prompt"], frame["response"]))))
        values["embedding_vendi"] = diversity.vendi_score(np.stack([emb[h] for h in frame["content_hash"]]))
    for metric, value in values.items():
        store.save_score(dataset, key, metric, value, len(texts), view=view)
    return values


def run_analysis(store: Store, dataset: str, options: AnalysisOptions, ctx=None) -> dict:
    """The whole analysis as one resumable job; ctx (a JobContext) gets progress and may cancel between batches."""
    from core.analysis.scoring import score

    config = options.feature_config()
    progress = (lambda d, t: ctx.progress(d, t)) if ctx else None
    if ctx:
        ctx.progress(0, 1, stage="gradient features")
    result = score(store, dataset, config, options=options.compute, progress=progress,
                   should_cancel=ctx.cancelled if ctx else None, view=options.view, quality=True)
    if ctx:
        ctx.check_cancel()
        ctx.progress(0, 1, stage="baseline metrics")
    base = baselines(store, dataset, view=options.view)
    if ctx:
        ctx.check_cancel()
        ctx.progress(0, 100, stage="clusters and map")
    gmap = build_map(store, dataset, result.config_key, config.dim, cluster_config=options.cluster_config(),
                     map_config=MapConfig(seed=options.seed),
                     stage=(lambda s, f: ctx.progress(int(f * 100), 100, message=s)) if ctx else None,
                     view=options.view)
    if ctx:
        ctx.progress(99, 100, message="cluster summaries")
    frame = store.samples_frame(dataset, options.view).set_index("id").loc[gmap.ids].reset_index()
    cached_summaries(store, gmap, frame, guess_label_columns(frame))
    return {"g_vendi": result.g_vendi, "n": result.n, "config_key": result.config_key, "map_key": gmap.key,
            "k": gmap.k, "sparse_clusters": int(gmap.sparse_clusters.sum()), **base}


def cached_overview(store: Store, dataset: str, options: AnalysisOptions) -> dict | None:
    """What is already known about a dataset under these options, without computing anything (no model load)."""
    key = options.feature_config().key()  # the same config the analysis computed under (no weights loaded)
    g = store.get_score(dataset, key, "g_vendi", view=options.view)
    if g is None:
        return None
    text_key = TEXT_METRICS
    out = {"g_vendi": g[0], "n": g[1], "config_key": key}
    for metric in ("distinct_1", "distinct_2", "compression_ratio", "embedding_vendi"):
        v = store.get_score(dataset, text_key, metric, view=options.view)
        if v:
            out[metric] = v[0]
    return out


def find_map(store: Store, dataset: str, options: AnalysisOptions, config_key: str) -> GradientMap | None:
    """The cached map for these options if it exists (the cluster settings are part of its key)."""
    return cache.find_cached_map(store, dataset, config_key, options.dim, options.cluster_config(),
                                 MapConfig(seed=options.seed), options.view)
