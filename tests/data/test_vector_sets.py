"""Feature vectors moved into core/data (issue 20): a vector set written whole in one transaction with its config and
its name (vector_set_writer), the names read back by exact prefix (named_vector_sets), and feature chunks in dataset
order (iter_feature_chunks(ordered=True): what the large map reads)."""
import json

import numpy as np
import pytest

from core.config import FeatureConfig
from core.data.ingest import ingest_file
from tests.helpers import DATA

IDENT = {"imported": "s", "file_sha256": "0" * 64, "dim": 4}


@pytest.fixture()
def mix(store):
    store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    return store


def hashes(store) -> list[str]:
    return [s.content_hash for s in store.samples("mix")]


def test_a_vector_set_is_stored_with_its_config_and_name(mix):
    h = hashes(mix)
    X = np.random.default_rng(0).normal(size=(24, 4)).astype(np.float32)
    with mix.vector_set_writer("k1", IDENT, 4) as writer:
        writer.append(h[:10], X[:10])
        writer.append(h[5:], np.ones((19, 4), np.float32))  # rows 5-9 are stored already: kept as they were
        writer.record("imported:set", IDENT)
    got = mix.features_by_hash("k1", 4, h)
    np.testing.assert_array_equal(np.stack([got[x] for x in h[:10]]), X[:10])
    np.testing.assert_array_equal(np.stack([got[x] for x in h[10:]]), np.ones((14, 4), np.float32))
    assert [(k, json.loads(i)) for k, i in mix.query("SELECT config_key, identity FROM feature_configs")] == [
        ("k1", IDENT)]
    assert mix.cache_get("imported:set") == IDENT
    with mix.vector_set_writer("k1", IDENT, 4) as writer:  # the same identity again: accepted, nothing doubled
        writer.append(h[:1], X[:1])
    assert mix.query("SELECT count(*) FROM features_d4")[0][0] == 24
    with pytest.raises(ValueError, match="shape"):
        with mix.vector_set_writer("k1", IDENT, 4) as writer:
            writer.append(h[:2], X[:3])


def test_an_error_inside_the_writer_leaves_no_config_table_vector_or_name(mix):
    h = hashes(mix)
    with pytest.raises(RuntimeError, match="boom"):
        with mix.vector_set_writer("k2", IDENT, 4) as writer:
            writer.append(h, np.ones((24, 4), np.float32))
            writer.record("imported:gone", IDENT)
            raise RuntimeError("boom")
    assert mix.query("SELECT count(*) FROM feature_configs")[0][0] == 0
    assert mix.query("SELECT table_name FROM information_schema.tables WHERE table_name = 'features_d4'") == []
    assert mix.cache_get("imported:gone") is None


def test_a_key_stored_with_another_identity_is_refused_and_nothing_is_written(mix):
    h = hashes(mix)
    with mix.vector_set_writer("k3", IDENT, 4) as writer:
        writer.append(h[:2], np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="another identity"):
        with mix.vector_set_writer("k3", IDENT | {"dim": 5}, 4) as writer:
            writer.append(h[2:], np.ones((22, 4), np.float32))
    assert mix.query("SELECT count(*) FROM features_d4")[0][0] == 2


def test_named_vector_sets_match_the_prefix_exactly_in_key_order(mix):
    for key in ("imported:b", "imported:a", "imported%x", "importedX", "map:imported:c"):
        mix.cache_put(key, IDENT | {"imported": key})
    assert mix.named_vector_sets("imported:") == {"imported:a": IDENT | {"imported": "imported:a"},
                                                  "imported:b": IDENT | {"imported": "imported:b"}}
    assert list(mix.named_vector_sets("imported:")) == ["imported:a", "imported:b"]
    assert list(mix.named_vector_sets("imported%")) == ["imported%x"]  # % is a character, never a wildcard
    assert mix.named_vector_sets("nothing:") == {}


def test_ordered_feature_chunks_are_load_features_rows_in_dataset_order(mix):
    cfg = FeatureConfig(model="m", model_revision="r", dim=8)
    missing = mix.missing_feature_hashes("mix", cfg)
    by_hash = {h: np.random.default_rng(i).normal(size=8).astype(np.float32) for i, h in enumerate(missing)}
    order = hashes(mix)[::-1]  # written against the dataset's order
    mix.write_features(cfg, order, np.stack([by_hash[h] for h in order]))
    # more rows of the table than the dataset has (another key's): DuckDB then scans the features side first, and
    # without an ORDER BY a chunk comes in the table's order, not the dataset's
    mix.write_vectors("other", 8, [f"h{i}" for i in range(20_000)], np.ones((20_000, 8), np.float32))
    mix.mark("mix", [mix.samples("mix")[3].id], "exclude")
    ids, X = mix.load_features("mix", cfg.key(), 8)
    chunks = list(mix.iter_feature_chunks("mix", cfg.key(), 8, chunk_rows=10, with_ids=True, ordered=True))
    assert [len(c[0]) for c in chunks] == [9, 10, 4]
    assert [i for c in chunks for i in c[0]] == ids and len(ids) == 23
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), X)
