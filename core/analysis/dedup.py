"""Near-duplicates in gradient space: rows that would teach the model the same thing.

For every row its nearest neighbours among the unit features (faiss inner product: exact up to EXACT_MAX rows;
beyond, neighbours.knn: cells and 4-bit codes find candidates, their exact cosine ranks them, in float32 chunks of
the 1M path's float16 rows; bench/dedup.py measures its recall of planted copies at 1M against exact search); pairs at
or above the threshold are joined into groups (connected components); each group keeps the row nearest its centre
(the normalised mean of its rows), and the others are flagged. One pass also gives, for every threshold from 0.80 to 0.99, how many rows it would flag, so a
user picks a threshold seeing what it costs.

Gradient space has its own notion of "the same": a problem with its names changed, or reworded, teaches the same
thing (cosine ~0.93-0.99 here); the same problem with other numbers often does not (a median of ~0.74). Beside it,
text near-duplicates by MinHash (word shingles, Jaccard) say where the text alone would disagree.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.sparsity import unit

EXACT_MAX = 100_000
NEIGHBOURS = 10
# Chosen by bench/dedup.py (2,000 GSM8K rows + 200 planted copies, default fast features): at 0.85 no pair of
# untouched rows is flagged (their nearest neighbour is at most 0.83) and 93% of the copies a model learns the same
# from (names changed, sentences reordered, reworded) are; at 0.95 only 68% of them. Copies with other numbers sit at a
# median 0.73: gradient space calls them new (8% flagged at 0.85), by design, not tuned away.
DEFAULT_THRESHOLD = 0.85
CURVE = tuple(round(0.80 + 0.01 * i, 2) for i in range(20))  # 0.80 ... 0.99


@dataclasses.dataclass(frozen=True)
class Neighbours:
    sims: np.ndarray  # (n, k) cosine to each row's nearest other rows, best first
    idx: np.ndarray  # (n, k) their row indices (-1 where there are fewer)
    exact: bool  # False when an approximate index (neighbours.knn) found them


@dataclasses.dataclass(frozen=True)
class Dedup:
    threshold: float
    groups: list[list[int]]  # rows of each duplicate group; keep = groups[g][0] (nearest the group's centre)
    flagged: np.ndarray  # (n,) bool: in a group and not its kept row
    curve: dict[float, int]  # threshold -> rows flagged
    exact: bool
    max_similarity: np.ndarray  # (n,) each row's best neighbour cosine: the score behind a flag


def nearest_neighbours(X: np.ndarray, k: int = NEIGHBOURS) -> Neighbours:
    import faiss

    from core.analysis.neighbours import drop_self, knn

    n, d = X.shape
    kk = int(min(k, n - 1))
    if kk < 1:
        return Neighbours(np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64), True)
    if n > EXACT_MAX:  # approximate candidates, exact similarities; never the whole matrix widened
        sims, idx = knn(X, kk)
        return Neighbours(sims, idx, False)
    X = np.ascontiguousarray(unit(X), dtype=np.float32)
    index = faiss.IndexFlatIP(d)
    index.add(X)
    sims, idx = index.search(X, kk + 1)
    # drop each row itself: usually the first hit, but an exact copy may tie with it and come first
    sims, idx = drop_self(sims, idx)
    return Neighbours(sims, idx, True)


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def find_duplicates(X: np.ndarray, threshold: float = DEFAULT_THRESHOLD, *, neighbours: Neighbours | None = None
                    ) -> Dedup:
    """Duplicate groups at `threshold`, the flag curve over CURVE, and which row each group keeps.

    X is read, never copied whole: only the rows of each group are widened (to float32) to find its centre."""
    nb = neighbours or nearest_neighbours(X)
    n = X.shape[0]
    cols, sims = nb.idx.reshape(-1), nb.sims.reshape(-1)
    # only pairs that some threshold of the curve (or the asked one) keeps: at 1M rows, a few of the 10M
    lowest = min(min(CURVE), threshold)
    keep = np.flatnonzero((cols >= 0) & (sims >= lowest))
    rows, cols, sims = keep // max(nb.idx.shape[1], 1), cols[keep], sims[keep]
    curve = {}
    for t in sorted(set(CURVE) | {round(threshold, 4)}):
        mask = sims >= t
        labels = _components(n, np.stack([rows[mask], cols[mask]], axis=1))
        sizes = np.bincount(labels)
        curve[t] = int(sizes[sizes > 1].sum() - (sizes > 1).sum())  # every group keeps one row
        if t == round(threshold, 4):
            at_threshold = labels
    labels = at_threshold
    groups, flagged = [], np.zeros(n, dtype=bool)
    order_all = np.argsort(labels, kind="stable")  # each group's rows in row order, from one sort (not a mask per group)
    bounds = np.flatnonzero(np.diff(labels[order_all])) + 1
    for members in np.split(order_all, bounds):
        if len(members) < 2:
            continue
        Xm = unit(X[members])
        centre = unit(Xm.mean(axis=0, keepdims=True))[0]
        order = members[np.argsort(-(Xm @ centre), kind="stable")]  # nearest the centre first: kept
        groups.append(order.tolist())
        flagged[order[1:]] = True
    groups.sort(key=lambda g: (-len(g), g[0]))
    best = nb.sims[:, 0] if nb.sims.shape[1] else np.zeros(n, np.float32)
    return Dedup(threshold, groups, flagged, {float(t): c for t, c in curve.items() if t in CURVE}, nb.exact, best)


def minhash_groups(texts: list[str], *, threshold: float = 0.8, num_perm: int = 128, shingle: int = 3) -> list[list[int]]:
    """Text near-duplicates: groups of rows whose word-shingle sets have MinHash Jaccard >= threshold (datasketch LSH)."""
    from datasketch import MinHash, MinHashLSH

    from core.analysis.contamination_text import shingles

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    hashes = []
    for i, text in enumerate(texts):
        grams = shingles(text, shingle)
        m = MinHash(num_perm=num_perm, seed=1)
        m.update_batch([g.encode() for g in grams])
        lsh.insert(str(i), m)
        hashes.append(m)
    pairs = [(i, int(j)) for i, m in enumerate(hashes) for j in lsh.query(m) if int(j) != i]
    labels = _components(len(texts), np.array(pairs, dtype=np.int64).reshape(-1, 2))
    return [np.flatnonzero(labels == g).tolist() for g in np.flatnonzero(np.bincount(labels) > 1)]


def word_diff(a: str, b: str) -> list[tuple[str, str]]:
    """(word, tag) pairs of `b` against `a`: tag '' for shared words, 'changed' for words only in b (for marking)."""
    import difflib
    import re

    wa, wb = re.findall(r"\S+", a), re.findall(r"\S+", b)
    out = []
    for op, _, _, j1, j2 in difflib.SequenceMatcher(a=wa, b=wb, autojunk=False).get_opcodes():
        out += [(w, "" if op == "equal" else "changed") for w in wb[j1:j2]]
    return out
