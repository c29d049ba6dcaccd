"""Which samples sit in thin regions of gradient space: per-sample scores and the sparse rules built on them.

Scores (lower = thinner):
- mass: m_i = x_iᵀ S x_i with S = XᵀX / n, i.e. the mean of cos²(x_i, x_j) over all rows j. It is how much of the
  dataset points along sample i's gradient direction, and it is the metric's own quantity: the order-2 Vendi score
  is exactly 1 / mean_i m_i, so rows of low mass are the ones that carry diversity. A small group of rows alike to
  each other (a homogeneous minority) has low mass, a block of near-copies has high mass (it is not thin, however
  few its distinct directions), and rows unlike everything have the lowest.
- density: mean cosine similarity to the k nearest neighbours. Local: it sees isolated rows, but a small compact
  group looks dense to it.
- cluster size (the paper's rule): clusters of spherical k-means below the median size.

Rules: `paper` (cluster size), `density` (per-sample density below a quantile, clusters where most members are),
`mass` (per-sample mass below half the median row's; clusters where most members are). bench/sparsity.py measures each on data where the truth is known.
"""
from __future__ import annotations

import numpy as np

import dataclasses

EXACT_KNN_MAX = 20_000
MASS_CHUNK = 50_000
RULES = ("paper", "density", "mass")
DEFAULT_RULE = "mass"  # chosen by bench/sparsity.py: it finds both kinds of minority, never a block of copies
# Growing is another question than flagging: a candidate is accepted when it lands in a sparse cluster, so the rule
# must leave room to land in; mass marks few clusters sparse (those made mostly of its ~10% flagged rows). The numbers
# of bench/grow.py that chose density are in GROW_HELP, which the app shows.
GROW_RULE = "density"
GROW_HELP = ("which clusters count as sparse, so which candidates are accepted. Default density: on 200 GSM8K rows "
             "grown from a 1,000-row pool it kept accepting and grew G-Vendi 24.5 above a random control in 5 "
             "rounds; paper +8.4 (its pool spent by round 3); mass accepted 7 of 1,000 (bench/grow.py)")
RULE_HELP = {
    "paper": "clusters smaller than the median cluster size (the paper's rule): finds small groups, whatever their "
             "spread; its flags move with the k-means seed",
    "density": "rows whose 10 nearest neighbours are least similar, and clusters made mostly of them: finds isolated "
               "rows; a small group of rows alike to each other looks dense to it",
    "mass": "rows along which less than half as much of the dataset points as along a typical row (x·S·x, the "
            "order-2 Vendi score's own term), and clusters made mostly of them: finds rare kinds of rows, alike or "
            "not, and never a block of near-copies; on mixed data it flags the most spread-out source",
}


@dataclasses.dataclass(frozen=True)
class Scores:
    """Per-sample scores behind the rules (lower = thinner)."""

    density: np.ndarray
    mass: np.ndarray


def unit(X: np.ndarray) -> np.ndarray:
    """Unit rows as contiguous float32 (diversity.unit_rows: safe at any scale; a NaN, infinite or all-zero row is
    a clear ValueError, never a silent zero row)."""
    from core.analysis.diversity import unit_rows

    return unit_rows(X, dtype=np.float32)


def similarity_operator(X: np.ndarray) -> np.ndarray:
    """S = XᵀX / n of the unit rows (d x d, float64 accumulation in chunks)."""
    S = np.zeros((X.shape[1], X.shape[1]), dtype=np.float64)
    for start in range(0, X.shape[0], MASS_CHUNK):
        c = unit(X[start:start + MASS_CHUNK])
        S += (c.T @ c).astype(np.float64)
    return S / max(X.shape[0], 1)


def gradient_mass(X: np.ndarray, S: np.ndarray | None = None) -> np.ndarray:
    """m_i = x_iᵀ S x_i for each row (S from X itself unless given: e.g. a pool's S for new candidates)."""
    S32 = (similarity_operator(X) if S is None else S).astype(np.float32)
    out = np.empty(X.shape[0], dtype=np.float32)
    for start in range(0, X.shape[0], MASS_CHUNK):
        c = unit(X[start:start + MASS_CHUNK])
        out[start:start + len(c)] = np.einsum("ij,ij->i", c @ S32, c)
    return out


