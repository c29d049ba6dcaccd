"""Clusters of unit gradient features and the sparse regions among them (the paper's size rule, or local density)."""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.sparsity import (DEFAULT_RULE, RULES, Scores, apply_rule, gradient_mass, knn_density,
                                    similarity_operator, unit)

TRAIN_POINTS_PER_CENTROID = 256  # faiss's default: only bites past 256k rows (k is capped at 1000)


def members_by_cluster(labels: np.ndarray, k: int) -> list[np.ndarray]:
    """Each cluster's row indices (in row order), from one stable sort: k is ~n/10, so k boolean masks over n rows
    would cost O(n·k)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(k)]


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    k: int | None = None  # None: n/10 as in the paper, bounded to [2, 1000]
    seed: int = 0
    niter: int = 20
    rule: str = DEFAULT_RULE  # see sparsity.py: "paper" (cluster size), "density" (10-NN), "mass" (x_iᵀ S x_i)
    density_quantile: float = 0.5  # density rule: rows below this quantile of density are sparse
    mass_fraction: float = 0.5  # mass rule: rows with less than this fraction of the median row's mass are sparse
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
    mass: np.ndarray | None = None  # (n,) x_iᵀ S x_i: how much of the dataset points along each row (low = thin)
    suspect: np.ndarray | None = None  # (n,) bool: rows left out of the rules (quality.py), never sparse

    def assign(self, X: np.ndarray) -> np.ndarray:
        """Nearest centroid by cosine for new rows (e.g. synthetic candidates)."""
        return assign(X, self.centroids)


def default_k(n: int) -> int:
    return int(min(max(2, round(n / 10)), 1000, max(1, n - 1)))


def spherical_kmeans(X: np.ndarray, k: int, *, seed: int = 0, niter: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(labels, unit centroids). Spherical because G-Vendi compares gradient *directions*: assignment by cosine and
    centroids re-normalised to the sphere, so a long gradient never drags a centroid off the unit sphere."""
    import faiss

    # centroids are trained on at most TRAIN_POINTS_PER_CENTROID·k rows (a seeded sample, past 256k rows at k = 1000:
    # the cost of Lloyd's iterations stays bounded at a million rows); every row is then assigned to its centroid.
    # The sample is drawn here, before anything is widened: X may be the 1M path's float16 rows (neighbours.py)
    from core.analysis.neighbours import take_unit

    cap = TRAIN_POINTS_PER_CENTROID * k
    train = unit(X) if X.shape[0] <= cap else take_unit(
        X, np.sort(np.random.default_rng(seed).choice(X.shape[0], cap, replace=False)))
    km = faiss.Kmeans(X.shape[1], k, niter=niter, spherical=True, seed=seed, verbose=False)
    km.cp.min_points_per_centroid = 1  # small n is fine here: silence faiss's "too few points" warning
    km.cp.max_points_per_centroid = TRAIN_POINTS_PER_CENTROID
    km.train(train)
    del train
    centroids = unit(km.centroids)
    return assign(X, centroids), centroids


def assign(X: np.ndarray, centroids: np.ndarray, chunk: int = 50_000) -> np.ndarray:
    """Nearest centroid by cosine, in chunks (1M rows x 1000 centroids at once would be 4 GB of similarities)."""
    out = np.empty(X.shape[0], dtype=np.int64)
    for start in range(0, X.shape[0], chunk):
        out[start:start + chunk] = np.argmax(unit(X[start:start + chunk]) @ centroids.T, axis=1)
    return out


def cluster(X: np.ndarray, config: ClusterConfig = ClusterConfig(), *,
            suspect: np.ndarray | None = None) -> Clustering:
    """k-means on the unit features, every per-sample score, and the sparse flags under the configured rule.

    `suspect` rows (the quality read's, core/analysis/quality.py) take no part: centroids, scores and the rule come
    from the other rows alone, so junk can neither be a thin region nor make one; each suspect row is then assigned
    to its nearest centroid, scored against the kept rows, and never flagged sparse."""
    n = X.shape[0]
    suspect = np.zeros(n, dtype=bool) if suspect is None else np.asarray(suspect, dtype=bool)
    if suspect.shape != (n,):
        raise ValueError(f"suspect mask of {suspect.shape} for {n} rows")
    keep = ~suspect
    Xk = X[keep] if suspect.any() else X
    m = Xk.shape[0]
    if m < 3:
        raise ValueError(f"clustering needs at least 3 rows that are not suspect ({m} of {n} are)")
    k = min(config.k or default_k(m), m - 1)
    labels_k, centroids = spherical_kmeans(Xk, k, seed=config.seed, niter=config.niter)
    sizes = np.bincount(labels_k, minlength=k)
    scores = Scores(density=knn_density(Xk, config.neighbours), mass=gradient_mass(Xk))
    sparse_k, sparse_clusters = apply_rule(config.rule, labels_k, sizes, scores, quantile=config.density_quantile,
                                           mass_fraction=config.mass_fraction)
    if not suspect.any():
        return Clustering(labels_k, centroids, sizes, sparse_clusters, scores.density, sparse_k, k, scores.mass,
                          suspect)
    labels = np.empty(n, dtype=np.int64)
    labels[keep], labels[suspect] = labels_k, assign(X[suspect], centroids)
    density = np.empty(n, dtype=np.float32)
    density[keep], density[suspect] = scores.density, knn_density(Xk, config.neighbours, query=X[suspect])
    mass = np.empty(n, dtype=np.float32)
    mass[keep], mass[suspect] = scores.mass, gradient_mass(X[suspect], S=similarity_operator(Xk))
    sparse_rows = np.zeros(n, dtype=bool)
    sparse_rows[keep] = sparse_k
    return Clustering(labels, centroids, sizes, sparse_clusters, density, sparse_rows, k, mass, suspect)
