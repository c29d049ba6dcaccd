"""The gradient-space map: clusters + sparse flags + a 2-D layout of the unit features, cached in the workspace.

Layout: PCA to ~50 dims, then UMAP (cosine) fitted on at most `fit_max_rows` rows (a seeded sample past that); every
other row, and every new point later (synthetic candidates, another dataset on this map), is placed by its nearest
fitted rows in PCA space: a similarity-weighted mean of their 2-D positions (found exactly, or past PLACE_EXACT_MAX
rows to place, through a graph index over the fitted rows: Layout.anchor_index). That is UMAP's own initialisation for
new points, without its refinement epochs: fast at a million rows, deterministic, and it needs nothing but arrays.

Rows live in DuckDB (map_rows); what placement needs (PCA mean and axes, the fitted rows' PCA coordinates and
positions) and the clustering live in .npz artifacts next to the database, their sha256 recorded in kv_cache with the
map; both are stored and read through the store (core/data/maps.py: atomic writes, checked reads, no pickle).
Every key includes the dataset's content fingerprint: an edit anywhere misses the cache.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from core.analysis.clusters import ClusterConfig, Clustering, cluster
from core.config import stable_hash
from core.data.store import Store

MAP_VERSION = 4  # 2: content-fingerprint keys, npz artifacts, sampled fit + kNN placement; 3: mass score;
# 4: suspect rows (quality.py) left out of the rules
StageFn = Callable[[str, float], None]  # (stage, fraction done)
PLACE_NEIGHBOURS = 10
PLACE_CHUNK = 50_000  # rows placed at a time (read from X in float32 a chunk at a time: X may be float16 rows)
PLACE_EXACT_MAX = 50_000  # placing more rows than this after the fit uses the graph anchor index
PLACE_EF_SEARCH = 128


@dataclasses.dataclass(frozen=True)
class MapConfig:
    n_neighbors: int = 15
    min_dist: float = 0.1
    pca_dims: int = 50
    seed: int = 0
    seeded_max_rows: int = 20_000  # past this, UMAP runs unseeded on both cores (a seed pins it to one thread)
    fit_max_rows: int = 100_000  # UMAP is fitted on at most this many rows; the rest are placed


@dataclasses.dataclass
class Layout:
    """What placing new points needs: PCA, and the fitted rows' PCA coordinates and 2-D positions."""

    mean: np.ndarray  # (d,)
    axes: np.ndarray  # (p, d) or (0, d) when there is no PCA (few dims)
    anchor_z: np.ndarray  # (m, p) unit rows in PCA space
    anchor_xy: np.ndarray  # (m, 2)

    def project(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, np.float32) - self.mean) @ self.axes.T if len(self.axes) else np.asarray(X, np.float32)
        return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)

    def anchor_index(self, exact: bool = True):
        """A faiss index over the fitted rows' PCA coordinates: exact (flat), or for placing many rows a graph (HNSW,
        efSearch PLACE_EF_SEARCH): several times faster than exact search at 100k fitted rows. How far its positions
        fall from exact search's is measured by bench/cluster_map.py (`place_check`): on 30k fitted rows, 4% of rows
        moved more than 1% of the map's span (an inverted file probing 32 of 519 cells: 25%; efSearch 256: 0.8% at
        twice the time)."""
        import faiss

        A = np.ascontiguousarray(self.anchor_z, dtype=np.float32)
        if exact or len(A) <= 4 * PLACE_EF_SEARCH:
            index = faiss.IndexFlatIP(A.shape[1])
        else:
            index = faiss.IndexHNSWFlat(A.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = PLACE_EF_SEARCH
        index.add(A)
        return index

    def place(self, X: np.ndarray, neighbours: int = PLACE_NEIGHBOURS, index=None) -> np.ndarray:
        """(n, 2) positions of new rows: similarity-weighted mean of their nearest fitted rows' positions (found in
        `index`, from anchor_index; exact when not given)."""
        if len(X) == 0:
            return np.zeros((0, 2), np.float32)
        Z = np.ascontiguousarray(self.project(X), dtype=np.float32)
        if index is None:
            index = self.anchor_index(exact=True)
        kk = min(neighbours, len(self.anchor_z))
        sims, idx = index.search(Z, kk)
        w = np.exp((sims - sims[:, :1]) * 20.0)  # the nearest dominate; a new point on top of a row lands on it
        w /= w.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkc->nc", w, self.anchor_xy[idx]).astype(np.float32)


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


# ---- layout ----------------------------------------------------------------------------------------------------------

def fit_layout(X: np.ndarray, config: MapConfig = MapConfig(), *, stage: StageFn | None = None
               ) -> tuple[np.ndarray, Layout, int]:
    """(xy for every row, the layout for placing new points, rows UMAP was fitted on)."""
    stage = stage or (lambda s, f: None)
    n = X.shape[0]
    rng = np.random.default_rng(config.seed)
    fit_idx = np.sort(rng.choice(n, config.fit_max_rows, replace=False)) if n > config.fit_max_rows else np.arange(n)
    fit = np.empty((len(fit_idx), X.shape[1]), np.float32)  # gathered a chunk at a time: X may be float16 rows
    for start in range(0, len(fit_idx), PLACE_CHUNK):
        fit[start:start + PLACE_CHUNK] = X[fit_idx[start:start + PLACE_CHUNK]]
    layout = Layout(*_pca(fit, config), np.zeros((0, 1), np.float32), np.zeros((0, 2), np.float32))
    Z = layout.project(fit)
    del fit  # UMAP needs only the PCA coordinates
    stage(f"fitting UMAP on {len(fit_idx):,} rows", 0.3)
    fit_xy = fit_umap(Z, config)
    layout.anchor_z, layout.anchor_xy = Z, fit_xy
    xy = np.zeros((n, 2), np.float32)
    xy[fit_idx] = fit_xy
    if len(fit_idx) < n:
        rest = np.setdiff1d(np.arange(n), fit_idx)
        stage(f"placing {len(rest):,} more rows", 0.8)
        index = layout.anchor_index(exact=len(rest) <= PLACE_EXACT_MAX)
        for start in range(0, len(rest), PLACE_CHUNK):
            chunk = rest[start:start + PLACE_CHUNK]
            xy[chunk] = layout.place(X[chunk], index=index)
    return xy, layout, len(fit_idx)


def _pca(X: np.ndarray, config: MapConfig) -> tuple[np.ndarray, np.ndarray]:
    """(mean, axes) of a PCA to config.pca_dims, or an identity (no axes) when there are too few dims or rows."""
    if X.shape[1] > config.pca_dims and len(X) > config.pca_dims:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=config.pca_dims, random_state=config.seed).fit(X)
        return pca.mean_.astype(np.float32), pca.components_.astype(np.float32)
    return np.zeros(X.shape[1], np.float32), np.zeros((0, X.shape[1]), np.float32)


