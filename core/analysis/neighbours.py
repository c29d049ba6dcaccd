"""Nearest neighbours of unit feature rows at a million rows, in bounded memory: the engine behind the kNN density
(sparsity.knn_density) and near-duplicates (dedup.nearest_neighbours) past their exact sizes.

Storage. Past HALF_ROWS rows the features are held as unit rows in float16 (`half_rows`: 2 bytes a value, 2 GB at
1M x 1024 against 4 GB in float32, and never float64): cosines computed from them are within ~1e-3 of float32's.
Every computation reads them in float32 chunks. That array's memory belongs to a faiss fp16 scalar-quantizer index,
so the exact re-ranking below reads the same bytes: no second copy.

Search (`knn`; its callers use it past their exact sizes):
1. cells: spherical k-means on a seeded sample (nlist = sqrt(n) cells, 64 sample rows a cell, 10 iterations);
2. an inverted file of 4-bit product-quantised codes (faiss IndexIVFPQFastScan: 64 sub-quantisers, 32 bytes a row,
   32 MB at 1M rows) scanned with SIMD; each row looks in its `nprobe` nearest cells and keeps k_factor·(k+1)
   candidates;
3. the candidates are re-ranked by their exact cosine (the float16 rows, faiss IndexRefine): the similarities
   returned are exact, only the candidate list is approximate.
Agreement with exact search is measured in bench/cluster_map.py (kNN density: Spearman with the exact density on 50k
rows, and on a sample of the 1M rows against all 1M) and bench/dedup.py (planted copies at 1M against exact search).
"""
from __future__ import annotations

import contextlib
import ctypes
import time
from typing import Iterable, Iterator

import numpy as np

from core.features.unit import unit_rows

HALF_ROWS = 250_000  # past this many rows the map and dedup hold their features as float16 unit rows
CHUNK = 50_000  # rows per float32 chunk read from the storage
NPROBE = 8  # cells each row looks in (today's IVF used 8 too)
K_FACTOR = 4  # candidates kept per neighbour wanted, re-ranked exactly
PQ_SUBQUANTIZERS = 64  # 4-bit codes: 32 bytes a row at 1024 dims
CELL_SAMPLE = 64  # sample rows a cell for training the cells


# ---- float16 storage -------------------------------------------------------------------------------------------------

def half_rows(n: int, d: int) -> np.ndarray:
    """An (n, d) float16 array (zeros) whose memory is the code array of a faiss fp16 scalar-quantizer index over the
    same rows (QT_fp16 codes are IEEE half floats): fill it with unit rows (`fill_half_rows`), then `knn` re-ranks with
    that index instead of copying the rows. The array keeps the index alive."""
    import faiss

    index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    nbytes = n * d * 2
    index.codes.resize(nbytes)
    index.ntotal = n
    if nbytes == 0:
        return np.zeros((n, d), np.float16)
    address = faiss.rev_swig_ptr(index.codes.data(), nbytes).ctypes.data
    holder = (ctypes.c_char * nbytes).from_address(address)
    holder.faiss_index = index  # the array's base holds the index, so the memory lives as long as any view
    return np.frombuffer(holder, dtype=np.float16).reshape(n, d)


def fill_half_rows(chunks: Iterable[np.ndarray], n: int, d: int) -> np.ndarray:
    """Unit rows of the chunks (in order, n rows in all) as a `half_rows` array; one float32 chunk at a time."""
    out = half_rows(n, d)
    at = 0
    for chunk in chunks:
        if at + len(chunk) > n:
            raise ValueError(f"more than {n} rows")
        out[at:at + len(chunk)] = unit_rows(chunk, dtype=np.float32, offset=at)
        at += len(chunk)
    if at != n:
        raise ValueError(f"{at} rows for {n}")
    return out


def half_index(X: np.ndarray):
    """The fp16 index whose codes are exactly X (a whole `half_rows` array), else None."""
    base = X
    while base is not None:
        index = getattr(base, "faiss_index", None)
        if index is not None:
            ok = (X.dtype == np.float16 and X.flags.c_contiguous and X.shape == (index.ntotal, index.d)
                  and X.ctypes.data == ctypes.addressof(base))
            return index if ok else None
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    return None


