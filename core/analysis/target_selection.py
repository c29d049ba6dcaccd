"""Targeted selection: K training rows that cover an eval set in gradient space.

Method: greedy facility location on the eval rows. With s(e, x) = max(0, cos(e, x)) over unit gradient features,
the selection S maximises F(S) = Σ_eval max_{x in S ∪ seed} s(e, x): every eval row is served by its closest selected
row, so the selection spreads over the eval set's regions (several rows for a region only when it is large or spread)
instead of piling onto the eval set's mean direction (LESS-style alignment with the mean gradient does the latter).
F is monotone submodular, so the greedy choice is within 1 - 1/e of the best K. Each row's marginal gain
g_i = Σ_e max(0, s(e, x_i) - best_e) is kept up to date incrementally: after a pick only the eval rows whose best
improved change, and only their columns are re-read (one pass over the n x m similarities at the start, then
n x |changed| per step).

Blend (`blend` = w in [0, 1]): each step picks the candidate of highest (1 - w)·ĝ_i + w·d̂_i, where ĝ is the gain
over the largest gain and d̂ the diversity term of selection.greedy (least mass x_iᵀSx_i along the rows chosen so
far, seed included), min-max scaled to [0, 1] (1 = least mass). w = 0 is pure coverage, w = 1 the diversity greedy.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.sparsity import unit

MAX_ENTRIES = 250_000_000  # candidates x eval rows held as float32 similarities (1 GB)


@dataclasses.dataclass(frozen=True)
class TargetSelection:
    indices: list[int]  # rows of the candidate matrix, in the order chosen
    objective: float  # F(S) / m: the mean over eval rows of their best (clipped) cosine to seed + selection
    blend: float

    def to_json(self, ids: list[str]) -> dict:
        return {"ids": [ids[i] for i in self.indices], "objective": round(self.objective, 4), "blend": self.blend}


def similarities(X: np.ndarray, E: np.ndarray) -> np.ndarray:
    """(n, m) float32 max(0, cosine) of every candidate to every eval row."""
    n, m = len(X), len(E)
    if n * m > MAX_ENTRIES:
        raise MemoryError(f"{n:,} candidates x {m:,} eval rows is more than {MAX_ENTRIES:,} similarities: sample the "
                          "eval set or the candidates")
    S = unit(X) @ unit(E).T
    np.maximum(S, 0, out=S)
    return S


def best_of(E: np.ndarray, Y: np.ndarray | None) -> np.ndarray:
    """(m,) each eval row's best clipped cosine to the rows Y (zeros without them)."""
    best = np.zeros(len(E), np.float32)
    if Y is not None and len(Y):
        Eu = unit(E)
        for start in range(0, len(Y), 20_000):
            best = np.maximum(best, (unit(Y[start:start + 20_000]) @ Eu.T).max(axis=0))
    return best


def objective(E: np.ndarray, Y: np.ndarray) -> float:
    """F / m for the rows Y: the mean over eval rows of the best clipped cosine to Y."""
    return float(best_of(E, Y).mean()) if len(E) else 0.0


def toward(X: np.ndarray, E: np.ndarray, budget: int, *, seed_X: np.ndarray | None = None, blend: float = 0.0,
           exclude: np.ndarray | None = None) -> TargetSelection:
    """`budget` distinct rows of X (none of `exclude`, an (n,) bool mask) that cover the eval rows E, greedily."""
    if not 0.0 <= blend <= 1.0:
        raise ValueError(f"blend must be in [0, 1], not {blend}")
    if len(E) == 0:
        raise ValueError("the eval set has no rows with features")
    n = len(X)
    allowed = np.ones(n, bool) if exclude is None else ~np.asarray(exclude, dtype=bool)
    budget = int(min(budget, allowed.sum()))
    S = similarities(X, E)
    best = best_of(E, seed_X).astype(np.float32)
    gain = np.zeros(n, np.float64)
    for start in range(0, n, 4096):
        gain[start:start + 4096] = np.maximum(S[start:start + 4096] - best, 0).sum(axis=1)
    Xu = unit(X) if blend > 0 else None
    mass = np.zeros(n, np.float64)
    if blend > 0 and seed_X is not None and len(seed_X):
        Y = unit(seed_X)
        G = Y.T @ Y
        mass = np.einsum("ij,ij->i", Xu @ G, Xu).astype(np.float64)
    chosen: list[int] = []
    taken = ~allowed
    for _ in range(budget):
        if blend > 0:
            g = np.where(taken, -np.inf, gain)
            top = g.max()
            gn = gain / top if top > 0 else np.zeros(n)
            lo, hi = mass[~taken].min(), mass[~taken].max()
            dn = (hi - mass) / (hi - lo) if hi > lo else np.ones(n)
            score = np.where(taken, -np.inf, (1 - blend) * gn + blend * dn)
        else:
            score = np.where(taken, -np.inf, gain)
        pick = int(np.argmax(score))  # ties: the lowest index, deterministic
        chosen.append(pick)
        taken[pick] = True
        new_best = np.maximum(best, S[pick])
        changed = np.flatnonzero(new_best > best)
        if len(changed):
            cols = S[:, changed]
            gain -= (np.maximum(cols - best[changed], 0) - np.maximum(cols - new_best[changed], 0)).sum(axis=1)
            best = new_best
        if blend > 0:
            mass += (Xu @ Xu[pick]).astype(np.float64) ** 2
    return TargetSelection(chosen, float(best.mean()), blend)
