"""Spherical k-means: deterministic, sparse rules as specified, new points assigned to the nearest centroid."""
import numpy as np
import pytest

from core.analysis.clusters import ClusterConfig, assign, cluster, default_k
from core.analysis.sparsity import knn_density, paper_sparse


def blobs(sizes, d=32, spread=0.15, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), d))
    X = np.concatenate([c + spread * rng.normal(size=(n, d)) for c, n in zip(centres, sizes)])
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), truth, centres


def test_deterministic_for_a_seed():
    X, _, _ = blobs([40, 30, 20, 10])
    a, b = cluster(X, ClusterConfig(k=4, seed=3)), cluster(X, ClusterConfig(k=4, seed=3))
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.centroids, b.centroids)
    np.testing.assert_allclose(np.linalg.norm(a.centroids, axis=1), 1.0, rtol=1e-5)  # spherical


def test_recovers_blobs_and_paper_rule_marks_the_small_ones():
    X, truth, _ = blobs([50, 45, 12, 8])
    c = cluster(X, ClusterConfig(k=4, seed=0))
    # each found cluster is one true blob
    for k in range(4):
        assert len(set(truth[c.labels == k])) == 1
    assert sorted(c.sizes.tolist()) == [8, 12, 45, 50]
    sparse_truth = {int(truth[c.labels == k][0]) for k in np.flatnonzero(c.sparse_clusters)}
    assert sparse_truth == {2, 3}  # below the median size (28.5)
    np.testing.assert_array_equal(c.sparse_rows, c.sparse_clusters[c.labels])


def test_paper_rule_edge_cases():
    assert paper_sparse(np.array([5, 5, 5])).all()  # none below the median: all count as sparse
    assert paper_sparse(np.array([1, 5, 5, 9])).tolist() == [True, False, False, False]


def test_density_rule_flags_the_thin_half():
    X, truth, _ = blobs([60, 20], spread=0.1)
    rng = np.random.default_rng(1)
    outliers = rng.normal(size=(10, X.shape[1])).astype(np.float32)
    X = np.concatenate([X, outliers / np.linalg.norm(outliers, axis=1, keepdims=True)])
    dens = knn_density(X, 5)
    assert dens[80:].mean() < dens[:80].mean()  # isolated points are less dense
    c = cluster(X, ClusterConfig(k=3, rule="density", density_quantile=0.5))
    assert c.sparse_rows.sum() == 45  # the least dense half
    assert c.sparse_rows[80:].all()  # every outlier is flagged


def test_assign_new_points_to_existing_centroids():
    X, truth, centres = blobs([30, 30, 30])
    c = cluster(X, ClusterConfig(k=3))
    new = centres + 0.05 * np.random.default_rng(2).normal(size=centres.shape)
    got = c.assign(new)
    want = [c.labels[np.flatnonzero(truth == i)[0]] for i in range(3)]
    assert got.tolist() == want
    np.testing.assert_array_equal(assign(X, c.centroids), c.labels)


def test_default_k_is_n_over_10_bounded():
    assert default_k(300) == 30 and default_k(12) == 2 and default_k(100_000) == 1000
    with pytest.raises(ValueError):
        ClusterConfig(rule="nope")


def test_mass_rule_flags_a_small_group_alike_to_itself_and_never_a_block_of_copies():
    """A homogeneous minority (20 rows alike) is rare: mass flags it. A block of near-copies is redundant, not
    thin: mass never flags it (a size rule does: the copies make a small cluster)."""
    X, truth, _ = blobs([160, 20], spread=0.15, seed=3)
    rng = np.random.default_rng(4)
    copy = X[0] + 0.01 * rng.normal(size=(25, X.shape[1]))  # 25 near-copies of one majority row
    X = np.concatenate([X, copy / np.linalg.norm(copy, axis=1, keepdims=True)]).astype(np.float32)
    truth = np.concatenate([truth, np.full(25, 2)])
    mass = cluster(X, ClusterConfig(k=20, rule="mass"))
    assert mass.sparse_rows[truth == 1].mean() == 1.0
    assert mass.sparse_rows[truth == 2].mean() == 0.0
    assert mass.mass[truth == 1].max() < np.median(mass.mass[truth == 0])
    balanced, _, _ = blobs([60, 60, 60], spread=0.15, seed=5)
    assert not cluster(balanced, ClusterConfig(k=18, rule="mass")).sparse_rows.any()  # nothing is rare
    assert cluster(balanced, ClusterConfig(k=18, rule="paper")).sparse_rows.any()  # the size rule always flags


def test_gradient_mass_is_the_order_2_vendi_term():
    from core.analysis.diversity import vendi_score
    from core.analysis.sparsity import gradient_mass

    X, _, _ = blobs([30, 20, 5])
    m = gradient_mass(X)
    assert np.isclose(vendi_score(X, q=2), 1.0 / m.mean(), rtol=1e-4)
