"""Scaling rows to length 1: the one row normalisation of the code (features, analysis, layout), one policy for bad rows.

The policy: a row holding NaN or an infinite value, or a row that is all zeros (it has no direction), is never scaled,
dropped or zeroed silently: unit_rows raises a ValueError that says how many rows are bad and names the first. A zero
feature or a zero PCA coordinate would otherwise turn into a wrong score or a wrong position far from where the bug is.
Huge and tiny rows are fine (their direction survives). It lives in core/features so that the featurisers, the Ray
engine and core/analysis can all import it (core/features never imports core/analysis).
"""
from __future__ import annotations

import numpy as np

UNIT_CHUNK = 65_536  # rows per pass of unit_rows (bounded float64 temporaries whatever n is)


def unit_rows(X: np.ndarray, *, dtype=np.float32, ids=None, offset: int = 0, what: str = "feature") -> np.ndarray:
    """The rows of X scaled to length 1, as `dtype`: every row-normalisation of the code goes through here.

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
