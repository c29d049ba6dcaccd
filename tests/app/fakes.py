"""Analysed datasets without a model: features, embeddings and a 2-D layout written straight into the workspace, so
the analysis finds everything cached (no model load, no UMAP fit) and app tests run in seconds. The vectors are random
but grouped by a label column, so clusters and sparse rules have something to find."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.analysis.demo import DEMO_FILE
from core.data.ingest import ingest_file


def grouped_vectors(groups: list[str], dim: int, seed: int = 0, spread: float = 0.6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    centres = {g: rng.normal(size=dim) for g in names}
    return np.stack([centres[g] + spread * rng.normal(size=dim) for g in groups]).astype(np.float32)


def fake_analyse(store, name: str, options, *, label: str = "source", seed: int = 0) -> None:
    """Write what an analysis of `name` under `options` would compute, then run it (it only reads and clusters)."""
    from core.analysis.analyse import run_analysis
    from core.analysis.gradient_map import MapConfig, seed_layout
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY

    config = options.feature_config()
    samples = store.samples(name)
    groups = [str(s.meta.get(label, "")) for s in samples]
    missing = set(store.missing_feature_hashes(name, config))
    todo = [(s.content_hash, g) for s, g in zip(samples, groups) if s.content_hash in missing]
    if todo:
        store.register_config(config)
        store.write_features(config, [h for h, _ in todo], grouped_vectors([g for _, g in todo], config.dim, seed))
    store.write_vectors(EMBEDDING_KEY, EMBEDDING_DIM, [s.content_hash for s in samples],
                        grouped_vectors(groups, EMBEDDING_DIM, seed + 1))
    ids, _ = store.load_features(name, config.key(), config.dim)
    seed_layout(store, name, config.key(), config.dim, grouped_vectors(groups, 2, seed + 2, spread=0.3),
                MapConfig(seed=options.seed))
    run_analysis(store, name, options)


def fake_shipped_file(path: Path, options) -> Path:
    """A demo features file like the shipped one (same rows, same identity), made of grouped random vectors, as
    tests/analysis/test_demo.py::fake_shipped makes it; no store needed (content hashes come from the file)."""
    samples = ingest_file(DEMO_FILE).samples
    groups = [str(s.meta.get("source", "")) for s in samples]
    np.savez(path, identity=np.array(json.dumps(options.feature_config().identity(), sort_keys=True)),
             hashes=np.array([s.content_hash for s in samples]), X=grouped_vectors(groups, 1024, 0),
             embeddings=grouped_vectors(groups, 384, 1), xy=grouped_vectors(groups, 2, 2, spread=0.3))
    return path
