"""Budgeted selection: choose K rows that make the selection (with a seed set, if given) as diverse as possible.

Greedy on the Vendi score's own structure. With S = Σ xxᵀ over the rows chosen so far (unit rows, seed included),
adding a row x changes tr(S²) by 2·xᵀSx + 1; the order-2 Vendi score of m rows is m² / tr(S²), so the row that
most increases it is the one of least xᵀSx: the least "mass" along the current selection. Keeping s_i = x_iᵀSx_i for
every candidate, adding x* updates it by (x_iᵀx*)²: each step is one matrix-vector product over the candidates, so
K = 1,000 steps over 10,000 rows take seconds. The order-1 score (G-Vendi, what the product reports) follows the
order-2 one closely; it is what every result below states.

Baselines on the same budget: random K rows, and the method's own cluster-balanced rule (round-robin over the
clusters, sparse clusters first, a random member each time).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.sparsity import DEFAULT_RULE, unit


@dataclasses.dataclass(frozen=True)
class Selection:
    method: str
    indices: list[int]  # rows of the candidate matrix, in the order chosen
    g_vendi: float  # of the seed rows plus the selection


def greedy(X: np.ndarray, budget: int, *, seed_X: np.ndarray | None = None) -> list[int]:
    """Indices of `budget` distinct rows of X chosen greedily (least mass along the selection so far)."""
    X = unit(X)
    n = X.shape[0]
    budget = min(budget, n)
    mass = np.zeros(n, dtype=np.float64)
    if seed_X is not None and len(seed_X):
        Y = unit(seed_X)
        S = Y.T @ Y  # s_i = Σ_seed (x_i·y)² = x_iᵀ S x_i
        for start in range(0, n, 20_000):
            chunk = X[start:start + 20_000]
            mass[start:start + len(chunk)] = np.einsum("ij,ij->i", chunk @ S, chunk)
    chosen = np.zeros(n, dtype=bool)
    order = []
    for _ in range(budget):
        masked = np.where(chosen, np.inf, mass)
        best = int(np.argmin(masked))  # ties break to the lowest index: deterministic
        order.append(best)
        chosen[best] = True
        mass += (X @ X[best]).astype(np.float64) ** 2
    return order


def random_pick(n: int, budget: int, *, seed: int = 0) -> list[int]:
    return np.random.default_rng(seed).choice(n, min(budget, n), replace=False).tolist()


def cluster_balanced(labels: np.ndarray, sparse_clusters: np.ndarray, budget: int, *, seed: int = 0) -> list[int]:
    """Round-robin over clusters, sparse clusters first (smallest first within each group), a random member each."""
    rng = np.random.default_rng(seed)
    k = len(sparse_clusters)
    sizes = np.bincount(labels, minlength=k)
    members = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in range(k)}
    order = sorted(range(k), key=lambda c: (not sparse_clusters[c], sizes[c]))
    out: list[int] = []
    while len(out) < min(budget, len(labels)):
        for c in order:
            if members[c] and len(out) < budget:
                out.append(int(members[c].pop()))
    return out


def select(X: np.ndarray, budget: int, *, seed_X: np.ndarray | None = None, seed: int = 0, k: int | None = None,
           rule: str = DEFAULT_RULE, exclude: np.ndarray | None = None) -> dict[str, Selection]:
    """The greedy selection and both baselines, each with the G-Vendi of seed rows + selection. `exclude` (n,) bool:
    rows no method may pick (the quality read's suspect rows, unless the user includes them); indices are X's."""
    from core.analysis.clusters import ClusterConfig, cluster
    from core.analysis.diversity import vendi_score

    base = seed_X if seed_X is not None and len(seed_X) else np.zeros((0, X.shape[1]), np.float32)
    allowed = np.arange(len(X)) if exclude is None else np.flatnonzero(~np.asarray(exclude, dtype=bool))
    Xa = X[allowed] if len(allowed) < len(X) else X

    def score(idx: list[int]) -> float:
        return vendi_score(np.concatenate([base, X[idx]]))

    c = cluster(Xa, ClusterConfig(k=k, seed=seed, rule=rule))
    picks = {"greedy": greedy(Xa, budget, seed_X=base if len(base) else None),
             "random": random_pick(len(Xa), budget, seed=seed),
             "balanced": cluster_balanced(c.labels, c.sparse_clusters, budget, seed=seed)}
    return {m: Selection(m, [int(allowed[i]) for i in idx], score([int(allowed[i]) for i in idx]))
            for m, idx in picks.items()}