def fit_umap(Z: np.ndarray, config: MapConfig = MapConfig()) -> np.ndarray:
    """2-D UMAP (cosine) of the PCA coordinates; the first two principal axes when there are too few rows."""
    n = Z.shape[0]
    if n < 8:  # too few points for a neighbour graph: the first two coordinates are the honest map
        xy = Z[:, :2] if Z.shape[1] >= 2 else np.pad(Z, ((0, 0), (0, 2 - Z.shape[1])))
        return np.asarray(xy, np.float32)
    import umap

    # a random_state pins UMAP to one thread: reproducible maps where it is cheap, both cores where it is not
    seeded = n <= config.seeded_max_rows
    reducer = umap.UMAP(n_components=2, metric="cosine", n_neighbors=min(config.n_neighbors, n - 1),
                        min_dist=config.min_dist, random_state=config.seed if seeded else None,
                        init="spectral" if n > 16 else "random", low_memory=True)
    return reducer.fit_transform(Z).astype(np.float32)


def warm_up_umap() -> float:
    """JIT-compile umap's numba kernels (~20 s on first use) on a toy problem; returns seconds spent."""
    start = time.perf_counter()
    fit_umap(np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32))
    return time.perf_counter() - start


# ---- keys and cache --------------------------------------------------------------------------------------------------

def content_key(store: Store, dataset: str, n_rows: int, view: str = "kept") -> str:
    """What a map's rows depend on: every (id, content) pair of the dataset's rows in the view (their fingerprint)
    and how many of them have features (features only ever get added, so the count names the subset)."""
    return f"{store.fingerprint(dataset, view)}:{n_rows}"


