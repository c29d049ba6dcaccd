"""The 1M path never widens the features to float64 (nor copies them whole): clustering, the kNN density, mass, the
layout (PCA, UMAP, placement), dedup and cluster contributions, run on features held as the 1M path holds them
(float16 unit rows, neighbours.half_rows), with the chunk sizes turned down so a whole-matrix copy stands out.

Two checks: tracemalloc's peak (numpy's buffers are traced; the float16 rows live in faiss's memory, so they are not)
stays under a fraction of one float32 copy of the features, where a float64 copy would be twice that copy; and every
array handed to faiss, PCA or UMAP is float32 (faiss's Python wrappers would silently convert a float64 or float16
array, a whole copy)."""
import functools
import tracemalloc

import faiss
import numpy as np
import pytest

import core.analysis.clusters as clusters
import core.analysis.curves as curves
import core.analysis.dedup as dedup
import core.analysis.diversity as diversity
import core.analysis.layout as layout
import core.analysis.neighbours as nb
import core.analysis.sparsity as sparsity
from core.analysis.clusters import ClusterConfig, cluster
from core.analysis.layout import MapConfig, fit_layout

N, D, CHUNK = 24_000, 384, 2048  # N is past sparsity.EXACT_KNN_MAX: the approximate density, as at 1M


def features() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, D), dtype=np.float32)

    def chunks():
        for start in range(0, N, 4000):
            r = np.random.default_rng([0, start])
            c = r.integers(0, 40, 4000)
            yield centres[c] + r.standard_normal((4000, D), dtype=np.float32)
    X = nb.fill_half_rows(chunks(), N, D)
    assert X.dtype == np.float16 and nb.half_index(X) is not None
    return X


@pytest.fixture()
def small_chunks(monkeypatch):
    """Every chunked pass at CHUNK rows, samples small: what stays is what does not scale with the chunks."""
    monkeypatch.setattr(nb, "CHUNK", CHUNK)
    monkeypatch.setattr(nb, "CELL_SAMPLE", 16)
    monkeypatch.setattr(sparsity, "MASS_CHUNK", CHUNK)
    monkeypatch.setattr(layout, "PLACE_CHUNK", CHUNK)
    monkeypatch.setattr(clusters, "assign", functools.partial(clusters.assign, chunk=CHUNK))
    monkeypatch.setattr(diversity, "IN_MEMORY_MAX_ELEMENTS", CHUNK * D)  # vendi_score streams, as at 1M
    monkeypatch.setattr(dedup, "EXACT_MAX", 1000)  # dedup's approximate path, as past 100k rows


@pytest.fixture()
def dtypes(monkeypatch):
    """The dtype of every 2-D array handed to faiss (train, add, search), PCA and UMAP."""
    seen: list[tuple[str, np.dtype]] = []

    def spy(name, fn):
        @functools.wraps(fn)
        def run(self, x, *a, **k):
            if isinstance(x, np.ndarray) and x.ndim == 2:
                seen.append((name, x.dtype))
            return fn(self, x, *a, **k)
        return run

    for cls in (faiss.IndexRefine, faiss.IndexIVFPQFastScan, faiss.IndexFlatIP, faiss.IndexScalarQuantizer,
                faiss.IndexIVFFlat, faiss.Kmeans):
        for method in ("train", "add", "search"):
            if hasattr(cls, method):
                monkeypatch.setattr(cls, method, spy(f"{cls.__name__}.{method}", getattr(cls, method)))
    from sklearn.decomposition import PCA

    monkeypatch.setattr(PCA, "fit", spy("PCA.fit", PCA.fit))

    def fake_umap(Z, config=MapConfig()):  # UMAP's numba warm-up costs ~20 s: its input is what is checked here
        seen.append(("fit_umap", Z.dtype))
        return np.ascontiguousarray(Z[:, :2], dtype=np.float32)
    monkeypatch.setattr(layout, "fit_umap", fake_umap)
    return seen


def traced_peak(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_map_and_dedup_keep_the_features_float32_and_never_copy_them_whole(small_chunks, dtypes):
    X = features()
    float32_copy = N * D * 4

    def work():
        c = cluster(X, ClusterConfig(k=8))
        xy, layout, fitted = fit_layout(X, MapConfig(fit_max_rows=2000))
        d = dedup.find_duplicates(X, 0.85)
        return c, xy, fitted, d
    (c, xy, fitted, d), peak = traced_peak(work)
    assert c.density.shape == (N,) and np.isfinite(c.density).all() and fitted == 2000 and xy.shape == (N, 2)
    assert not d.exact and d.max_similarity.shape == (N,)
    # a float64 copy of the features would be 2x float32_copy, a float32 one 1x: neither fits under 0.6x
    assert peak < 0.6 * float32_copy, f"peak {peak / 2**20:.1f} MiB, one float32 copy is {float32_copy / 2**20:.1f}"
    bad = sorted({(name, str(dt)) for name, dt in dtypes if dt != np.float32})
    assert not bad, f"arrays that were not float32: {bad}"
    assert {name for name, _ in dtypes} >= {"IndexRefine.search", "IndexIVFPQFastScan.add", "Kmeans.train",
                                            "PCA.fit", "fit_umap"}


def test_a_planted_float64_widening_is_caught(small_chunks, dtypes, monkeypatch):
    """The check above fails on the bug it is for: knn_density widening the features to float64 first."""
    X = features()
    real = sparsity.knn_density

    def widening(X, *a, **k):
        return real(X.astype(np.float64), *a, **k)
    monkeypatch.setattr(clusters, "knn_density", widening)
    _, peak = traced_peak(lambda: cluster(X, ClusterConfig(k=8)))
    assert peak >= 0.6 * N * D * 4


def test_cluster_contributions_make_no_float64_copy(small_chunks):
    """Contributions (curves.py) hold one float32 unit copy of the features, and vendi_score widens one 50k-row
    chunk (here every row) to float32 beside it: 2x one float32 copy. A float64 copy of the features (2x on its own)
    on top of either takes it past 2.5x."""
    X = features()
    labels = np.arange(N) % 8

    out, peak = traced_peak(lambda: curves.cluster_contributions(X, labels, 8))
    assert out.shape == (8,) and np.isfinite(out).all()
    assert peak < 2.5 * N * D * 4, f"peak {peak / 2**20:.1f} MiB"
