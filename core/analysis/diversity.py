"""Diversity metrics: G-Vendi (Vendi score of unit gradient features) and its streaming form."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from core.features.unit import unit_rows  # noqa: F401  (analysis code imports it from here too)


def _normalise_rows(X: np.ndarray) -> np.ndarray:
    return unit_rows(X, dtype=np.float64)


def entropy_score(eigenvalues: np.ndarray, q: float = 1.0) -> float:
    """exp of the order-q Rényi entropy of a probability vector (q=1: Shannon)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lam = lam[lam > 1e-12]  # eigh returns tiny negative and zero values for rank-deficient S
    lam = lam / lam.sum()
    if q == 1:
        return float(np.exp(-np.sum(lam * np.log(lam))))
    if math.isinf(q):
        return float(1.0 / lam.max())
    if q == 0:
        return float(lam.size)
    return float(np.sum(lam**q) ** (1.0 / (1.0 - q)))


def similarity_eigenvalues(X: np.ndarray) -> np.ndarray:
    """Eigenvalues of XᵀX/n for unit rows; the n x n Gram form is used when it is smaller (same non-zero spectrum)."""
    X = _normalise_rows(X)
    n, d = X.shape
    if n == 0:
        raise ValueError("no rows")
    small = X @ X.T if n <= d else X.T @ X
    return np.linalg.eigvalsh(small / n)


def vendi_score(X: np.ndarray, q: float = 1.0) -> float:
    """G-Vendi when X holds gradient features: rows are L2-normalised here, so any scale is fine.

    Large inputs go through the chunked accumulator instead of a float64 copy of X."""
    X = np.asarray(X)
    if X.ndim == 2 and X.shape[0] * X.shape[1] > IN_MEMORY_MAX_ELEMENTS and X.shape[0] > X.shape[1]:
        acc = StreamingVendi(X.shape[1])
        for start in range(0, X.shape[0], 50_000):
            acc.add(X[start:start + 50_000])
        return acc.score(q)
    return entropy_score(similarity_eigenvalues(X), q)


IN_MEMORY_MAX_ELEMENTS = 20_000_000


class StreamingVendi:
    """Accumulates S = Σ xᵀx over chunks of unit rows: O(d²) memory whatever n is."""

    def __init__(self, dim: int):
        self.dim = dim
        self.n = 0
        self._S = np.zeros((dim, dim), dtype=np.float64)

    def add(self, chunk: np.ndarray) -> None:
        if chunk.size == 0:
            return
        if chunk.shape[1] != self.dim:
            raise ValueError(f"chunk has {chunk.shape[1]} columns, expected {self.dim}")
        # float32 GEMM then float64 accumulation: fast, and each chunk's error stays tiny; unit_rows refuses a bad
        # row (NaN, inf, all zeros) naming its place in the stream, so n never counts a row that added nothing
        c = unit_rows(chunk, dtype=np.float32, offset=self.n)
        self._S += (c.T @ c).astype(np.float64)
        self.n += c.shape[0]

    def score(self, q: float = 1.0) -> float:
        if self.n == 0:
            raise ValueError("no rows")
        return entropy_score(np.linalg.eigvalsh(self._S / self.n), q)


def streaming_vendi(chunks: Iterable[np.ndarray], dim: int, q: float = 1.0) -> tuple[float, int]:
    """(score, n) of all rows in chunks."""
    acc = StreamingVendi(dim)
    for chunk in chunks:
        acc.add(chunk)
    return acc.score(q), acc.n


# ---- baseline metrics, shown beside G-Vendi ----------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    import re

    return re.findall(r"\w+|[^\w\s]", text.lower())


def distinct_n(texts: Iterable[str], n: int = 1) -> float:
    """Unique n-grams / all n-grams over the whole set (Li et al. 2016); 0 when there are none."""
    total, unique = 0, set()
    for text in texts:
        toks = _tokens(text)
        grams = list(zip(*(toks[i:] for i in range(n))))
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def compression_ratio(texts: Iterable[str]) -> float:
    """Raw bytes / gzip-compressed bytes of the concatenated texts: higher = more repetitive, less diverse."""
    import gzip

    raw = "\n".join(texts).encode("utf-8")
    return len(raw) / len(gzip.compress(raw, compresslevel=9)) if raw else 0.0


def embedding_vendi(texts: list[str]) -> float:
    """Vendi score of text embeddings: the usual semantic-diversity baseline."""
    from core.features.embeddings import embed_texts

    return vendi_score(embed_texts(texts))
