"""The local feature engine: compute only the missing feature rows of a dataset, committing batch by batch."""
from __future__ import annotations

import dataclasses
from typing import Callable

from core.config import DEFAULT_MODEL, FeatureConfig
from core.data.store import Store

ProgressFn = Callable[[int, int], None]


class Cancelled(RuntimeError):
    """The caller asked the work to stop; everything committed so far is kept."""


@dataclasses.dataclass(frozen=True)
class FeatureRun:
    config_key: str
    n: int  # samples in the dataset with features after the run
    computed: int  # feature rows computed in this run
    cached: int  # rows that were already in the store
    truncated: int  # samples cut to max_length in this run


def feature_config(*, model: str = DEFAULT_MODEL, **fields) -> FeatureConfig:
    """A config with the model's revision filled in (read from files or the hub, without loading weights); the other
    fields are FeatureConfig's (mode, dim, seed, max_length, fast_blocks, sketch_dim)."""
    from core.features.models import resolve_revision

    return FeatureConfig(model=model, model_revision=resolve_revision(model), **fields)


def compute_features(store: Store, dataset: str, config: FeatureConfig, *, batch_size: int = 16,
                     progress: ProgressFn | None = None, should_cancel: Callable[[], bool] | None = None,
                     loaded=None) -> FeatureRun:
    """Compute only the missing feature rows, committing each batch: a killed run resumes where it stopped."""
    key = store.register_config(config)
    missing = store.missing_feature_hashes(dataset, config)
    cached = store.feature_coverage(dataset, key, config.dim)
    if not missing:
        return FeatureRun(key, cached, 0, cached, 0)
    from core.features.gradients import iter_feature_batches, make_featurizer
    from core.features.models import load_model

    loaded = loaded or load_model(config.model)
    if loaded.revision != config.model_revision:
        raise RuntimeError(f"model revision changed: loaded {loaded.revision}, config has {config.model_revision}")
    featurizer = make_featurizer(loaded.model, config, tokenizer=loaded.tokenizer)
    texts = store.texts_by_hash(missing)
    pairs = [texts[h] for h in missing]
    done = truncated = 0
    if progress:
        progress(0, len(missing))
    for idx, vectors, n_trunc in iter_feature_batches(featurizer, pairs, batch_size=batch_size):
        store.write_features(config, [missing[i] for i in idx], vectors)
        done += len(idx)
        truncated += n_trunc
        if progress:
            progress(done, len(missing))
        if should_cancel and should_cancel() and done < len(missing):
            raise Cancelled(f"cancelled after {done} of {len(missing)} feature rows (kept)")
    return FeatureRun(key, store.feature_coverage(dataset, key, config.dim), done, cached, truncated)