def chunks_f32(X: np.ndarray, chunk: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(start, unit float32 rows) of X chunk by chunk (never the whole matrix widened at once)."""
    from core.analysis.sparsity import unit

    chunk = chunk or CHUNK
    for start in range(0, X.shape[0], chunk):
        yield start, unit(X[start:start + chunk])


# ---- search ----------------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _threads(n: int):
    """faiss on fewer threads for a while: small k-means (the product quantiser's 16-centroid ones) spin in OpenMP
    barriers when another job shares the cores (20x slower here with 2 threads under load than with 1)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _subquantizers(d: int) -> int:
    """The most sub-quantisers (at most PQ_SUBQUANTIZERS, an even number dividing d), 0 when none fits."""
    for m in range(min(PQ_SUBQUANTIZERS, d), 1, -1):
        if d % m == 0 and m % 2 == 0:
            return m
    return 0


def take_unit(X: np.ndarray, idx: np.ndarray, chunk: int | None = None) -> np.ndarray:
    """Unit float32 rows X[idx], gathered chunk by chunk (no float16 or float64 copy of the whole selection)."""
    chunk = chunk or CHUNK
    out = np.empty((len(idx), X.shape[1]), np.float32)
    for start in range(0, len(idx), chunk):
        out[start:start + chunk] = unit_rows(X[idx[start:start + chunk]], dtype=np.float32)
    return out


def _sample(X: np.ndarray, m: int, seed: int) -> np.ndarray:
    from core.analysis.sparsity import unit

    n = X.shape[0]
    if m >= n:
        return unit(X)
    return take_unit(X, np.sort(np.random.default_rng(seed).choice(n, m, replace=False)))


last_timings: dict[str, float] = {}  # seconds of the last knn's steps (bench/cluster_map.py reports them)


def build_index(X: np.ndarray, *, seed: int = 0, nprobe: int = NPROBE, k_factor: int = K_FACTOR):
    """The approximate index over X's rows (cells + 4-bit PQ codes, re-ranked on the float16 rows)."""
    import faiss

    clock = time.perf_counter()
    n, d = X.shape
    nlist = int(min(max(1, round(np.sqrt(n))), max(1, n // 40)))
    train = _sample(X, CELL_SAMPLE * nlist, seed)
    km = faiss.Kmeans(d, nlist, niter=10, spherical=True, seed=seed, verbose=False)
    km.cp.min_points_per_centroid = 1
    km.cp.max_points_per_centroid = CELL_SAMPLE
    km.train(train)
    last_timings["cells_s"] = time.perf_counter() - clock
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(unit_rows(km.centroids))
    m = _subquantizers(d)
    if m:
        base = faiss.IndexIVFPQFastScan(quantizer, d, nlist, m, 4, faiss.METRIC_INNER_PRODUCT)
        with _threads(1):
            base.train(train[:min(len(train), 16_384)])
    else:  # no product quantiser fits the dimension: scan the cells' float32 rows (slower, no re-ranking needed)
        base = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        base.train(train)
    base.referenced_objects = [quantizer]
    base.nprobe = min(nprobe, nlist)
    del train
    last_timings["codes_train_s"] = time.perf_counter() - clock - last_timings["cells_s"]
    clock = time.perf_counter()
    stored = half_index(X)
    if m:
        if stored is not None:  # the float16 rows are already the refine index's: only the codes to add
            refine = stored
            for _, c in chunks_f32(X):
                base.add(c)
            index = faiss.IndexRefine(base, refine)
        else:
            refine = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
            index = faiss.IndexRefine(base, refine)
            for _, c in chunks_f32(X):
                index.add(c)  # the codes and the float16 rows
        index.k_factor = float(k_factor)
        index.referenced_objects = [base, refine, X]  # faiss does not own them: keep them alive with the index
    else:
        index = base
        for _, c in chunks_f32(X):
            index.add(c)
    last_timings["add_s"] = time.perf_counter() - clock
    return index


def knn(X: np.ndarray, k: int, *, query: np.ndarray | None = None, seed: int = 0, nprobe: int = NPROBE,
        k_factor: int = K_FACTOR) -> tuple[np.ndarray, np.ndarray]:
    """(sims, idx), each (rows, k): every row's k nearest other rows by cosine (itself left out; an exact copy of it
    is a neighbour), or with `query`, those rows' k nearest rows of X. Approximate candidates, exact similarities."""
    n = X.shape[0]
    kk = int(min(k, n - (query is None)))
    rows = n if query is None else query.shape[0]
    if kk < 1:
        return np.zeros((rows, 0), np.float32), np.zeros((rows, 0), np.int64)
    index = build_index(X, seed=seed, nprobe=nprobe, k_factor=k_factor)
    sims = np.empty((rows, kk), np.float32)
    idx = np.empty((rows, kk), np.int64)
    want = kk + (query is None)
    clock = time.perf_counter()
    for start, c in chunks_f32(X if query is None else query):
        D, I = index.search(c, want)
        if query is None:
            D, I = drop_self(D, I, start)
        sims[start:start + len(c)], idx[start:start + len(c)] = D, I
    last_timings["search_s"] = time.perf_counter() - clock
    return sims, idx


def drop_self(D: np.ndarray, I: np.ndarray, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Leave each row's own hit out (usually the first, but an exact copy may tie with it and come first); a row
    whose own hit is not in its list loses its last one."""
    n, k1 = I.shape
    own = I == np.arange(start, start + n)[:, None]
    own[~own.any(axis=1), -1] = True
    own &= np.cumsum(own, axis=1) == 1  # only one hit per row goes
    keep = ~own
    return D[keep].reshape(n, k1 - 1), I[keep].reshape(n, k1 - 1)


def knn_density(X: np.ndarray, neighbours: int = 10, *, query: np.ndarray | None = None, seed: int = 0
                ) -> np.ndarray:
    """Mean cosine to the nearest `neighbours` rows (see sparsity.knn_density), from `knn`."""
    sims, idx = knn(X, neighbours, query=query, seed=seed)
    found = idx >= 0  # fewer than asked (a row alone in its cells): the mean of what was found
    total = np.where(found, sims, 0.0).sum(axis=1)
    return (total / np.maximum(found.sum(axis=1), 1)).astype(np.float32)