def map_key(dataset: str, config_key: str, content: str, cc: ClusterConfig, mc: MapConfig,
            quality: str = "") -> str:
    """`quality`: quality.quality_state of the rows (which rows can be suspect): the rules leave those out."""
    return stable_hash({"v": MAP_VERSION, "dataset": dataset, "features": config_key, "content": content,
                        "cluster": dataclasses.asdict(cc), "map": dataclasses.asdict(mc), "quality": quality})


def layout_key(config_key: str, content: str, mc: MapConfig) -> str:
    """The layout does not depend on the cluster settings: switching k or the rule reuses it."""
    return stable_hash({"v": MAP_VERSION, "features": config_key, "content": content,
                        "map": dataclasses.asdict(mc)})


def settings_key(store: Store, dataset: str, config_key: str, cc: ClusterConfig, mc: MapConfig,
                 view: str = "kept") -> str:
    """Where the map made with these settings is recorded, so a page finds it without reading the features."""
    from core.analysis.quality import quality_state

    return "map-for:" + stable_hash({"dataset": dataset, "fp": store.fingerprint(dataset, view), "features": config_key,
                                     "cluster": dataclasses.asdict(cc), "map": dataclasses.asdict(mc),
                                     "quality": quality_state(store, dataset, config_key, view)})


def load_cached(store: Store, key: str) -> GradientMap | None:
    meta = store.cache_get(f"map:{key}")
    if meta is None:
        return None
    arrays = store.load_artifact(f"map-{key}", meta["sha256"])
    layout = store.load_artifact(f"layout-{meta['layout_key']}", meta["layout_sha256"])
    if arrays is None or layout is None:
        return None
    res = store.map_rows(key)
    return GradientMap(key=key, dataset=meta["dataset"], config_key=meta["config_key"],
                       ids=[str(i) for i in res["sample_id"]], labels=np.asarray(res["cluster"], dtype=np.int64),
                       sparse_rows=np.asarray(res["sparse"], dtype=bool), density=np.asarray(res["density"]),
                       xy=np.stack([res["x"], res["y"]], axis=1), sizes=arrays["sizes"],
                       sparse_clusters=arrays["sparse_clusters"], k=int(meta["k"]), rule=meta["rule"],
                       centroids=arrays["centroids"], layout=Layout(**layout), fitted_rows=int(meta["fitted_rows"]),
                       mass=np.asarray(res["mass"], dtype=np.float32), suspect=np.asarray(res["suspect"], dtype=bool))


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
    only reads the cache."""
    stage = stage or (lambda s, f: None)
    stage("loading features", 0.0)
    ids, X = load_map_features(store, dataset, config_key, dim, view)
    if len(ids) < 3:
        raise ValueError(f"{dataset}: {len(ids)} rows have features; a map needs at least 3")
    from core.analysis.quality import quality_state, read_quality

    content = content_key(store, dataset, len(ids), view)
    key = map_key(dataset, config_key, content, cluster_config, map_config,
                  quality_state(store, dataset, config_key, view))
    cached = load_cached(store, key)
    if cached is not None:
        _record_settings(store, dataset, config_key, cluster_config, map_config, key, len(ids), view)
        stage("cached", 1.0)
        return cached
    stage("quality", 0.05)
    suspect_ids = set(read_quality(store, dataset, config_key, view=view).suspect_ids())
    suspect = np.array([i in suspect_ids for i in ids], dtype=bool)
    stage("clustering", 0.1)
    clustering = cluster(X, cluster_config, suspect=suspect)
    lkey = layout_key(config_key, content, map_config)
    ref = store.cache_get(f"layout:{lkey}")
    saved = store.load_artifact(f"layout-{lkey}", ref["sha256"]) if ref else None
    if saved is not None and ref.get("xy_sha256"):
        xy_arrays = store.load_artifact(f"xy-{lkey}", ref["xy_sha256"])
        xy, fitted = xy_arrays["xy"], int(ref["fitted_rows"])
    else:
        xy, layout, fitted = fit_layout(X, map_config, stage=stage)
        sha = store.save_artifact(f"layout-{lkey}", **dataclasses.asdict(layout))
        xy_sha = store.save_artifact(f"xy-{lkey}", xy=xy)
        store.cache_put(f"layout:{lkey}", {"sha256": sha, "xy_sha256": xy_sha, "fitted_rows": fitted})
        ref = store.cache_get(f"layout:{lkey}")
    stage("saving", 0.95)
    _save(store, key, lkey, ref["sha256"], fitted, dataset, config_key, ids, clustering, xy, cluster_config,
          map_config, view)
    stage("done", 1.0)
    return load_cached(store, key)


def seed_layout(store: Store, dataset: str, config_key: str, dim: int, xy: np.ndarray,
                map_config: MapConfig = MapConfig(), view: str = "kept") -> None:
    """Record a known 2-D layout of the dataset's feature rows (the demo ships one), so build_map clusters and reuses
    it instead of fitting UMAP. `xy` is in the dataset's feature-row order (load_features)."""
    ids, X = store.load_features(dataset, config_key, dim, view=view)
    if len(ids) != len(xy):
        raise ValueError(f"a layout of {len(xy)} rows for {len(ids)} feature rows")
    content = content_key(store, dataset, len(ids), view)
    lkey = layout_key(config_key, content, map_config)
    layout = Layout(*_pca(X, map_config), np.zeros((0, 1), np.float32), np.zeros((0, 2), np.float32))
    layout.anchor_z, layout.anchor_xy = layout.project(X), np.asarray(xy, np.float32)
    sha = store.save_artifact(f"layout-{lkey}", **dataclasses.asdict(layout))
    xy_sha = store.save_artifact(f"xy-{lkey}", xy=np.asarray(xy, np.float32))
    store.cache_put(f"layout:{lkey}", {"sha256": sha, "xy_sha256": xy_sha, "fitted_rows": len(ids)})


