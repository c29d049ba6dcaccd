"""The gradient-space map: clusters + sparse flags + a 2-D UMAP of the unit features, cached in the workspace.

Rows live in DuckDB (map_rows); the fitted PCA + UMAP reducer and the centroids live in an .npz/.pkl artifact next to
the database (written atomically), so new points (synthetic samples) land on the same map with transform().
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from core.analysis.clusters import ClusterConfig, Clustering, cluster
from core.config import stable_hash
from core.data.store import Store

MAP_VERSION = 1
StageFn = Callable[[str, float], None]  # (stage, fraction done)


@dataclasses.dataclass(frozen=True)
class MapConfig:
    n_neighbors: int = 15
    min_dist: float = 0.1
    pca_dims: int = 50
    seed: int = 0
    seeded_max_rows: int = 20_000


@dataclasses.dataclass
class GradientMap:
    key: str
    dataset: str
    config_key: str
    ids: list[str]
    labels: np.ndarray
    sparse_rows: np.ndarray
    density: np.ndarray
    xy: np.ndarray  # (n, 2)
    sizes: np.ndarray
    sparse_clusters: np.ndarray
    k: int
    rule: str
    centroids: np.ndarray

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "n": len(self.ids), "k": self.k, "rule": self.rule,
                "sparse_clusters": [int(c) for c in np.flatnonzero(self.sparse_clusters)],
                "config_key": self.config_key, "map_key": self.key,
                "rows": [{"id": i, "cluster": int(c), "sparse": bool(s), "density": float(d), "x": float(x),
                          "y": float(y)} for i, c, s, d, (x, y) in
                         zip(self.ids, self.labels, self.sparse_rows, self.density, self.xy)]}


def _artifact_dir(store: Store) -> Path:
    path = store.path.parent / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _feature_fingerprint(ids: list[str], X: np.ndarray) -> str:
    h = hashlib.sha256("\x00".join(ids).encode())
    h.update(np.ascontiguousarray(X[:: max(1, len(X) // 256)]).tobytes())
    h.update(str(X.shape).encode())
    return h.hexdigest()[:16]


def fit_umap(X: np.ndarray, config: MapConfig = MapConfig()):
    """(xy, reducer): PCA to ~50 dims first (faster, denoises), then UMAP with the cosine metric."""
    from sklearn.decomposition import PCA

    n = X.shape[0]
    pca = None
    Z = X
    if X.shape[1] > config.pca_dims and n > config.pca_dims:
        pca = PCA(n_components=config.pca_dims, random_state=config.seed).fit(X)
        Z = pca.transform(X)
    if n < 8:  # too few points for a neighbour graph: the first two principal axes are the honest map
        from sklearn.decomposition import PCA as P2

        flat = P2(n_components=min(2, n), random_state=config.seed).fit(Z)
        xy = flat.transform(Z)
        if xy.shape[1] < 2:
            xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
        return xy.astype(np.float32), ("pca", pca, flat)
    import umap

    # a random_state pins UMAP to one thread: reproducible maps where it is cheap, both cores where it is not
    seeded = n <= config.seeded_max_rows
    reducer = umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(config.n_neighbors, n - 1),
                        min_dist=config.min_dist, random_state=config.seed if seeded else None,
                        init="spectral" if n > 16 else "random", low_memory=True)
    xy = reducer.fit_transform(Z)
    return xy.astype(np.float32), ("umap", pca, reducer)


def transform_points(reducer, X: np.ndarray) -> np.ndarray:
    kind, pca, model = reducer
    Z = pca.transform(X) if pca is not None else X
    xy = model.transform(Z)
    if xy.shape[1] < 2:
        xy = np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))
    return np.asarray(xy, dtype=np.float32)


def warm_up_umap() -> float:
    """JIT-compile umap's numba kernels (~20 s on first use) on a toy problem; returns seconds spent."""
    start = time.perf_counter()
    X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    reducer = fit_umap(X, MapConfig(pca_dims=50))[1]
    transform_points(reducer, X[:4])
    return time.perf_counter() - start


def map_key(dataset: str, config_key: str, fingerprint: str, cc: ClusterConfig, mc: MapConfig) -> str:
    return stable_hash({"v": MAP_VERSION, "dataset": dataset, "features": config_key, "fp": fingerprint,
                        "cluster": dataclasses.asdict(cc), "map": dataclasses.asdict(mc)})


def load_cached(store: Store, key: str) -> GradientMap | None:
    meta = store.cache_get(f"map:{key}")
    art = _artifact_dir(store) / f"map-{key}.npz"
    if meta is None or not art.exists():
        return None
    cur = store.cursor()
    try:
        res = cur.execute("SELECT sample_id, cluster, sparse, density, x, y FROM map_rows WHERE map_key = ? "
                          "ORDER BY ordinal", [key]).fetchnumpy()
    finally:
        cur.close()
    arrays = np.load(art)
    return GradientMap(key=key, dataset=meta["dataset"], config_key=meta["config_key"],
                       ids=[str(i) for i in res["sample_id"]], labels=np.asarray(res["cluster"], dtype=np.int64),
                       sparse_rows=np.asarray(res["sparse"], dtype=bool), density=np.asarray(res["density"]),
                       xy=np.stack([res["x"], res["y"]], axis=1), sizes=arrays["sizes"],
                       sparse_clusters=arrays["sparse_clusters"], k=int(meta["k"]), rule=meta["rule"],
                       centroids=arrays["centroids"])


