"""Clusters of unit gradient features and the sparse regions among them (the paper's size rule, or local density)."""
from __future__ import annotations

import dataclasses

import numpy as np

RULES = ("paper", "density")
EXACT_KNN_MAX = 20_000


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    k: int | None = None  # None: n/10 as in the paper, bounded to [2, 1000]
    seed: int = 0
    niter: int = 20
    rule: str = "paper"  # "paper": clusters below the median size; "density": least dense samples' clusters
    density_quantile: float = 0.5  # density rule: samples below this quantile of density are sparse
    neighbours: int = 10

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, not {self.rule!r}")


@dataclasses.dataclass(frozen=True)
class Clustering:
    labels: np.ndarray  # (n,) int cluster of each row
    centroids: np.ndarray  # (k, d) unit rows
    sizes: np.ndarray  # (k,)
    sparse_clusters: np.ndarray  # (k,) bool: the paper's rule, or the density rule's majority vote
    density: np.ndarray  # (n,) mean cosine similarity to the nearest neighbours (higher = denser)
    sparse_rows: np.ndarray  # (n,) bool under the configured rule
    k: int

    def assign(self, X: np.ndarray) -> np.ndarray:
        """Nearest centroid by cosine for new rows (e.g. synthetic candidates)."""
        return assign(X, self.centroids)


def default_k(n: int) -> int:
    return int(min(max(2, round(n / 10)), 1000, max(1, n - 1)))


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def spherical_kmeans(X: np.ndarray, k: int, *, seed: int = 0, niter: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(labels, unit centroids). Spherical because G-Vendi compares gradient *directions*: assignment by cosine and
    centroids re-normalised to the sphere, so a long gradient never drags a centroid off the unit sphere."""
    import faiss

    X = _unit(X)
    km = faiss.Kmeans(X.shape[1], k, niter=niter, spherical=True, seed=seed, verbose=False)
    km.cp.min_points_per_centroid = 1  # small n is fine here: silence faiss's "too few points" warning
    km.cp.max_points_per_centroid = 1 << 30  # cluster every row, no subsampling
    km.train(X)
    centroids = _unit(km.centroids)
    return assign(X, centroids), centroids


def assign(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return np.argmax(_unit(X) @ centroids.T, axis=1).astype(np.int64)


def knn_density(X: np.ndarray, neighbours: int = 10) -> np.ndarray:
    """Mean cosine similarity of each row to its nearest neighbours (itself excluded): low = a thin region."""
    import faiss

    X = _unit(X)
    kk = int(min(neighbours, X.shape[0] - 1))
    if kk < 1:
        return np.ones(X.shape[0], dtype=np.float32)
    if X.shape[0] > EXACT_KNN_MAX:
        # exact search is O(n²·d): past ~20k rows an inverted-file index (approximate, ~sqrt(n) lists) keeps it
        # to minutes; density is a ranking signal, so near neighbours found approximately serve it well
        nlist = int(np.sqrt(X.shape[0]))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(X.shape[1]), X.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(X)
        index.nprobe = 8
    else:
        index = faiss.IndexFlatIP(X.shape[1])
    index.add(X)
    sims, _ = index.search(X, kk + 1)
    return sims[:, 1:].mean(axis=1)


def paper_sparse(sizes: np.ndarray) -> np.ndarray:
    """Clusters strictly smaller than the median size; if none is (all equal), every cluster counts as sparse."""
    sparse = sizes < np.median(sizes)
    return sparse if sparse.any() else np.ones_like(sparse)


def cluster(X: np.ndarray, config: ClusterConfig = ClusterConfig()) -> Clustering:
    n = X.shape[0]
    if n < 3:
        raise ValueError("clustering needs at least 3 rows")
    k = min(config.k or default_k(n), n - 1)
    labels, centroids = spherical_kmeans(X, k, seed=config.seed, niter=config.niter)
    sizes = np.bincount(labels, minlength=k)
    density = knn_density(X, config.neighbours)
    if config.rule == "paper":
        sparse_clusters = paper_sparse(sizes)
        sparse_rows = sparse_clusters[labels]
    else:
        sparse_rows = density < np.quantile(density, config.density_quantile)
        # a cluster is sparse when most of its members are: what the synthesis filter needs for new points
        share = np.bincount(labels, weights=sparse_rows.astype(float), minlength=k) / np.maximum(sizes, 1)
        sparse_clusters = share > 0.5
    return Clustering(labels, centroids, sizes, sparse_clusters, density, sparse_rows, k)