def _record_settings(store: Store, dataset: str, config_key: str, cc: ClusterConfig, mc: MapConfig, key: str,
                     n: int, view: str = "kept") -> None:
    store.cache_put(settings_key(store, dataset, config_key, cc, mc, view), {"key": key, "n": n})
    store.cache_put(f"latest-map:{dataset}:{config_key}:{view}", {"key": key, "fp": store.fingerprint(dataset, view)})


def find_cached_map(store: Store, dataset: str, config_key: str, dim: int, cc: ClusterConfig,
                    mc: MapConfig, view: str = "kept") -> GradientMap | None:
    """The cached map for these settings if it still covers every feature row of the view as it is now."""
    ref = store.cache_get(settings_key(store, dataset, config_key, cc, mc, view))
    if ref is None or ref["n"] != store.feature_coverage(dataset, config_key, dim, view):
        return None
    return load_cached(store, ref["key"])


def latest_map(store: Store, dataset: str, config_key: str, view: str = "kept") -> GradientMap | None:
    """The map last built for the view's current rows under this feature config (any cluster settings)."""
    ref = store.cache_get(f"latest-map:{dataset}:{config_key}:{view}")
    if not ref or ref.get("fp") != store.fingerprint(dataset, view):
        return None
    return load_cached(store, ref["key"])


def _save(store: Store, key: str, lkey: str, layout_sha: str, fitted: int, dataset: str, config_key: str,
          ids: list[str], c: Clustering, xy: np.ndarray, cc: ClusterConfig, mc: MapConfig, view: str) -> None:
    sha = store.save_artifact(f"map-{key}", centroids=c.centroids, sizes=c.sizes, sparse_clusters=c.sparse_clusters)
    store.write_map_rows(key, ids, cluster=c.labels, sparse=c.sparse_rows, density=c.density, xy=xy, mass=c.mass,
                         suspect=c.suspect if c.suspect is not None else np.zeros(len(ids), dtype=bool))
    # meta last: its presence marks the map complete
    store.cache_put(f"map:{key}", {"dataset": dataset, "config_key": config_key, "k": c.k, "rule": cc.rule,
                                   "cluster_config": dataclasses.asdict(cc), "layout_key": lkey,
                                   "layout_sha256": layout_sha, "sha256": sha, "fitted_rows": fitted,
                                   "created_at": time.time()})
    _record_settings(store, dataset, config_key, cc, mc, key, len(ids), view)
