"""The map: cached in DuckDB + artifacts (a second build is a read), keyed by content, new points placed on it."""
import numpy as np

from core.analysis.clusters import ClusterConfig
from core.config import FeatureConfig
from core.data.ingest import ingest_file
from core.analysis.cache import find_cached_map, load_map
from core.analysis.gradient_map import build_map
from core.analysis.layout import MapConfig
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
    assert any(s.startswith("fitting UMAP") for s in stages) and m1.xy.shape == (24, 2) and m1.k == 4
    assert np.isfinite(m1.xy).all()

    import core.analysis.gradient_map as gm
    import core.analysis.layout as layout

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(layout, "fit_umap", boom)
    monkeypatch.setattr(gm, "cluster", boom)
    m2 = build_map(store, "mix", cfg.key(), 64, cluster_config=ClusterConfig(k=4))
    assert m2.key == m1.key and m2.ids == m1.ids
    np.testing.assert_array_equal(m2.labels, m1.labels)
    np.testing.assert_allclose(m2.xy, m1.xy)
    monkeypatch.undo()

    # another rule re-clusters but reuses the layout
    monkeypatch.setattr(gm, "fit_layout", boom)
    m3 = build_map(store, "mix", cfg.key(), 64, cluster_config=ClusterConfig(k=4, rule="density"))
    np.testing.assert_allclose(m3.xy, m1.xy)
    assert m3.key != m1.key and m3.sparse_rows.sum() == 12
    monkeypatch.undo()

    # new points land on the same map, inside the group they belong to
    samples = {s.id: s.content_hash for s in store.samples("mix")}
    map_blob = np.array([blob_of[samples[i]] for i in m1.ids])
    new = (centres + 0.2 * rng.normal(size=(3, 64))).astype(np.float32)
    placed = m2.layout.place(new)
    assert placed.shape == (3, 2)
    nearest = np.argmin(np.linalg.norm(m1.xy[None, :, :] - placed[:, None, :], axis=2), axis=1)
    assert map_blob[nearest].tolist() == [0, 1, 2]

    out = m1.to_json()
    assert out["n"] == 24 and len(out["rows"]) == 24 and set(out["rows"][0]) >= {"id", "cluster", "sparse", "x", "y"}


def make_mix(store, dim=32, seed=0):
    store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    cfg = FeatureConfig(model="m", model_revision="r", dim=dim)
    hashes = store.missing_feature_hashes("mix", cfg)
    X = np.random.default_rng(seed).normal(size=(len(hashes), dim)).astype(np.float32)
    store.write_features(cfg, hashes, X)
    return cfg


def test_an_edit_anywhere_misses_the_cache_and_a_replace_drops_old_scores(store, tmp_path):
    """Keys follow every row: editing one row (the last one, which a sampled fingerprint would skip) or replacing
    the dataset never serves the old map or score."""
    import json

    from core.data.datasets import ingest

    cfg = make_mix(store)
    m1 = build_map(store, "mix", cfg.key(), 32, cluster_config=ClusterConfig(k=3))
    store.save_score("mix", cfg.key(), "g_vendi", 5.0, 24)
    assert find_cached_map(store, "mix", cfg.key(), 32, ClusterConfig(k=3), MapConfig()) is not None
    rows = [json.loads(l) for l in (DATA / "mixture_24.jsonl").read_text().splitlines()]
    rows[-1]["answer"] += " (edited)"
    edited = tmp_path / "mixture_24.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(store, edited, name="mix", replace=True)
    assert store.get_score("mix", cfg.key(), "g_vendi") is None
    assert store.scores_for("mix") == []
    assert find_cached_map(store, "mix", cfg.key(), 32, ClusterConfig(k=3), MapConfig()) is None
    store.write_features(cfg, store.missing_feature_hashes("mix", cfg), np.ones((1, 32), np.float32))
    m2 = build_map(store, "mix", cfg.key(), 32, cluster_config=ClusterConfig(k=3))
    assert m2.key != m1.key


def test_a_crafted_artifact_is_refused_not_loaded(store):
    """The map's arrays are checked against the sha256 recorded in DuckDB before they are read (and never
    unpickled): a file swapped in the workspace means 'no cached map', and a rebuild."""
    cfg = make_mix(store)
    m1 = build_map(store, "mix", cfg.key(), 32, cluster_config=ClusterConfig(k=3))
    meta = store.cache_get(f"map:{m1.key}")
    path = store.path.parent / "artifacts" / f"layout-{meta['layout_key']}.npz"
    import pickle

    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))

    path.write_bytes(pickle.dumps(Evil()))
    assert load_map(store, m1.key) is None
    assert all(p.suffix == ".npz" for p in (store.path.parent / "artifacts").iterdir())


def test_label_values_holding_html_are_escaped_in_the_legend():
    import pandas as pd

    from core.plots import map_figure

    frame = pd.DataFrame({"id": ["a", "b"], "prompt": ["p", "q"], "src": ['<a href="http://x">click</a>', "plain"]})
    fig = map_figure(frame, np.array([0, 1]), np.array([False, True]), np.zeros((2, 2)), color_by="src")
    names = [t.name for t in fig.data]
    assert not any("<a" in n for n in names) and any("&lt;a href" in n for n in names)


def test_past_half_rows_the_map_streams_its_features_into_float16_unit_rows(store, monkeypatch):
    """A large dataset's map reads its features a chunk of ordinals at a time into float16 unit rows (the 1M path):
    the same ids in the same order as load_features, the same directions, and the map builds on them."""
    import core.analysis.neighbours as nb
    from core.analysis.gradient_map import load_map_features

    cfg = make_mix(store)
    monkeypatch.setattr(nb, "HALF_ROWS", 10)
    monkeypatch.setattr(nb, "CHUNK", 7)  # ordinal ranges that split the 24 rows unevenly
    ids, X = load_map_features(store, "mix", cfg.key(), 32)
    ref_ids, ref = store.load_features("mix", cfg.key(), 32)
    assert ids == ref_ids and X.dtype == np.float16 and nb.half_index(X) is not None
    unit = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(X.astype(np.float32), unit, atol=1e-3)
    m = build_map(store, "mix", cfg.key(), 32, cluster_config=ClusterConfig(k=3))
    assert m.ids == ref_ids and m.xy.shape == (24, 2) and np.isfinite(m.density).all()
