"""The local feature engine: compute only the missing feature rows of a dataset, committing batch by batch."""
from __future__ import annotations

import dataclasses
from typing import Callable

from core.config import DEFAULT_MODEL, FeatureConfig
from core.data.store import Store
from core.progress import Cancelled, ProgressFn  # noqa: F401  (the one protocol; callers import them from here too)

CHUNK_ROWS = 4096  # rows whose texts are read from the store at a time


@dataclasses.dataclass(frozen=True)
class FeatureRun:
    config_key: str
    n: int  # samples in the dataset with features after the run
    computed: int  # feature rows computed in this run
    cached: int  # rows that were already in the store
    truncated: int  # samples cut to max_length in this run
    quality_rows: int = 0  # losses computed by the quality pass in this run (response_loss.py)


def feature_config(*, model: str = DEFAULT_MODEL, **fields) -> FeatureConfig:
    """A config with the model's revision filled in (read from files or the hub, without loading weights); the other
    fields are FeatureConfig's (mode, dim, seed, max_length, fast_blocks, sketch_dim)."""
    from core.features.models import resolve_revision

    return FeatureConfig(model=model, model_revision=resolve_revision(model), **fields)


@dataclasses.dataclass(frozen=True)
class ComputeOptions:
    """How features are computed: where, in what batches, by which engine. None of it is part of their identity."""

    engine: str = "local"  # "local" (this process) or "ray" (Ray Data: workers on this machine or a cluster)
    device: str = "auto"  # auto | cpu | cuda (features/device.py)
    max_batch_tokens: int | None = None  # padded tokens per batch; None: the most that fit max_memory (memory.py)
    max_memory: int | None = None  # bytes a featuriser may use; None: a share of what is available, <= 2 GiB on CPU
    batch_size: int | None = 16  # at most this many rows per batch, on top of the token budget
    address: str | None = None  # ray: None = start a local instance; "auto"; or "ray://HOST:10001"
    workers: int = 2  # ray: model replicas (actors)
    gpus_per_worker: float = 0.0  # ray: GPUs per actor (0 = CPU workers)
    runtime_env: dict | None = dataclasses.field(default=None, hash=False)  # ray: e.g. pip packages for every node
    rows_per_task: int = 64  # ray: rows per task (one actor call), i.e. per commit and per retried unit after a fault

    def __post_init__(self) -> None:
        if self.engine not in ("local", "ray"):
            raise ValueError(f"engine must be local or ray, not {self.engine!r}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 16:
            raise ValueError("max_batch_tokens must be at least 16")
        if self.rows_per_task < 1:
            raise ValueError("rows_per_task must be at least 1")


def text_chunks(store: Store, hashes: list[str], chunk: int = CHUNK_ROWS):
    """The rows of `hashes` as (content hashes, (prompt, response) pairs), `chunk` rows at a time, each chunk's text
    read from the store when it is asked for: the texts of a million-row dataset are never all in memory."""
    for start in range(0, len(hashes), chunk):
        part = hashes[start:start + chunk]
        texts = store.texts_by_hash(part)
        yield part, [texts[h] for h in part]


def compute_features(store: Store, dataset: str, config: FeatureConfig, *, options: ComputeOptions | None = None,
                     batch_size: int | None = None, progress: ProgressFn | None = None,
                     should_cancel: Callable[[], bool] | None = None, loaded=None,
                     quality: bool = False) -> FeatureRun:
    """Compute only the missing feature rows, committing each batch: a killed run resumes where it stopped. Then,
    with `quality`, the losses the quality read needs that are still missing (response_loss.py)."""
    options = options or ComputeOptions()
    if batch_size is not None:
        options = dataclasses.replace(options, batch_size=batch_size)
    run = _compute_features(store, dataset, config, options, progress, should_cancel, loaded)
    if not quality or getattr(config, "mode", "") == "imported":
        return run
    from core.features.response_loss import compute_losses

    done = compute_losses(store, dataset, config, device=options.device, max_batch_tokens=options.max_batch_tokens,
                          max_memory=options.max_memory,
                          batch_size=options.batch_size, progress=progress, should_cancel=should_cancel,
                          loaded=loaded)
    return dataclasses.replace(run, quality_rows=sum(done.values()))


def _compute_features(store: Store, dataset: str, config: FeatureConfig, options: ComputeOptions,
                      progress: ProgressFn | None, should_cancel: Callable[[], bool] | None, loaded) -> FeatureRun:
    key = store.register_config(config)
    cached = store.feature_coverage(dataset, key, config.dim)
    missing = store.missing_feature_hashes(dataset, config)  # listed once: both engines read their text from it
    n_missing = len(missing)
    if not n_missing:
        return FeatureRun(key, cached, 0, cached, 0)
    if getattr(config, "mode", "") == "imported":  # vectors brought from elsewhere: nothing here can compute them
        raise ValueError(f"{n_missing} row(s) of {dataset!r} have no vector in the imported set; import vectors for "
                         "every row, or exclude those rows")
    if options.engine == "ray":
        from core.features.ray_engine import compute_with_ray

        done, truncated = compute_with_ray(store, missing, config, options, progress=progress,
                                           should_cancel=should_cancel)
        return FeatureRun(key, store.feature_coverage(dataset, key, config.dim), done, cached, truncated)
    from core.features.gradients import batch_tokens, featurizer_for, iter_feature_batches

    featurizer, _ = featurizer_for(config, options.device, loaded)
    tokens = batch_tokens(featurizer, options.max_batch_tokens, options.max_memory)  # refused here if cannot fit
    done = truncated = 0
    if progress:
        progress(0, n_missing)
    for hashes, pairs in text_chunks(store, missing):
        for idx, vectors, n_trunc, losses in iter_feature_batches(featurizer, pairs, batch_size=options.batch_size,
                                                                  max_batch_tokens=tokens):
            store.write_features(config, [hashes[i] for i in idx], vectors, losses=losses)
            done += len(idx)
            truncated += n_trunc
            if progress:
                progress(done, n_missing)
            if should_cancel and should_cancel() and done < n_missing:
                raise Cancelled(f"cancelled after {done} of {n_missing} feature rows (kept)")
    return FeatureRun(key, store.feature_coverage(dataset, key, config.dim), done, cached, truncated)
