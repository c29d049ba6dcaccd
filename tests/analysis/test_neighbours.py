"""The approximate neighbour engine (neighbours.py) behind the kNN density and dedup past their exact sizes, on
small constructed data: the float16 storage is the refine index's own memory, the similarities it returns are exact
cosines of the rows it returns, it finds what exact search finds on clustered rows, a row is never its own
neighbour while its exact copy is, and dedup's approximate path groups planted copies."""
import numpy as np
import pytest

import core.analysis.dedup as dedup
import core.analysis.neighbours as nb


def clustered(n=6000, d=64, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((60, d)).astype(np.float32)
    X = centres[rng.integers(0, 60, n)] + 0.6 * rng.standard_normal((n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def exact_knn(X, k):
    S = X @ X.T
    np.fill_diagonal(S, -np.inf)
    idx = np.argsort(-S, axis=1)[:, :k]
    return np.take_along_axis(S, idx, axis=1), idx


def test_half_rows_are_the_refine_index_and_unit():
    X = clustered(1000, 32) * 7.0  # any scale: stored as unit rows
    H = nb.fill_half_rows((X[s:s + 300] for s in range(0, 1000, 300)), 1000, 32)
    assert H.dtype == np.float16 and H.shape == (1000, 32)
    np.testing.assert_allclose(np.linalg.norm(H.astype(np.float32), axis=1), 1.0, atol=2e-3)
    index = nb.half_index(H)
    assert index is not None and index.ntotal == 1000
    assert nb.half_index(H[:10]) is None and nb.half_index(H.astype(np.float16)) is None  # not the index's rows
    np.testing.assert_array_equal(index.reconstruct_n(0, 5), H[:5].astype(np.float32))
    with pytest.raises(ValueError):
        nb.fill_half_rows(iter([X[:10]]), 11, 32)


@pytest.mark.parametrize("half", [False, True])
def test_knn_returns_exact_cosines_and_finds_what_exact_search_finds(half):
    X = clustered()
    data = nb.fill_half_rows(iter([X]), len(X), X.shape[1]) if half else X
    sims, idx = nb.knn(data, 10)
    assert sims.shape == idx.shape == (len(X), 10) and (idx >= 0).all()
    assert not (idx == np.arange(len(X))[:, None]).any()  # never itself
    true = np.einsum("nd,nkd->nk", X, X[idx])
    np.testing.assert_allclose(sims, true, atol=3e-3)  # exact similarities (float16 rows: within ~1e-3)
    assert (np.diff(sims, axis=1) <= 1e-6).all()
    ex_sims, ex_idx = exact_knn(X, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, ex_idx)])
    assert recall > 0.9
    density = nb.knn_density(data, 10)
    assert np.corrcoef(np.argsort(np.argsort(density)), np.argsort(np.argsort(ex_sims.mean(axis=1))))[0, 1] > 0.97


def test_an_exact_copy_is_a_neighbour_and_query_rows_search_the_rows():
    X = clustered(3000, 48)
    X = np.concatenate([X, X[:5]])  # rows 3000..3004 are exact copies of rows 0..4
    sims, idx = nb.knn(X, 5)
    for i in range(5):
        assert idx[i, 0] == 3000 + i and idx[3000 + i, 0] == i
        assert sims[i, 0] == pytest.approx(1.0, abs=1e-3)  # the re-ranking reads float16 rows
    q_sims, q_idx = nb.knn(X, 3, query=X[10:12])  # a query row finds itself: it is not one of the rows
    assert q_idx[:, 0].tolist() == [10, 11] and q_sims.shape == (2, 3)


def test_dedup_past_its_exact_size_groups_planted_copies(monkeypatch):
    X = clustered(4000, 64, seed=3)
    rng = np.random.default_rng(4)
    src = rng.choice(4000, 40, replace=False)
    copies = X[src] + 0.15 * rng.standard_normal((40, 64)).astype(np.float32) / 8  # cosine ~0.99
    monkeypatch.setattr(dedup, "EXACT_MAX", 1000)
    result = dedup.find_duplicates(np.concatenate([X, copies]), 0.95)
    assert not result.exact
    label = np.arange(4040)
    for g, rows in enumerate(result.groups):
        label[rows] = 5000 + g
    assert all(label[s] == label[4000 + i] for i, s in enumerate(src))
    assert result.flagged.sum() == 40
