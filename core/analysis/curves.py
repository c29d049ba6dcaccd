"""Comparable scores. G-Vendi grows with n (it counts effectively distinct gradient directions, at most min(n, d)), so
two datasets of different sizes are compared on their diversity curves: G-Vendi of random subsets at ~10 sizes up to
n, several draws each (mean and spread), computed from the cached features alone (no model). At full n the curve is
the dataset's G-Vendi. And what drives the score: each cluster's contribution, how much G-Vendi drops when the
cluster is left out."""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.clusters import members_by_cluster
from core.analysis.diversity import entropy_score, vendi_score
from core.analysis.sparsity import similarity_operator, unit


@dataclasses.dataclass(frozen=True)
class Curve:
    sizes: list[int]
    mean: list[float]
    low: list[float]  # 10th percentile of the draws
    high: list[float]  # 90th percentile
    draws: int

    def at(self, n: int) -> float:
        """G-Vendi at n rows, interpolated on the curve (log n), clamped to its ends."""
        return float(np.interp(np.log(max(n, 1)), np.log(self.sizes), self.mean))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def curve_sizes(n: int, points: int = 10, smallest: int = 10) -> list[int]:
    """About `points` sizes from `smallest` to n, evenly spaced in log n (always ending at n)."""
    if n <= smallest:
        return [n]
    sizes = np.unique(np.round(np.geomspace(smallest, n, points)).astype(int))
    return sorted(set(sizes.tolist()) | {n})


def diversity_curve(X: np.ndarray, *, points: int = 10, draws: int = 5, seed: int = 0) -> Curve:
    """G-Vendi of random subsets at each size (draws each; the full set once)."""
    rng = np.random.default_rng(seed)
    X = unit(X)
    n = X.shape[0]
    sizes, mean, low, high = [], [], [], []
    for m in curve_sizes(n, points):
        k = 1 if m == n else draws
        values = [vendi_score(X[rng.choice(n, m, replace=False)] if m < n else X) for _ in range(k)]
        sizes.append(m)
        mean.append(float(np.mean(values)))
        low.append(float(np.percentile(values, 10)))
        high.append(float(np.percentile(values, 90)))
    return Curve(sizes, mean, low, high, draws)


def cluster_contributions(X: np.ndarray, labels: np.ndarray, k: int, *, q: float = 1.0,
                          max_exact: int = 200) -> np.ndarray:
    """G-Vendi(all) - G-Vendi(all but cluster c), for each cluster.

    From the Gram structure: S = XᵀX (d x d) and its eigendecomposition S = UΛUᵀ once; leaving cluster c out gives
    S - X_cᵀX_c. The `max_exact` largest clusters get that matrix's exact spectrum (one d x d eigendecomposition
    each, or the n x n Gram's when n < d); smaller ones, whose removal barely moves S, get the first-order spectrum
    λ_i - ||U_iᵀX_cᵀ||² (exact to first order in the cluster's share), so a thousand clusters cost seconds.

    X stays float32 (a float64 copy of 1M x 1024 features would be 8 GB): S is accumulated in float64 by chunks, and
    only one cluster's rows at a time are widened."""
    X = unit(X)
    n, d = X.shape
    full = vendi_score(X, q=q)
    sizes = np.bincount(labels, minlength=k)
    exact = set(np.argsort(-sizes)[:max_exact].tolist())
    S = similarity_operator(X) * n
    lam, U = np.linalg.eigh(S)
    out = np.zeros(k)
    for c, rows in enumerate(members_by_cluster(labels, k)):
        m = n - rows.size
        if sizes[c] == 0 or m == 0:
            continue
        Xc = X[rows].astype(np.float64)
        if c in exact:
            if n > d:
                spectrum = np.linalg.eigvalsh(S - Xc.T @ Xc)
            else:
                rest = np.delete(X, rows, axis=0).astype(np.float64)
                spectrum = np.linalg.eigvalsh(rest @ rest.T)
        else:
            spectrum = np.clip(lam - ((Xc @ U) ** 2).sum(axis=0), 0, None)
        out[c] = full - entropy_score(spectrum / m, q)
    return out
