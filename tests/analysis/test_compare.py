"""Comparing datasets at a common n, from cached features: curves, baselines on equal-size subsamples, a shared map."""
import numpy as np
import pytest

from core.analysis import compare as cmp
from core.analysis.clusters import ClusterConfig
from core.analysis.curves import diversity_curve
from core.analysis.diversity import vendi_score
from core.analysis.gradient_map import build_map, seed_layout
from core.analysis.layout import MapConfig
from core.config import FeatureConfig
from core.data.ingest import IngestReport, Sample, content_hash

DIM = 32
CFG = FeatureConfig(model="m", model_revision="r", dim=DIM)


def add_dataset(store, name, texts, X):
    samples = [Sample(f"{name}-{i}", p, r, content_hash(p, r), {"src": name}) for i, (p, r) in enumerate(texts)]
    store.save_dataset(name, IngestReport(samples, [], [], "test"), source="test")
    store.register_config(CFG)
    if len(X):  # else the rows share content (and so features) with a dataset added before
        store.write_features(CFG, [s.content_hash for s in samples], np.asarray(X, np.float32))
    return samples


def groups(n_groups, per_group, seed, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, DIM))
    return np.concatenate([c + spread * rng.normal(size=(per_group, DIM)) for c in centres])


@pytest.fixture()
def two(store):
    """'wide': 60 rows over 12 directions; 'narrow': 30 rows over 2 directions (same text style)."""
    wide = add_dataset(store, "wide", [(f"wide problem {i} about apples", f"answer {i}") for i in range(60)],
                       groups(12, 5, seed=1))
    narrow = add_dataset(store, "narrow", [(f"narrow problem {i} about pears", f"answer {i}") for i in range(30)],
                         groups(2, 15, seed=2))
    return wide, narrow


def test_the_cached_curve_is_the_diversity_curve_and_is_read_back_not_recomputed(store, two, monkeypatch):
    c1 = cmp.cached_curve(store, "wide", CFG.key(), DIM)
    _, X = store.load_features("wide", CFG.key(), DIM)
    direct = diversity_curve(X)
    assert c1.sizes == direct.sizes and np.allclose(c1.mean, direct.mean)
    assert abs(c1.mean[-1] - vendi_score(X)) < 1e-6 * c1.mean[-1]
    monkeypatch.setattr(cmp, "diversity_curve", lambda *a, **k: pytest.fail("recomputed"))
    assert cmp.cached_curve(store, "wide", CFG.key(), DIM) == c1
    assert cmp.peek_curve(store, "narrow", CFG.key(), DIM) is None  # peek never computes


def test_an_edit_of_the_dataset_misses_the_cached_curve(store, two):
    before = cmp.cached_curve(store, "narrow", CFG.key(), DIM)
    texts = [(f"narrow problem {i} about pears", f"answer {i}") for i in range(29)] + [("changed", "row")]
    samples = [Sample(f"narrow-{i}", p, r, content_hash(p, r), {}) for i, (p, r) in enumerate(texts)]
    store.save_dataset("narrow", IngestReport(samples, [], [], "test"), source="test", replace=True)
    store.write_features(CFG, [samples[-1].content_hash], np.ones((1, DIM), np.float32))
    assert cmp.peek_curve(store, "narrow", CFG.key(), DIM) is None
    after = cmp.cached_curve(store, "narrow", CFG.key(), DIM)
    assert after.mean[-1] != before.mean[-1]


def test_compare_scores_every_dataset_at_the_smallest_n(store, two):
    out = cmp.compare(store, ["wide", "narrow"], CFG.key(), DIM, with_map=False)
    assert out.common_n == 30
    wide, narrow = out.scores
    assert (wide.n, narrow.n) == (60, 30)
    assert narrow.g_vendi_common == pytest.approx(narrow.g_vendi)  # the smallest is read at its own n
    assert wide.g_vendi_common < wide.g_vendi  # the larger one is read lower on its curve, at n = 30
    assert wide.g_vendi_common == pytest.approx(out.curves["wide"].at(30))
    assert wide.g_vendi_common > narrow.g_vendi_common  # 12 directions beat 2 at equal n
    for s in out.scores:
        assert set(s.baselines) >= {"distinct_1", "distinct_2", "compression_ratio"}


