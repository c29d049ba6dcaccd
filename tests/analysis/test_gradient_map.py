"""The map: cached in DuckDB + artifacts (a second build is a read), new points placed with transform()."""
import numpy as np

from core.analysis.clusters import ClusterConfig
from core.config import FeatureConfig
from core.data.ingest import ingest_file
from core.analysis.gradient_map import build_map, load_reducer, transform_points
from tests.conftest import DATA


def test_map_is_cached_and_reusable(store, monkeypatch):
    store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    cfg = FeatureConfig(model="m", model_revision="r", dim=64)
    hashes = store.missing_feature_hashes("mix", cfg)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 64))
    blob = np.repeat(np.arange(3), 8)  # three groups of 8: a map with structure to place new points on
    X = (centres[blob] + 0.2 * rng.normal(size=(24, 64))).astype(np.float32)
    store.write_features(cfg, hashes, X)
    blob_of = dict(zip(hashes, blob))
    stages = []
    m1 = build_map(store, "mix", cfg.key(), 64, cluster_config=ClusterConfig(k=4), stage=lambda s, f: stages.append(s))
    assert "fitting UMAP" in stages and m1.xy.shape == (24, 2) and m1.k == 4
    assert np.isfinite(m1.xy).all()

    import core.analysis.gradient_map as gm

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(gm, "fit_umap", boom)
    monkeypatch.setattr(gm, "cluster", boom)
    m2 = build_map(store, "mix", cfg.key(), 64, cluster_config=ClusterConfig(k=4))
    assert m2.key == m1.key and m2.ids == m1.ids
    np.testing.assert_array_equal(m2.labels, m1.labels)
    np.testing.assert_allclose(m2.xy, m1.xy)
    monkeypatch.undo()

    # another rule re-clusters but reuses the layout
    monkeypatch.setattr(gm, "fit_umap", boom)
    m3 = build_map(store, "mix", cfg.key(), 64, cluster_config=ClusterConfig(k=4, rule="density"))
    np.testing.assert_allclose(m3.xy, m1.xy)
    assert m3.key != m1.key and m3.sparse_rows.sum() == 12
    monkeypatch.undo()

    # new points land on the same map, inside the group they belong to
    reducer = load_reducer(store, m1)
    samples = {s.id: s.content_hash for s in store.samples("mix")}
    map_blob = np.array([blob_of[samples[i]] for i in m1.ids])
    new = (centres + 0.2 * rng.normal(size=(3, 64))).astype(np.float32)
    placed = transform_points(reducer, new)
    assert placed.shape == (3, 2)
    nearest = np.argmin(np.linalg.norm(m1.xy[None, :, :] - placed[:, None, :], axis=2), axis=1)
    assert map_blob[nearest].tolist() == [0, 1, 2]

    out = m1.to_json()
    assert out["n"] == 24 and len(out["rows"]) == 24 and set(out["rows"][0]) >= {"id", "cluster", "sparse", "x", "y"}
