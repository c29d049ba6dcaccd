"""cache.py: every derived result's key follows every input that changes the result (and nothing else), the
read-through computes once and then reads, and one unit_rows (one zero-row policy) serves every row normalisation."""
import dataclasses

import numpy as np
import pytest

from core.analysis import cache
from core.analysis.clusters import ClusterConfig
from core.analysis.compare import CurveSettings
from core.analysis.layout import MapConfig
from core.config import FeatureConfig, stable_hash
from core.data.ingest import IngestReport, Sample, content_hash
from core.features.unit import unit_rows

DIM = 8
CFG = FeatureConfig(model="m", model_revision="r", dim=DIM)
TEXTS = [(f"problem {i}", f"answer {i}") for i in range(6)]


def add_dataset(store, name, texts=TEXTS, features=True):
    samples = [Sample(f"r{i}", p, r, content_hash(p, r), {}) for i, (p, r) in enumerate(texts)]
    store.save_dataset(name, IngestReport(samples, [], [], "test"), source="test")
    store.register_config(CFG)
    if features:
        X = np.random.default_rng(0).normal(size=(len(samples), DIM)).astype(np.float32)
        store.write_features(CFG, [s.content_hash for s in samples], X)
    return samples


def changed(value):
    """Another value of the same kind (a setting changed by the user)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return 7
    raise TypeError(value)


def variants(config):
    """config with each field changed in turn (ClusterConfig's rule: another rule, since it is checked)."""
    for f in dataclasses.fields(config):
        value = "density" if f.name == "rule" else changed(getattr(config, f.name))
        yield f.name, dataclasses.replace(config, **{f.name: value})


def bumped(monkeypatch, kind):
    k = cache.KINDS[kind]
    monkeypatch.setitem(cache.KINDS, kind, dataclasses.replace(k, version=k.version + 1))


# ---- keys: every input changes the key, nothing else does ------------------------------------------------------------

def test_the_map_key_follows_every_input_and_the_version(monkeypatch):
    args = dict(dataset="d", config_key="f", content="fp:10", cc=ClusterConfig(), mc=MapConfig(), quality="q")
    base = cache.map_key(**args)
    assert cache.map_key(**args) == base and base.kind == "map" and len(base.digest) == 16
    keys = {base}
    for name in ("dataset", "config_key", "content", "quality"):
        keys.add(cache.map_key(**{**args, name: args[name] + "2"}))
    for name, cc in variants(ClusterConfig()):
        keys.add(cache.map_key(**{**args, "cc": cc}))
    for name, mc in variants(MapConfig()):
        keys.add(cache.map_key(**{**args, "mc": mc}))
    n_inputs = 4 + len(dataclasses.fields(ClusterConfig)) + len(dataclasses.fields(MapConfig))
    assert len(keys) == 1 + n_inputs  # each change gave a key of its own
    bumped(monkeypatch, "map")
    assert cache.map_key(**args) not in keys


def test_the_layout_key_follows_features_content_and_map_settings_but_not_the_cluster_settings(monkeypatch):
    base = cache.layout_key("f", "fp:10", MapConfig())
    others = [cache.layout_key("g", "fp:10", MapConfig()), cache.layout_key("f", "fp:11", MapConfig())]
    others += [cache.layout_key("f", "fp:10", mc) for _, mc in variants(MapConfig())]
    assert len({base, *others}) == 1 + len(others)  # each change gave a key of its own
    assert cache.layout_key("f", "fp:10", MapConfig()) == base  # no cluster setting can reach it
    bumped(monkeypatch, "layout")
    assert cache.layout_key("f", "fp:10", MapConfig()) != base


def test_keys_that_read_the_store_follow_the_content_the_coverage_and_the_quality_state(store, monkeypatch):
    add_dataset(store, "a")
    add_dataset(store, "same", features=False)  # the same content under another name
    add_dataset(store, "edited", TEXTS[:-1] + [("problem 5", "answer 5, edited")], features=False)
    cc, mc = ClusterConfig(), MapConfig()
    curve = cache.curve_key(store, "a", CFG.key(), DIM, CurveSettings())
    # content-addressed (ids and texts): a copy shares the curve; an edited last row does not
    assert cache.curve_key(store, "same", CFG.key(), DIM, CurveSettings()) == curve
    assert cache.curve_key(store, "edited", CFG.key(), DIM, CurveSettings()) != curve
    assert cache.curve_key(store, "a", "other", DIM, CurveSettings()) != curve
    for _, settings in variants(CurveSettings()):
        assert cache.curve_key(store, "a", CFG.key(), DIM, settings) != curve
    assert cache.content_part(store, "a", 6) == cache.content_part(store, "same", 6)
    assert cache.content_part(store, "a", 5) != cache.content_part(store, "a", 6)
    assert cache.content_part(store, "edited", 6) != cache.content_part(store, "a", 6)
    estimate = cache.estimate_key(store, "a", CFG.key())
    assert len({estimate, cache.estimate_key(store, "edited", CFG.key()), cache.estimate_key(store, "a", "g"),
                cache.estimate_key(store, "same", CFG.key())}) == 3  # a copy of the content times the same
    baselines = cache.baselines_key(store, "a", 5, 0)
    assert len({baselines, cache.baselines_key(store, "a", 4, 0), cache.baselines_key(store, "a", 5, 1),
                cache.baselines_key(store, "edited", 5, 0)}) == 4

    settings = cache.map_for_key(store, "a", CFG.key(), cc, mc)
    assert settings == cache.map_for_key(store, "a", CFG.key(), cc, mc)
    assert len({settings, cache.map_for_key(store, "same", CFG.key(), cc, mc),
                cache.map_for_key(store, "a", "g", cc, mc), cache.map_for_key(store, "a", CFG.key(), ClusterConfig(k=3), mc),
                cache.map_for_key(store, "a", CFG.key(), cc, MapConfig(seed=1))}) == 5
    store.mark("a", ["r1"], "tag", "ok")  # the quality state: an ok tag must not be served the map before it
    after_ok = cache.map_for_key(store, "a", CFG.key(), cc, mc)
    assert after_ok != settings
    store.mark("a", ["r2"], "exclude")  # the kept rows' fingerprint
    assert cache.map_for_key(store, "a", CFG.key(), cc, mc) != after_ok
    assert cache.curve_key(store, "a", CFG.key(), DIM, CurveSettings()) != curve
    for kind, make in [("curve", lambda: cache.curve_key(store, "same", CFG.key(), DIM, CurveSettings())),
                       ("map-for", lambda: cache.map_for_key(store, "same", CFG.key(), cc, mc)),
                       ("estimate", lambda: cache.estimate_key(store, "same", CFG.key())),
                       ("baselines-at", lambda: cache.baselines_key(store, "same", 5, 0))]:
        before = make()
        bumped(monkeypatch, kind)
        assert make() != before, kind


def test_every_kind_has_its_version_in_its_keys(monkeypatch):
    for kind in cache.KINDS:
        before = cache.key(kind, x=1)
        assert before == cache.key(kind, x=1) and before != cache.key(kind, x=2) and before.slot.startswith(kind + ":")
        bumped(monkeypatch, kind)
        assert cache.key(kind, x=1) != before, kind
    with pytest.raises(KeyError, match="unknown cache kind"):
        cache.key("maps", x=1)  # a misspelt kind is an error, not a silent miss
    with pytest.raises(ValueError):
        cache.key("map", v=1)


def test_map_layout_curve_and_quality_keys_are_the_ones_older_workspaces_hold():
    """Routing the keys through cache.py changed no digest of these kinds: a workspace's cached maps and layouts
    are still found (the formulas are the ones gradient_map.py, compare.py and quality.py used to spell)."""
    cc, mc = ClusterConfig(k=4), MapConfig(seed=2)
    assert cache.map_key("d", "f", "fp:3", cc, mc, "q").digest == stable_hash(
        {"v": 4, "dataset": "d", "features": "f", "content": "fp:3", "cluster": dataclasses.asdict(cc),
         "map": dataclasses.asdict(mc), "quality": "q"})
    assert cache.layout_key("f", "fp:3", mc).digest == stable_hash(
        {"v": 4, "features": "f", "content": "fp:3", "map": dataclasses.asdict(mc)})
    assert cache.key("quality", ok=["a"], losses=3).digest == stable_hash({"v": 2, "ok": ["a"], "losses": 3},
                                                                          length=12)


# ---- the read-through --------------------------------------------------------------------------------------------

def test_cached_computes_once_then_reads(store):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    k = cache.key("estimate", fp="x", features="f")
    assert cache.get(store, k) is None
    assert cache.cached(store, k, compute) == {"value": 1}
    assert cache.cached(store, k, compute) == {"value": 1} and len(calls) == 1
    assert cache.get(store, k) == {"value": 1}
    assert cache.cached(store, cache.key("estimate", fp="y", features="f"), compute) == {"value": 2}


def test_cached_hands_back_what_save_returns_and_trusts_load(store):
    saved, loads = {}, []

    def load(s, k):
        loads.append(k)
        return saved.get(k.slot)

    def save(s, k, value):
        saved[k.slot] = ("stored", value)
        return saved[k.slot]

    k = cache.key("layout", features="f", content="c", map=MapConfig())
    assert cache.cached(store, k, lambda: 3, load=load, save=save) == ("stored", 3)
    assert cache.cached(store, k, lambda: pytest.fail("recomputed"), load=load, save=save) == ("stored", 3)
    assert loads == [k, k]
    assert k.artifact() == f"layout-{k.digest}" and k.artifact("xy") == f"xy-{k.digest}"


def test_a_built_map_is_found_by_its_settings_and_latest_and_a_layout_is_reused(store, monkeypatch):
    import core.analysis.layout as layout
    from core.analysis.gradient_map import build_map

    add_dataset(store, "a", [(f"problem {i}", f"answer {i}") for i in range(12)])
    cc = ClusterConfig(k=2)
    assert not cache.layout_cached(store, "a", CFG.key(), 12, MapConfig())
    m = build_map(store, "a", CFG.key(), DIM, cluster_config=cc)
    assert cache.layout_cached(store, "a", CFG.key(), 12, MapConfig())
    assert not cache.layout_cached(store, "a", CFG.key(), 12, MapConfig(seed=1))
    assert cache.find_cached_map(store, "a", CFG.key(), DIM, cc, MapConfig()).key == m.key
    assert cache.find_cached_map(store, "a", CFG.key(), DIM, ClusterConfig(k=3), MapConfig()) is None
    assert cache.latest_map(store, "a", CFG.key()).key == m.key
    monkeypatch.setattr(layout, "fit_umap", lambda *a, **k: pytest.fail("the layout was fitted again"))
    m3 = build_map(store, "a", CFG.key(), DIM, cluster_config=ClusterConfig(k=3))
    assert m3.key != m.key and cache.latest_map(store, "a", CFG.key()).key == m3.key
    np.testing.assert_allclose(m3.xy, m.xy)


# ---- one unit_rows, one zero-row policy -------------------------------------------------------------------------

X = np.random.default_rng(1).normal(size=(12, DIM)).astype(np.float32)


def test_every_row_normalisation_is_the_one_unit_rows():
    import core.analysis.diversity as diversity
    import core.analysis.layout as layout
    import core.analysis.neighbours as neighbours
    import core.features.imported as imported
    import core.features.ray_engine as ray_engine

    for module in (diversity, layout, neighbours, imported, ray_engine):
        assert module.unit_rows is unit_rows, module.__name__


def test_the_featuriser_the_ray_engine_and_the_layout_give_unit_rows_rows_and_refuse_zero_rows():
    import pyarrow as pa
    import torch

    from core.analysis.layout import Layout
    from core.features.gradients import unit_rows as unit_tensor_rows
    from core.features.ray_engine import _echo

    zero = X.copy()
    zero[5] = 0
    # the featurisers (a torch batch)
    np.testing.assert_allclose(unit_tensor_rows(torch.from_numpy(X)), unit_rows(X), atol=1e-7)
    with pytest.raises(ValueError, match=r"1 row\(s\) are all zeros.*row 5"):
        unit_tensor_rows(torch.from_numpy(zero))
    # the Ray engine's echo rows: unit_rows of its seeded draws
    hashes = ["0123456789ab" + "0" * 52, "ba9876543210" + "0" * 52]
    out = _echo({"content_hash": pa.array(hashes)}, DIM)
    raw = np.stack([np.random.default_rng(int(h[:12], 16)).standard_normal(DIM) for h in hashes]).astype(np.float32)
    np.testing.assert_allclose(np.stack(out["vec"].to_pylist()), unit_rows(raw), atol=1e-7)
    # the map's layout: PCA coordinates, and a row at the PCA mean has no direction
    mean = X.mean(axis=0)
    axes = np.linalg.svd(X - mean, full_matrices=False)[2][:3].astype(np.float32)
    lay = Layout(mean, axes, np.zeros((0, 3), np.float32), np.zeros((0, 2), np.float32))
    np.testing.assert_allclose(lay.project(X), unit_rows((X - mean) @ axes.T), atol=1e-6)
    with pytest.raises(ValueError, match=r"PCA coordinate vectors must be finite and non-zero.*row 1"):
        lay.project(np.stack([X[0], mean]))
    # the neighbour index's unit rows (the map and dedup past HALF_ROWS)
    from core.analysis.neighbours import fill_half_rows, take_unit

    np.testing.assert_allclose(take_unit(X, np.arange(12)), unit_rows(X), atol=1e-7)
    with pytest.raises(ValueError, match=r"all zeros.*row 5"):
        fill_half_rows([zero[:4], zero[4:]], 12, DIM)


def test_a_remembered_estimate_is_found_for_the_same_rows_and_features_only(store):
    from core.analysis.estimate import Estimate, peek_estimate, remember_estimate

    add_dataset(store, "a", features=False)
    est = Estimate(6, 2, 0.5, 3.0)
    assert peek_estimate(store, "a", CFG) is None
    remember_estimate(store, "a", CFG, est)
    assert peek_estimate(store, "a", CFG) == est
    assert peek_estimate(store, "a", dataclasses.replace(CFG, dim=16)) is None
    store.mark("a", ["r0"], "exclude")  # another set of kept rows
    assert peek_estimate(store, "a", CFG) is None
