"""Tags and exclusions (issue 13): stored beside the samples, undoable, surviving a restart; an exclusion changes
every score, map and export the way removing the rows from the file would."""
import json

import numpy as np
import pytest

from core.config import FeatureConfig
from core.data.ingest import ingest_file
from tests.conftest import DATA


def with_features(store, name="mix", dim=32):
    store.save_dataset(name, ingest_file(DATA / "mixture_24.jsonl"), source="x")
    cfg = FeatureConfig(model="m", model_revision="r", dim=dim)
    hashes = store.missing_feature_hashes(name, cfg)
    rng = np.random.default_rng(0)
    store.write_features(cfg, hashes, rng.normal(size=(len(hashes), dim)).astype(np.float32))
    return cfg


def test_tags_and_exclusions_survive_a_restart_and_undo(workspace):
    from core.data.store import Store

    with Store() as store:
        with_features(store)
        ids = [s.id for s in store.samples("mix")]
        tagged = store.mark("mix", ids[:3], "tag", "hard")
        store.mark("mix", ids[3:5], "exclude")
        with pytest.raises(KeyError):
            store.mark("mix", ["nope", ids[0]], "exclude")  # an unknown id: nothing stored
    with Store() as store:  # a restart
        assert store.tags("mix") == {i: ["hard"] for i in ids[:3]}
        assert store.excluded("mix") == sorted(ids[3:5])
        assert len(store.samples("mix")) == 22 and len(store.samples("mix", "all")) == 24
        store.undo(tagged.action_id)
        assert store.tags("mix") == {}
        assert [a.op for a in store.actions("mix")][:2] == ["untag", "exclude"]


def test_g_vendi_without_excluded_rows_equals_the_file_without_them(store, tmp_path):
    from core.analysis.diversity import vendi_score
    from core.analysis.scoring import score

    cfg = with_features(store)
    ids = [s.id for s in store.samples("mix")]
    store.mark("mix", ids[::4], "exclude")
    kept = score(store, "mix", cfg).g_vendi
    everything = score(store, "mix", cfg, view="all").g_vendi
    rows = [json.loads(l) for l in (DATA / "mixture_24.jsonl").read_text().splitlines()]
    removed = tmp_path / "removed.jsonl"
    removed.write_text("".join(json.dumps(r) + "\n" for i, r in enumerate(rows) if i % 4))
    store.save_dataset("removed", ingest_file(removed), source="x")
    alone = score(store, "removed", cfg).g_vendi
    assert kept == pytest.approx(alone, rel=1e-6) and kept != pytest.approx(everything)
    _, X = store.load_features("removed", cfg.key(), cfg.dim)
    assert alone == pytest.approx(vendi_score(X), rel=1e-5)


def test_a_cached_map_is_not_reused_after_an_exclusion_and_export_writes_the_kept_rows(store, tmp_path):
    from core.analysis.clusters import ClusterConfig
    from core.analysis.gradient_map import MapConfig, build_map, find_cached_map
    from core.synthesis.export import export

    cfg = with_features(store)
    first = build_map(store, "mix", cfg.key(), cfg.dim, cluster_config=ClusterConfig(k=3))
    ids = [s.id for s in store.samples("mix")]
    store.mark("mix", ids[:2], "exclude")
    store.mark("mix", ids[2:4], "tag", "checked")
    assert find_cached_map(store, "mix", cfg.key(), cfg.dim, ClusterConfig(k=3), MapConfig()) is None
    second = build_map(store, "mix", cfg.key(), cfg.dim, cluster_config=ClusterConfig(k=3))
    assert second.key != first.key and len(second.ids) == 22 and not set(ids[:2]) & set(second.ids)
    out = tmp_path / "kept.jsonl"
    assert export(store, "mix", run_id=None, fmt="jsonl", out=out) == 22
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ids[2:]
    assert [r["meta"].get("tags") for r in rows[:2]] == [["checked"], ["checked"]]
    assert all("tags" not in r["meta"] for r in rows[2:])
