"""The gradient-space map of a dataset: its rows clustered (clusters.py: k-means, sparse flags, density, mass) and laid
out in 2-D (layout.py), built from the cached features and cached in the workspace.

Rows live in DuckDB (map_rows); what placement needs (PCA mean and axes, the fitted rows' PCA coordinates and
positions) and the clustering live in .npz artifacts next to the database, their sha256 recorded in kv_cache with the
map; cache.py names the keys and reads and writes them through the store (core/data/maps.py: atomic writes, checked
reads, no pickle). Every key includes the dataset's content fingerprint: an edit anywhere misses the cache.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis import cache
from core.analysis.clusters import ClusterConfig, cluster
from core.analysis.layout import Layout, MapConfig, StageFn, fit_layout, pca_layout
from core.config import MIN_MAP_ROWS
from core.data.store import Store

# names other modules import from here (their homes: cache.py and layout.py)
from core.analysis.cache import find_cached_map, latest_map, load_map as load_cached  # noqa: F401
from core.analysis.layout import fit_umap, warm_up_umap  # noqa: F401


@dataclasses.dataclass
class GradientMap:
    key: str
    dataset: str
    config_key: str
    ids: list[str]
    labels: np.ndarray
    sparse_rows: np.ndarray
    density: np.ndarray  # (n,) 10-NN mean cosine (low = isolated)
    xy: np.ndarray  # (n, 2)
    sizes: np.ndarray
    sparse_clusters: np.ndarray
    k: int
    rule: str
    centroids: np.ndarray
    layout: Layout | None = None
    fitted_rows: int = 0  # rows UMAP was fitted on (the rest were placed)
    mass: np.ndarray | None = None  # (n,) x_iᵀ S x_i (low = a rare kind of row)
    suspect: np.ndarray | None = None  # (n,) bool: the quality read's suspect rows (never sparse; their own colour)

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "n": len(self.ids), "k": self.k, "rule": self.rule,
                "sparse_clusters": [int(c) for c in np.flatnonzero(self.sparse_clusters)],
                "config_key": self.config_key, "map_key": self.key, "fitted_rows": self.fitted_rows,
                "suspect_rows": int(self.suspect.sum()) if self.suspect is not None else 0,
                "rows": [{"id": i, "cluster": int(c), "sparse": bool(s), "suspect": bool(q), "density": float(d),
                          "mass": float(m), "x": float(x), "y": float(y)} for i, c, s, q, d, m, (x, y) in
                         zip(self.ids, self.labels, self.sparse_rows, self._suspect(), self.density, self.mass,
                             self.xy)]}

    def _suspect(self) -> np.ndarray:
        return self.suspect if self.suspect is not None else np.zeros(len(self.ids), dtype=bool)


def load_map_features(store: Store, dataset: str, config_key: str, dim: int, view: str = "kept"
                      ) -> tuple[list[str], np.ndarray]:
    """store.load_features' ids and rows (same order), held as the 1M path holds them: past neighbours.HALF_ROWS
    rows, read from DuckDB a chunk of ordinals at a time into float16 unit rows (2 GB at 1M x 1024, where
    load_features would hold 4 GB of float32 plus DuckDB's result)."""
    from core.analysis import neighbours

    n = store.feature_coverage(dataset, config_key, dim, view)
    if n <= neighbours.HALF_ROWS:
        return store.load_features(dataset, config_key, dim, view=view)
    ids: list[str] = []

    def chunks():
        for chunk_ids, X in store.iter_feature_chunks(dataset, config_key, dim, chunk_rows=neighbours.CHUNK, view=view,
                                                      with_ids=True, ordered=True):
            ids.extend(chunk_ids)
            yield X
    X = neighbours.fill_half_rows(chunks(), n, dim)
    return ids, X


def build_map(store: Store, dataset: str, config_key: str, dim: int, *,
              cluster_config: ClusterConfig = ClusterConfig(), map_config: MapConfig = MapConfig(),
              stage: StageFn | None = None, view: str = "kept") -> GradientMap:
    """Cluster + lay out a dataset's cached features (the rows of the view); a second call with the same inputs
    only reads the cache. The layout is cached on its own key: other cluster settings reuse it."""
    stage = stage or (lambda s, f: None)
    stage("loading features", 0.0)
    ids, X = load_map_features(store, dataset, config_key, dim, view)
    if len(ids) < MIN_MAP_ROWS:
        raise ValueError(f"{dataset}: {len(ids)} rows have features; a map needs at least {MIN_MAP_ROWS}")
    from core.analysis.quality import quality_state, read_quality

    content = cache.content_part(store, dataset, len(ids), view)
    key = cache.map_key(dataset, config_key, content, cluster_config, map_config,
                        quality_state(store, dataset, config_key, view))

    computed = []

    def compute() -> cache.BuiltMap:
        computed.append(True)
        stage("quality", 0.05)
        suspect_ids = set(read_quality(store, dataset, config_key, view=view).suspect_ids())
        suspect = np.array([i in suspect_ids for i in ids], dtype=bool)
        stage("clustering", 0.1)
        clustering = cluster(X, cluster_config, suspect=suspect)
        lkey = cache.layout_key(config_key, content, map_config)
        xy, fitted, layout_sha = cache.cached(store, lkey, lambda: fit_layout(X, map_config, stage=stage),
                                              load=cache.load_layout, save=cache.save_layout)
        stage("saving", 0.95)
        return cache.BuiltMap(dataset, config_key, ids, clustering, cluster_config, xy, lkey, layout_sha, fitted)

    gmap = cache.cached(store, key, compute, load=cache.load_map, save=cache.save_map)
    cache.record_map(store, dataset, config_key, cluster_config, map_config, gmap.key, len(ids), view)
    stage("done" if computed else "cached", 1.0)
    return gmap


def seed_layout(store: Store, dataset: str, config_key: str, dim: int, xy: np.ndarray,
                map_config: MapConfig = MapConfig(), view: str = "kept") -> None:
    """Record a known 2-D layout of the dataset's feature rows (the demo ships one), so build_map clusters and reuses
    it instead of fitting UMAP. `xy` is in the dataset's feature-row order (load_features)."""
    ids, X = store.load_features(dataset, config_key, dim, view=view)
    if len(ids) != len(xy):
        raise ValueError(f"a layout of {len(xy)} rows for {len(ids)} feature rows")
    layout = pca_layout(X, map_config)
    layout.anchor_z, layout.anchor_xy = layout.project(X), np.asarray(xy, np.float32)
    lkey = cache.layout_key(config_key, cache.content_part(store, dataset, len(ids), view), map_config)
    cache.save_layout(store, lkey, (layout.anchor_xy, layout, len(ids)))
