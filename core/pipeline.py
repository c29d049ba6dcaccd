"""The G-Vendi pipeline: ingest into the store, compute missing features batch by batch, score from the store."""
from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Callable

from .config import DEFAULT_MODEL, FeatureConfig
from .data import ingest_file
from .diversity import streaming_vendi
from .store import Store

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


def feature_config(*, model: str = DEFAULT_MODEL, mode: str = "fast", dim: int = 1024, seed: int = 0,
                   max_length: int = 1024, fast_blocks: int | None = 15, fast_rank: int = 16) -> FeatureConfig:
    """A config with the model's revision filled in (read from files or the hub, without loading weights)."""
    from .models import resolve_revision

    return FeatureConfig(model=model, model_revision=resolve_revision(model), mode=mode, dim=dim, seed=seed,
                         max_length=max_length, fast_blocks=fast_blocks, fast_rank=fast_rank)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ingest(store: Store, path: str | Path, *, name: str | None = None, mapping: dict[str, str] | None = None,
           replace: bool = False) -> tuple[str, dict]:
    """Ingest a file as a dataset; the same file under the same name is reused, not read twice."""
    path = Path(path)
    digest = file_sha256(path)
    name = name or path.stem
    if store.has_dataset(name) and not replace:
        info = store.dataset_info(name)
        if info["report"].get("file_sha256") == digest and info["report"].get("mapping") == mapping:
            return name, info["report"]
        raise ValueError(f"a dataset named {name!r} exists already with other content: pick another --name")
    report = ingest_file(path, mapping=mapping)
    extra = {"file_sha256": digest, "mapping": mapping, "file": path.name}
    store.save_dataset(name, report, source=str(path), replace=replace, extra=extra)
    return name, report.summary() | extra


def resolve_dataset(store: Store, file_or_name: str, *, mapping: dict[str, str] | None = None) -> str:
    """A dataset name as given, or the dataset ingested from that file (reused when the file is unchanged)."""
    if store.has_dataset(file_or_name) and not Path(file_or_name).is_file():
        return file_or_name
    path = Path(file_or_name)
    if not path.is_file():
        raise FileNotFoundError(f"{file_or_name!r} is neither a dataset in {store.path} nor a file")
    name = path.stem
    if store.has_dataset(name):
        digest = file_sha256(path)  # read the file once, not once per comparison
        if store.dataset_info(name)["report"].get("file_sha256") != digest:
            name = f"{path.stem}-{digest[:8]}"
    return ingest(store, path, name=name, mapping=mapping)[0]


def compute_features(store: Store, dataset: str, config: FeatureConfig, *, batch_size: int = 16,
                     progress: ProgressFn | None = None, should_cancel: Callable[[], bool] | None = None,
                     loaded=None) -> FeatureRun:
    """Compute only the missing feature rows, committing each batch: a killed run resumes where it stopped."""
    key = store.register_config(config)
    missing = store.missing_feature_hashes(dataset, config)
    cached = store.feature_coverage(dataset, key, config.dim)
    if not missing:
        return FeatureRun(key, cached, 0, cached, 0)
    from .gradients import iter_feature_batches, make_featurizer
    from .models import load_model

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


def score(store: Store, dataset: str, config: FeatureConfig, *, q: float = 1.0, batch_size: int = 16,
          progress: ProgressFn | None = None, should_cancel: Callable[[], bool] | None = None) -> ScoreResult:
    """G-Vendi of a dataset: features computed where missing, then streamed from the store (O(d²) memory)."""
    started = time.perf_counter()
    run = compute_features(store, dataset, config, batch_size=batch_size, progress=progress,
                           should_cancel=should_cancel)
    info = store.dataset_info(dataset)
    cached_score = store.get_score(dataset, run.config_key, "g_vendi", q)
    if cached_score and cached_score[1] == run.n and run.computed == 0:
        value = cached_score[0]
    else:
        value, n = streaming_vendi(store.iter_feature_chunks(dataset, run.config_key, config.dim), config.dim, q)
        store.save_score(dataset, run.config_key, "g_vendi", value, n, q)
    return ScoreResult(dataset=dataset, n=run.n, g_vendi=value, mode=config.mode, dim=config.dim,
                       model=config.model, rejected_rows=info["rejected_rows"], q=q, config_key=run.config_key,
                       computed=run.computed, cached=run.cached, truncated=run.truncated,
                       seconds=time.perf_counter() - started)


def save_upload(filename: str, data: bytes) -> Path:
    """Keep an uploaded file in the workspace (content-addressed name, atomic write) so ingest can re-read it."""
    import os
    import re
    import tempfile

    from .config import workspace_dir

    folder = workspace_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name) or "upload.jsonl"
    target = folder / f"{hashlib.sha256(data).hexdigest()[:8]}-{safe}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    return target


def dataset_name_for(filename: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(filename).stem).strip("_") or "dataset"