def build_map(store: Store, dataset: str, config_key: str, dim: int, *,
              cluster_config: ClusterConfig = ClusterConfig(), map_config: MapConfig = MapConfig(),
              stage: StageFn | None = None) -> GradientMap:
    """Cluster + UMAP a dataset's cached features; a second call with the same inputs only reads the cache."""
    stage = stage or (lambda s, f: None)
    stage("loading features", 0.0)
    ids, X = store.load_features(dataset, config_key, dim)
    if len(ids) < 3:
        raise ValueError(f"{dataset}: {len(ids)} rows have features; a map needs at least 3")
    key = map_key(dataset, config_key, _feature_fingerprint(ids, X), cluster_config, map_config)
    cached = load_cached(store, key)
    if cached is not None:
        store.cache_put(settings_key(dataset, config_key, cluster_config, map_config), {"key": key, "n": len(ids)})
        stage("cached", 1.0)
        return cached
    stage("clustering", 0.1)
    clustering = cluster(X, cluster_config)
    # the layout does not depend on the cluster settings: switching k or rule reuses it
    ukey = stable_hash({"v": MAP_VERSION, "fp": _feature_fingerprint(ids, X), "features": config_key,
                        "map": dataclasses.asdict(map_config)})
    layout = _artifact_dir(store) / f"umap-{ukey}.npy"
    if layout.exists() and (_artifact_dir(store) / f"reducer-{ukey}.pkl").exists():
        xy = np.load(layout)
    else:
        stage("fitting UMAP", 0.3)
        xy, reducer = fit_umap(X, map_config)
        _atomic_write(_artifact_dir(store) / f"reducer-{ukey}.pkl", pickle.dumps(reducer))
        buf = io.BytesIO()
        np.save(buf, xy)
        _atomic_write(layout, buf.getvalue())
    stage("saving", 0.95)
    _save(store, key, ukey, dataset, config_key, ids, clustering, xy, cluster_config, map_config)
    stage("done", 1.0)
    return load_cached(store, key)


def settings_key(dataset: str, config_key: str, cc: ClusterConfig, mc: MapConfig) -> str:
    """Where the map made with these settings is recorded, so a page finds it without reading the features."""
    return "map-for:" + stable_hash({"dataset": dataset, "features": config_key, "cluster": dataclasses.asdict(cc),
                                     "map": dataclasses.asdict(mc)})


def find_cached_map(store: Store, dataset: str, config_key: str, dim: int, cc: ClusterConfig,
                    mc: MapConfig) -> GradientMap | None:
    """The cached map for these settings if it still covers every feature row of the dataset."""
    ref = store.cache_get(settings_key(dataset, config_key, cc, mc))
    if ref is None or ref["n"] != store.feature_coverage(dataset, config_key, dim):
        return None
    return load_cached(store, ref["key"])


def _save(store: Store, key: str, ukey: str, dataset: str, config_key: str, ids: list[str], c: Clustering,
          xy: np.ndarray, cc: ClusterConfig, mc: MapConfig | None = None) -> None:
    import pyarrow as pa

    art = _artifact_dir(store)
    buf = io.BytesIO()
    np.savez(buf, centroids=c.centroids, sizes=c.sizes, sparse_clusters=c.sparse_clusters)
    _atomic_write(art / f"map-{key}.npz", buf.getvalue())
    table = pa.table({"map_key": [key] * len(ids), "ordinal": np.arange(len(ids), dtype=np.int32),
                      "sample_id": ids, "cluster": c.labels.astype(np.int32), "sparse": c.sparse_rows,
                      "density": c.density.astype(np.float32), "x": xy[:, 0], "y": xy[:, 1]})
    with store.transaction() as cur:
        cur.execute("DELETE FROM map_rows WHERE map_key = ?", [key])
        cur.register("incoming_map", table)
        cur.execute("INSERT INTO map_rows SELECT * FROM incoming_map")
        cur.unregister("incoming_map")
    # meta last: its presence marks the map complete
    store.cache_put(f"map:{key}", {"dataset": dataset, "config_key": config_key, "k": c.k, "rule": cc.rule,
                                   "cluster_config": dataclasses.asdict(cc), "umap_key": ukey,
                                   "created_at": time.time()})
    store.cache_put(f"latest-map:{dataset}:{config_key}", {"key": key})
    store.cache_put(settings_key(dataset, config_key, cc, MapConfig() if mc is None else mc),
                    {"key": key, "n": len(ids)})


def latest_map(store: Store, dataset: str, config_key: str) -> GradientMap | None:
    ref = store.cache_get(f"latest-map:{dataset}:{config_key}")
    return load_cached(store, ref["key"]) if ref else None


def load_reducer(store: Store, gmap: GradientMap):
    """The fitted PCA + UMAP of a map, for transform_points()."""
    ukey = store.cache_get(f"map:{gmap.key}")["umap_key"]
    with open(_artifact_dir(store) / f"reducer-{ukey}.pkl", "rb") as fh:
        return pickle.load(fh)
