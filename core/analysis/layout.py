"""The map's 2-D layout: PCA to ~50 dims, then UMAP (cosine) fitted on at most `fit_max_rows` rows (a seeded sample
past that); every other row, and every new point later (synthetic candidates, another dataset on this map), is placed
by its nearest fitted rows in PCA space: a similarity-weighted mean of their 2-D positions (found exactly, or past
PLACE_EXACT_MAX rows to place, through a graph index over the fitted rows: Layout.anchor_index). That is UMAP's own
initialisation for new points, without its refinement epochs: fast at a million rows, deterministic, and it needs
nothing but arrays.

Pure maths on arrays: no store, no keys. gradient_map.build_map clusters and lays out a dataset's features and caches
both (cache.py names the layout's key: switching the cluster settings reuses a layout).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import numpy as np

from core.features.unit import unit_rows

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
        return unit_rows(Z, dtype=np.float32, what="PCA coordinate")  # a row at the PCA mean has no direction

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
    layout = pca_layout(fit, config)
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


def pca_layout(X: np.ndarray, config: MapConfig) -> Layout:
    """A Layout holding X's PCA (pca_axes) and no fitted rows yet."""
    return Layout(*pca_axes(X, config), np.zeros((0, 1), np.float32), np.zeros((0, 2), np.float32))


def pca_axes(X: np.ndarray, config: MapConfig) -> tuple[np.ndarray, np.ndarray]:
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