def knn_density(X: np.ndarray, neighbours: int = 10, *, query: np.ndarray | None = None) -> np.ndarray:
    """Mean cosine similarity of each row to its nearest neighbours (itself excluded): low = a thin region. With
    `query`, the density of those other rows among X's (e.g. suspect rows, read against the rows the rules keep)."""
    import faiss

    if X.shape[0] > EXACT_KNN_MAX:
        # exact search is O(n²·d): past ~20k rows, cells + 4-bit codes find candidates and the exact cosine ranks
        # them (neighbours.py; Spearman with the exact density in bench/cluster_map.py), in float32 chunks
        from core.analysis.neighbours import knn_density as approximate

        return approximate(X, neighbours, query=query)
    X = unit(X)
    if query is not None:
        kk = int(min(neighbours, X.shape[0]))
        index = faiss.IndexFlatIP(X.shape[1])
        index.add(X)
        sims, _ = index.search(unit(query), kk)
        return sims.mean(axis=1).astype(np.float32)
    kk = int(min(neighbours, X.shape[0] - 1))
    if kk < 1:
        return np.ones(X.shape[0], dtype=np.float32)
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(X)
    sims, _ = index.search(X, kk + 1)
    return sims[:, 1:].mean(axis=1)


def paper_sparse(sizes: np.ndarray) -> np.ndarray:
    """Clusters strictly smaller than the median size; if none is (all equal), every cluster counts as sparse."""
    sparse = sizes < np.median(sizes)
    return sparse if sparse.any() else np.ones_like(sparse)


def below_quantile(score: np.ndarray, quantile: float) -> np.ndarray:
    return score < np.quantile(score, quantile)


def majority_sparse(labels: np.ndarray, sparse_rows: np.ndarray, k: int) -> np.ndarray:
    """A cluster is sparse when most of its members are (what the synthesis filter needs for new points)."""
    sizes = np.bincount(labels, minlength=k)
    share = np.bincount(labels, weights=sparse_rows.astype(float), minlength=k) / np.maximum(sizes, 1)
    return share > 0.5


def low_mean_score(labels: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """Clusters whose members' mean score is below the median over clusters (empty clusters: not sparse)."""
    sizes = np.bincount(labels, minlength=k)
    means = np.bincount(labels, weights=score.astype(float), minlength=k) / np.maximum(sizes, 1)
    means = np.where(sizes > 0, means, np.inf)
    return means < np.median(means[sizes > 0])


def relative_mass(mass: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Mass relative to the typical row's (the median of `reference`, default the rows themselves): 1 = as much of
    the dataset points along it as along a typical row, 0.2 = five times less."""
    ref = mass if reference is None else reference
    return mass / max(float(np.median(ref)), 1e-12)


def apply_rule(rule: str, labels: np.ndarray, sizes: np.ndarray, scores: Scores, *,
               quantile: float = 0.5, mass_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(sparse rows, sparse clusters) under a rule; a cluster-level flag is what the synthesis filter uses."""
    k = len(sizes)
    if rule == "paper":
        clusters = paper_sparse(sizes)
        return clusters[labels], clusters
    if rule == "density":
        rows = below_quantile(scores.density, quantile)
        return rows, majority_sparse(labels, rows, k)
    if rule == "mass":  # an absolute notion of rare: balanced data has no thin rows, whatever the split
        rows = relative_mass(scores.mass) < mass_fraction
        return rows, majority_sparse(labels, rows, k)
    raise ValueError(f"rule must be one of {RULES}, not {rule!r}")


def rules_on_map(gmap, *, quantile: float = 0.5,
                 mass_fraction: float = 0.5) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """rule -> (sparse rows, sparse clusters) of every rule on a map's clusters and per-sample scores (no
    re-clustering: k-means is shared), as the Sparse rules tab and the demo's story read them."""
    scores = Scores(density=gmap.density, mass=gmap.mass if gmap.mass is not None else np.ones(len(gmap.ids)))
    sizes = np.bincount(gmap.labels, minlength=gmap.k)
    return {rule: apply_rule(rule, gmap.labels, sizes, scores, quantile=quantile, mass_fraction=mass_fraction)
            for rule in RULES}
