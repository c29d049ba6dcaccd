"""Clusters of unit gradient features and the sparse regions among them (the paper's size rule, or local density)."""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.sparsity import knn_density, majority_sparse, paper_sparse, unit

RULES = ("paper", "density")


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


def spherical_kmeans(X: np.ndarray, k: int, *, seed: int = 0, niter: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(labels, unit centroids). Spherical because G-Vendi compares gradient *directions*: assignment by cosine and
    centroids re-normalised to the sphere, so a long gradient never drags a centroid off the unit sphere."""
    import faiss

    X = unit(X)
    km = faiss.Kmeans(X.shape[1], k, niter=niter, spherical=True, seed=seed, verbose=False)
    km.cp.min_points_per_centroid = 1  # small n is fine here: silence faiss's "too few points" warning
    km.cp.max_points_per_centroid = 1 << 30  # cluster every row, no subsampling
    km.train(X)
    centroids = unit(km.centroids)
    return assign(X, centroids), centroids


def assign(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return np.argmax(unit(X) @ centroids.T, axis=1).astype(np.int64)


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
        sparse_clusters = majority_sparse(labels, sparse_rows, k)
    return Clustering(labels, centroids, sizes, sparse_clusters, density, sparse_rows, k)
