"""G-Vendi of a dataset: features computed where missing, then streamed from the store (O(d²) memory)."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from core.analysis.diversity import streaming_vendi
from core.config import FeatureConfig
from core.data.store import Store
from core.features.compute import ComputeOptions, ProgressFn, compute_features


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    dataset: str
    n: int
    g_vendi: float
    mode: str
    dim: int
    model: str
    rejected_rows: int
    q: float
    config_key: str
    computed: int
    cached: int
    truncated: int
    seconds: float
    g_vendi_clean: float | None = None  # without the quality read's suspect rows (quality.py)
    n_suspect: int = 0

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def score(store: Store, dataset: str, config: FeatureConfig, *, q: float = 1.0,
          options: ComputeOptions | None = None, batch_size: int | None = None, progress: ProgressFn | None = None,
          should_cancel: Callable[[], bool] | None = None, view: str = "kept", quality: bool = False) -> ScoreResult:
    """G-Vendi of a dataset: features computed where missing (and the quality pass's losses, with `quality`), then
    streamed from the store (O(d²) memory); beside it, G-Vendi without the suspect rows."""
    started = time.perf_counter()
    run = compute_features(store, dataset, config, options=options, batch_size=batch_size, progress=progress,
                           should_cancel=should_cancel, quality=quality)
    info = store.dataset_info(dataset)
    n_view = store.feature_coverage(dataset, run.config_key, config.dim, view)
    cached_score = store.get_score(dataset, run.config_key, "g_vendi", q, view=view)
    if cached_score and cached_score[1] == n_view and run.computed == 0:
        value = cached_score[0]
    else:
        value, n_view = streaming_vendi(store.iter_feature_chunks(dataset, run.config_key, config.dim, view=view),
                                        config.dim, q)
        store.save_score(dataset, run.config_key, "g_vendi", value, n_view, q, view=view)
    clean, n_suspect = clean_score(store, dataset, run.config_key, config.dim, q, view=view,
                                   fresh=run.computed == 0)
    return ScoreResult(dataset=dataset, n=n_view, g_vendi=value, mode=config.mode, dim=config.dim,
                       model=config.model, rejected_rows=info["rejected_rows"], q=q, config_key=run.config_key,
                       computed=run.computed, cached=run.cached, truncated=run.truncated,
                       seconds=time.perf_counter() - started, g_vendi_clean=clean, n_suspect=n_suspect)


def clean_score(store: Store, dataset: str, config_key: str, dim: int, q: float = 1.0, *, view: str = "kept",
                fresh: bool = True) -> tuple[float | None, int]:
    """(G-Vendi without the suspect rows, how many rows are suspect): what the score is once junk is set aside.
    Cached beside the score, keyed by the quality read's state (an `ok` tag or a finished quality pass misses)."""
    from core.analysis.quality import quality_state, read_quality

    suspect = set(read_quality(store, dataset, config_key, view=view).suspect_ids())
    metric = f"g_vendi_clean:{quality_state(store, dataset, config_key, view)}"
    cached = store.get_score(dataset, config_key, metric, q, view=view) if fresh else None
    if cached:
        return cached[0], len(suspect)
    chunks = (X[[i not in suspect for i in ids]] for ids, X in
              store.iter_feature_chunks(dataset, config_key, dim, view=view, with_ids=True))
    try:
        value, n = streaming_vendi(chunks, dim, q)
    except ValueError:  # every row suspect
        return None, len(suspect)
    store.save_score(dataset, config_key, metric, value, n, q, view=view)
    return value, len(suspect)
