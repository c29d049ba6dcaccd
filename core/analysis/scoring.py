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

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def score(store: Store, dataset: str, config: FeatureConfig, *, q: float = 1.0,
          options: ComputeOptions | None = None, batch_size: int | None = None, progress: ProgressFn | None = None,
          should_cancel: Callable[[], bool] | None = None, view: str = "kept") -> ScoreResult:
    """G-Vendi of a dataset: features computed where missing, then streamed from the store (O(d²) memory)."""
    started = time.perf_counter()
    run = compute_features(store, dataset, config, options=options, batch_size=batch_size, progress=progress,
                           should_cancel=should_cancel)
    info = store.dataset_info(dataset)
    n_view = store.feature_coverage(dataset, run.config_key, config.dim, view)
    cached_score = store.get_score(dataset, run.config_key, "g_vendi", q, view=view)
    if cached_score and cached_score[1] == n_view and run.computed == 0:
        value = cached_score[0]
    else:
        value, n_view = streaming_vendi(store.iter_feature_chunks(dataset, run.config_key, config.dim, view=view),
                                        config.dim, q)
        store.save_score(dataset, run.config_key, "g_vendi", value, n_view, q, view=view)
    return ScoreResult(dataset=dataset, n=n_view, g_vendi=value, mode=config.mode, dim=config.dim,
                       model=config.model, rejected_rows=info["rejected_rows"], q=q, config_key=run.config_key,
                       computed=run.computed, cached=run.cached, truncated=run.truncated,
                       seconds=time.perf_counter() - started)
