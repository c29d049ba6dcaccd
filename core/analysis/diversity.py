"""Diversity metrics: G-Vendi (Vendi score of unit gradient features) and its streaming form."""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np


UNIT_CHUNK = 65_536  # rows per pass of unit_rows (bounded float64 temporaries whatever n is)


def unit_rows(X: np.ndarray, *, dtype=np.float32, ids=None, offset: int = 0, what: str = "feature") -> np.ndarray:
    """The rows of X scaled to length 1, as `dtype`: every row-normalisation of the analysis goes through here.

    Safe at any scale: a row whose norm would overflow (1e20 in float32: its square is inf) or underflow is first
    scaled by its largest |value| in float64, so its direction survives. One policy for bad rows: a row holding NaN
    or an infinite value, or one that is all zeros (no direction), is a ValueError naming how many rows are bad and
    the first of them (row number + offset, and its id when `ids` is given); nothing is silently dropped or zeroed.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} rows must form a 2-D matrix, got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        kind = "complex" if X.dtype.kind == "c" else str(X.dtype)
        raise ValueError(f"{what} rows must be real numbers, not {kind} values")
    out = np.empty(X.shape, dtype=dtype)
    tiny = float(np.sqrt(np.finfo(dtype).tiny)) * 2.0 ** 10  # below this a sum of squares has lost precision
    nonfinite: list[int] = []
    zero: list[int] = []
    for start in range(0, X.shape[0], UNIT_CHUNK):
        raw = X[start:start + UNIT_CHUNK]
        c = out[start:start + UNIT_CHUNK]
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            c[...] = raw
            norms = np.sqrt(np.einsum("ij,ij->i", c, c))
        fine = np.isfinite(norms) & (norms > tiny)
        c /= np.where(fine, norms, 1.0)[:, None].astype(dtype, copy=False)
        redo = np.flatnonzero(~fine)
        if redo.size:  # overflowed, underflowed, non-finite or zero: look at the row itself, in float64
            r = np.asarray(raw[redo], dtype=np.float64)
            finite = np.isfinite(r).all(axis=1)
            top = np.abs(np.where(finite[:, None], r, 0.0)).max(axis=1, initial=0.0)
            ok = finite & (top > 0)
            y = r[ok] / top[ok, None]
            c[redo[ok]] = y / np.linalg.norm(y, axis=1, keepdims=True)
            nonfinite += (start + redo[~finite]).tolist()
            zero += (start + redo[finite & (top == 0)]).tolist()
    if nonfinite or zero:
        def first(rows: list[int]) -> str:
            i = rows[0]
            return f"row {i + offset}" + (f" (id {ids[i]!r})" if ids is not None else "")

        parts = []
        if nonfinite:
            parts.append(f"{len(nonfinite)} row(s) hold NaN or infinite values (first: {first(nonfinite)})")
        if zero:
            parts.append(f"{len(zero)} row(s) are all zeros, with no direction (first: {first(zero)})")
        raise ValueError(f"{what} vectors must be finite and non-zero: " + "; ".join(parts))
    return out


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
