"""Budgeted selection: K distinct rows, deterministic, and more diverse than random K where clusters are uneven."""
import numpy as np

from core.analysis.selection import cluster_balanced, greedy, select


def uneven_clusters(seed=0, d=64):
    rng = np.random.default_rng(seed)
    sizes = [600, 250, 80, 40, 20, 10]
    centres = rng.normal(size=(len(sizes), d))
    X = np.concatenate([c + 0.5 * rng.normal(size=(n, d)) for c, n in zip(centres, sizes)]).astype(np.float32)
    return X, np.repeat(np.arange(len(sizes)), sizes)


def test_select_returns_k_distinct_rows_deterministically_and_beats_random():
    X, truth = uneven_clusters()
    a, b = select(X, 50, seed=3), select(X, 50, seed=3)
    for m in ("greedy", "random", "balanced"):
        assert len(a[m].indices) == len(set(a[m].indices)) == 50
        assert a[m].indices == b[m].indices
    assert a["greedy"].g_vendi > a["random"].g_vendi
    assert len(set(truth[a["greedy"].indices])) == 6  # every cluster is represented


def test_greedy_with_a_seed_set_adds_what_the_seed_lacks():
    X, truth = uneven_clusters()
    seed_rows = X[truth == 0][:100]  # the seed covers the big cluster only
    picks = greedy(X, 20, seed_X=seed_rows)
    assert (truth[picks] != 0).mean() > 0.8


def test_cluster_balanced_goes_round_robin_sparse_first():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 5)
    sparse = np.array([False, True, True])
    picks = cluster_balanced(labels, sparse, 6)
    assert [labels[i] for i in picks[:3]] == [1, 2, 0] and len(set(picks)) == 6
