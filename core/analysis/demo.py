"""The demo opens already analysed: its gradient features (300 x 1024 float32), MiniLM embeddings and 2-D layout
ship in data/demo/demo_features.npz, keyed by the feature identity they were computed with. They are used only when
that identity is exactly the one asked for (same model file, mode, projection, code version); otherwise the demo is
analysed like any dataset. With them, "Load demo" computes G-Vendi, baselines, clusters and the map in seconds, in
the page, without starting a job.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from core.data.store import Store

DEMO_DIR = Path(__file__).resolve().parent.parent.parent / "data" / "demo"
DEMO_FILE = DEMO_DIR / "gsm8k_svamp_demo.jsonl"
DEMO_FEATURES = DEMO_DIR / "demo_features.npz"
DEMO_NAME = "demo"


def shipped_path() -> Path:
    """The shipped file, or the one named by PRISM_DEMO_FEATURES (a test, or a file made for another identity)."""
    return Path(os.environ["PRISM_DEMO_FEATURES"]) if os.environ.get("PRISM_DEMO_FEATURES") else DEMO_FEATURES


def shipped_identity(path: Path | None = None) -> dict | None:
    path = path or shipped_path()
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["identity"]))


def import_shipped(store: Store, config, *, path: Path | None = None) -> bool:
    """Write the shipped features (and embeddings, and layout) into the workspace if their identity is `config`'s;
    False (nothing written) when it differs or nothing ships."""
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY

    path = path or shipped_path()
    identity = shipped_identity(path)
    if identity is None or identity != json.loads(json.dumps(config.identity())):
        return False
    with np.load(path, allow_pickle=False) as data:
        hashes, X, E = data["hashes"].tolist(), data["X"], data["embeddings"]
        xy = data["xy"] if "xy" in data.files else None
        losses = {k: data[k] for k in ("loss", "loss_alone") if k in data.files}
    store.write_features(config, hashes, X)
    store.write_vectors(EMBEDDING_KEY, EMBEDDING_DIM, hashes, E)
    for kind, values in losses.items():  # the quality read's losses: no model for it either
        store.write_losses(config.key(), hashes, kind, values)
    if xy is not None:  # the layout too: no UMAP fit (nor its ~20 s compile) when the demo opens
        from core.analysis.gradient_map import MapConfig, seed_layout

        by_hash = dict(zip(hashes, xy))
        ids = store.load_features(DEMO_NAME, config.key(), config.dim)[0]
        row_hash = {s.id: s.content_hash for s in store.samples(DEMO_NAME)}
        seed_layout(store, DEMO_NAME, config.key(), config.dim, np.stack([by_hash[row_hash[i]] for i in ids]),
                    MapConfig(seed=config.seed))
    return True


def load_demo(store: Store, options) -> dict:
    """Ingest the demo and, when the shipped features fit the options, analyse it in place; returns what happened:
    {"dataset", "shipped": bool, "analysed": bool, "seconds"} and, when analysed, run_analysis's result."""
    from core.analysis.analyse import run_analysis
    from core.data.datasets import ingest

    started = time.perf_counter()
    name, _ = ingest(store, DEMO_FILE, name=DEMO_NAME)
    shipped = import_shipped(store, options.feature_config())
    # every feature is there: no model is loaded; the result (G-Vendi, n, k, baselines) is returned with it
    analysis = run_analysis(store, name, options) if shipped else {}
    return {**analysis, "dataset": name, "shipped": shipped, "analysed": shipped,
            "seconds": time.perf_counter() - started}


def write_shipped(store: Store, options, *, path: Path | None = None) -> Path:
    """Compute the demo's features and embeddings with `options` and write the file that ships (tools/)."""
    from core.analysis.analyse import run_analysis
    from core.data.datasets import ingest
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY

    path = path or DEMO_FEATURES
    name, _ = ingest(store, DEMO_FILE, name=DEMO_NAME)
    run_analysis(store, name, options)
    config = options.feature_config()
    hashes = [s.content_hash for s in store.samples(name)]
    feats = store.features_by_hash(config.key(), config.dim, hashes)
    emb = store.features_by_hash(EMBEDDING_KEY, EMBEDDING_DIM, hashes)
    from core.analysis.gradient_map import latest_map

    gmap = latest_map(store, name, config.key())
    row_hash = {s.id: s.content_hash for s in store.samples(name)}
    xy_by_hash = {row_hash[i]: p for i, p in zip(gmap.ids, gmap.xy)}
    losses = store.losses_by_hash(config.key(), hashes)
    np.savez_compressed(path, identity=np.array(json.dumps(config.identity(), sort_keys=True)),
                        hashes=np.array(hashes), X=np.stack([feats[h] for h in hashes]).astype(np.float32),
                        embeddings=np.stack([emb[h] for h in hashes]).astype(np.float32),
                        xy=np.stack([xy_by_hash[h] for h in hashes]).astype(np.float32),
                        loss=np.array([losses[h][0] for h in hashes], dtype=np.float32),
                        loss_alone=np.array([losses[h][1] for h in hashes], dtype=np.float32))
    return path


def add_losses(store: Store, options, *, path: Path | None = None) -> Path:
    """Add the quality read's losses to a shipped file whose features are today's (no feature is recomputed)."""
    from core.data.datasets import ingest
    from core.features.response_loss import compute_losses

    path = path or DEMO_FEATURES
    config = options.feature_config()
    name, _ = ingest(store, DEMO_FILE, name=DEMO_NAME)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k not in ("loss", "loss_alone")}
    if json.loads(str(arrays["identity"])) != json.loads(json.dumps(config.identity())):
        raise ValueError("the shipped features are of another identity: regenerate them whole")
    compute_losses(store, name, config)
    hashes = arrays["hashes"].tolist()
    losses = store.losses_by_hash(config.key(), hashes)
    np.savez_compressed(path, **arrays, loss=np.array([losses[h][0] for h in hashes], dtype=np.float32),
                        loss_alone=np.array([losses[h][1] for h in hashes], dtype=np.float32))
    return path