def test_baselines_at_n_use_exactly_n_rows_and_embedding_vendi_only_when_cached(store, two):
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY

    ids = cmp.subsample_ids(store, "wide", 30)
    assert len(ids) == 30 == len(set(ids)) and ids == cmp.subsample_ids(store, "wide", 30)
    first = cmp.baselines_at(store, "wide", 30)
    assert "embedding_vendi" not in first
    hashes = [s.content_hash for s in store.samples("wide")]
    store.write_vectors(EMBEDDING_KEY, EMBEDDING_DIM, hashes,
                        np.random.default_rng(0).normal(size=(60, EMBEDDING_DIM)).astype(np.float32))
    again = cmp.baselines_at(store, "wide", 30)  # the embeddings arrived: no longer served without them
    assert again["embedding_vendi"] > 1 and again["distinct_1"] == first["distinct_1"]


def test_compare_refuses_one_or_six_datasets_and_names_datasets_without_features(store, two):
    with pytest.raises(ValueError):
        cmp.compare(store, ["wide"], CFG.key(), DIM)
    samples = [Sample("x-0", "p", "r", content_hash("p", "r"), {})]
    store.save_dataset("bare", IngestReport(samples, [], [], "test"), source="test")
    ok, why = cmp.comparable(store, ["wide", "narrow", "bare"], CFG.key(), DIM)
    assert ok == ["wide", "narrow"] and "analyse it first" in why["bare"]


def test_reference_map_keeps_the_references_positions_and_shares_positions_of_shared_rows(store, two):
    wide, _ = two
    # a grown export: the narrow rows plus 10 rows of `wide` (same content: the same features)
    grown = add_dataset(store, "grown", [(s.prompt, s.response) for s in store.samples("narrow")] +
                        [(s.prompt, s.response) for s in wide[:10]], np.zeros((0, DIM)))
    assert store.feature_coverage("grown", CFG.key(), DIM) == 40
    ids, X = store.load_features("wide", CFG.key(), DIM)
    seed_layout(store, "wide", CFG.key(), DIM, np.random.default_rng(0).normal(size=(len(ids), 2)))
    ref = build_map(store, "wide", CFG.key(), DIM, cluster_config=ClusterConfig(k=4), map_config=MapConfig())
    shared = cmp.shared_map(store, ["wide", "narrow", "grown"], CFG.key(), DIM, method="reference")
    assert shared.reference == "wide" and len(shared.ids) == 60 + 30 + 40
    np.testing.assert_allclose(shared.of("wide"), ref.xy)
    np.testing.assert_allclose(shared.of("grown")[30:], ref.xy[:10])  # wide's rows inside the export: same place
    np.testing.assert_allclose(shared.of("grown")[:30], shared.of("narrow"))
    again = cmp.shared_map(store, ["wide", "narrow", "grown"], CFG.key(), DIM, method="reference")
    np.testing.assert_array_equal(again.xy, shared.xy)
    assert again.ids == shared.ids and again.owner.tolist() == shared.owner.tolist()


def test_union_map_fits_the_distinct_rows_once_and_is_cached(store, two, monkeypatch):
    import core.analysis.layout as layout

    fitted = []

    def fake_umap(Z, config=MapConfig()):
        fitted.append(len(Z))
        return np.asarray(Z[:, :2], np.float32)

    monkeypatch.setattr(layout, "fit_umap", fake_umap)
    add_dataset(store, "copy", [(f"narrow problem {i} about pears", f"answer {i}") for i in range(30)],
                np.zeros((0, DIM)))  # the same rows as narrow
    shared = cmp.shared_map(store, ["wide", "narrow", "copy"], CFG.key(), DIM)
    assert fitted == [90]  # 60 + 30 distinct rows; copy's rows are narrow's
    np.testing.assert_allclose(shared.of("copy"), shared.of("narrow"))
    cmp.shared_map(store, ["wide", "narrow", "copy"], CFG.key(), DIM)
    assert fitted == [90]  # read back


def test_contributions_are_cached_per_map(store, two, monkeypatch):
    ids, _ = store.load_features("wide", CFG.key(), DIM)
    seed_layout(store, "wide", CFG.key(), DIM, np.zeros((len(ids), 2)))
    gmap = build_map(store, "wide", CFG.key(), DIM, cluster_config=ClusterConfig(k=6))
    assert cmp.peek_contributions(store, gmap.key) is None
    out = cmp.cached_contributions(store, gmap, DIM)
    assert out.shape == (6,) and np.isfinite(out).all()
    monkeypatch.setattr(cmp, "cluster_contributions", lambda *a, **k: pytest.fail("recomputed"))
    np.testing.assert_allclose(cmp.cached_contributions(store, gmap, DIM), out)
