"""How well a training set covers an eval set in gradient space, and where it does not.

Both sets' rows are unit gradient features under ONE feature identity (`check_same_identity` refuses anything else,
naming the fields that differ: cosines between two projections mean nothing).

Definition (the README states it; bench/target.py measures it):
- each eval row's *nearest training row* is the training row of highest cosine (exact search, faiss inner product);
- the *threshold* is the eval set's own typical neighbour distance: the median, over eval rows, of each row's cosine
  to its nearest OTHER eval row;
- an eval row is *covered* when its nearest training row is at least as close as that threshold; `coverage` is the
  share of eval rows covered, in [0, 1].
So a training set drawn from the eval set's own distribution, as large as it, covers about half; more such data
covers more; data of another kind covers less (bench/target.py: GSM8K-test covered by GSM8K-train vs by
SVAMP + minerva_math). The threshold moves with the eval set alone, never with the training set being judged.

Uncovered regions: the eval rows are clustered (spherical k-means, k = m/10 as for the map); a cluster is uncovered
when at least half its rows are.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.sparsity import unit

IMPORTED_IGNORED = ("file_sha256",)  # two imported sets of one name are one space: each file holds one dataset's ids


@dataclasses.dataclass(frozen=True)
class CoverageConfig:
    threshold: float | None = None  # None: the median within-eval nearest-neighbour cosine
    k: int | None = None  # eval clusters (None: m/10, at least 2)
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class Coverage:
    coverage: float  # share of eval rows covered
    threshold: float  # the cosine a nearest training row must reach
    nearest: np.ndarray  # (m,) index of each eval row's nearest training row
    similarity: np.ndarray  # (m,) its cosine
    covered: np.ndarray  # (m,) bool
    within_eval: np.ndarray  # (m,) each eval row's cosine to its nearest other eval row
    labels: np.ndarray  # (m,) eval cluster of each row
    uncovered_clusters: list[int]  # clusters at least half of whose rows are uncovered, largest first

    def to_json(self, eval_ids: list[str], train_ids: list[str]) -> dict:
        per_eval = [{"id": eval_ids[j], "nearest_id": train_ids[int(self.nearest[j])],
                     "similarity": round(float(self.similarity[j]), 4), "covered": bool(self.covered[j]),
                     "cluster": int(self.labels[j])} for j in range(len(eval_ids))]
        clusters = []
        for c in self.uncovered_clusters:
            members = np.flatnonzero(self.labels == c)
            clusters.append({"cluster": int(c), "size": int(len(members)),
                             "covered_share": round(float(self.covered[members].mean()), 4),
                             "ids": [eval_ids[j] for j in members]})
        return {"coverage": round(self.coverage, 4), "threshold": round(self.threshold, 4),
                "mean_nearest_similarity": round(float(self.similarity.mean()), 4) if len(self.similarity) else None,
                "per_eval": per_eval, "uncovered": [eval_ids[j] for j in np.flatnonzero(~self.covered)],
                "uncovered_clusters": clusters}


def identity_differences(a: dict, b: dict) -> dict[str, tuple]:
    """field -> (a's value, b's value) for every field of two feature identities that differs (imported sets of the
    same name compare without their file hash: IMPORTED_IGNORED)."""
    ignore = IMPORTED_IGNORED if "imported" in a and "imported" in b else ()
    return {f: (a.get(f), b.get(f)) for f in sorted(set(a) | set(b)) if f not in ignore and a.get(f) != b.get(f)}


def check_same_identity(train_config, eval_config, *, train: str = "training", evals: str = "eval") -> None:
    """ValueError naming each differing field when the two datasets' features are not in one space."""
    diff = identity_differences(train_config.identity(), eval_config.identity())
    if diff:
        fields = "; ".join(f"{f}: {a!r} for {train} vs {b!r} for {evals}" for f, (a, b) in diff.items())
        raise ValueError(f"the features of {train} and {evals} are not comparable: their identities differ in "
                         f"{fields}. Featurise both with the same options")


def nearest_rows(T: np.ndarray, E: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(sims, idx), each (m, k): the k training rows of highest cosine to each eval row, best first (exact)."""
    import faiss

    if len(T) == 0:
        raise ValueError("the training set has no rows with features")
    Tu = np.ascontiguousarray(unit(T), dtype=np.float32)
    index = faiss.IndexFlatIP(Tu.shape[1])
    index.add(Tu)
    sims, idx = index.search(np.ascontiguousarray(unit(E), dtype=np.float32), min(k, len(T)))
    return sims, idx


def within_eval_nearest(E: np.ndarray) -> np.ndarray:
    """(m,) each eval row's cosine to its nearest other eval row."""
    from core.analysis.dedup import nearest_neighbours

    nb = nearest_neighbours(E, 1)
    return nb.sims[:, 0] if nb.sims.shape[1] else np.ones(len(E), np.float32)


def eval_clusters(E: np.ndarray, config: CoverageConfig) -> np.ndarray:
    from core.analysis.clusters import default_k, spherical_kmeans

    m = len(E)
    if m < 4:
        return np.zeros(m, dtype=np.int64)
    k = min(config.k or default_k(m), m - 1)
    return spherical_kmeans(E, k, seed=config.seed)[0]


def coverage(T: np.ndarray, E: np.ndarray, config: CoverageConfig = CoverageConfig()) -> Coverage:
    """The coverage of eval rows E by training rows T (both (rows, d), any scale: rows are normalised)."""
    if len(E) < 2:
        raise ValueError(f"coverage needs at least 2 eval rows with features, not {len(E)}")
    if T.shape[1] != E.shape[1]:
        raise ValueError(f"training rows have {T.shape[1]} dimensions, eval rows {E.shape[1]}")
    sims, idx = nearest_rows(T, E, 1)
    within = within_eval_nearest(E)
    threshold = float(np.median(within)) if config.threshold is None else float(config.threshold)
    similarity = sims[:, 0]
    covered = similarity >= threshold - 1e-6
    labels = eval_clusters(E, config)
    uncovered = []
    for c in np.unique(labels):
        members = labels == c
        if (~covered[members]).mean() >= 0.5:
            uncovered.append(int(c))
    uncovered.sort(key=lambda c: (-int((labels == c).sum()), c))
    return Coverage(float(covered.mean()), threshold, idx[:, 0].astype(np.int64), similarity, covered, within,
                    labels, uncovered)


def coverage_at(T: np.ndarray, E: np.ndarray, threshold: float) -> float:
    """The share of eval rows whose nearest row of T reaches `threshold` (0 when T is empty): for curves against a
    budget, with one threshold throughout."""
    if len(T) == 0:
        return 0.0
    sims, _ = nearest_rows(T, E, 1)
    return float((sims[:, 0] >= threshold - 1e-6).mean())


def coverage_curve(X: np.ndarray, E: np.ndarray, threshold: float, *, base: np.ndarray | None = None,
                   points: int = 10) -> dict[str, list]:
    """Coverage of E by `base` plus the first k rows of X (X in the order chosen), at `points` budgets up to len(X):
    {"k": [...], "coverage": [...]} (the data of a coverage-against-budget curve)."""
    best = np.full(len(E), -np.inf, np.float32)
    Eu = unit(E)
    if base is not None and len(base):
        best = nearest_rows(base, E, 1)[0][:, 0]
    ks = sorted({int(round(len(X) * (i + 1) / points)) for i in range(points)} - {0})
    out, done = {"k": [], "coverage": []}, 0
    for k in ks:
        if k > done:
            best = np.maximum(best, (unit(X[done:k]) @ Eu.T).max(axis=0))
            done = k
        out["k"].append(k)
        out["coverage"].append(round(float((best >= threshold - 1e-6).mean()), 4))
    return out
