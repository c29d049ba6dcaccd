"""The audit reads (core/data/audit.py) the benches verify outcomes with, against a real DuckDB file: rows against
distinct primary keys per table, a dataset's distinct ids, hashes and prompts, rows with features, kv_cache keys by
exact prefix, map keys."""
import numpy as np
import pytest

from core.data.audit import KeyCounts, SampleCounts
from core.data.ingest import IngestReport, Sample, content_hash


def save(store, name: str, rows: list[tuple[str, str, str]]) -> list[str]:
    """A dataset of (id, prompt, response) rows; returns their content hashes in row order."""
    samples = [Sample(i, p, r, content_hash(p, r), {}) for i, p, r in rows]
    store.save_dataset(name, IngestReport(samples, [], [], "test"), source="test")
    return [s.content_hash for s in samples]


def test_key_counts_count_distinct_values_of_the_whole_primary_key(store):
    # the same sample ids in two datasets: distinct under (dataset, sample_id), not under either column alone
    save(store, "a", [("r1", "p1", "x"), ("r2", "p2", "x")])
    save(store, "b", [("r1", "p1", "x"), ("r2", "p9", "y"), ("r3", "p3", "z")])
    assert store.key_counts("samples") == KeyCounts(5, 5)
    # scores differing only in q, the key's last column
    for q in (1.0, 2.0, 3.0):
        store.save_score("a", "cfg", "g_vendi", 1.5, 2, q)
    store.save_score("a", "cfg", "g_vendi", 9.0, 2, 1.0)  # replaces the q=1 row
    assert store.key_counts("scores") == KeyCounts(3, 3)
    assert store.key_counts("datasets") == KeyCounts(2, 2)
    assert store.key_counts("map_rows") == KeyCounts(0, 0)


def test_duplicated_is_rows_less_distinct_keys():
    assert KeyCounts(7, 4).duplicated == 3
    assert KeyCounts(4, 4).duplicated == 0


def test_key_counts_refuse_a_name_outside_the_schema(store):
    for name in ("samples; DROP TABLE samples", "information_schema.tables", "features_dx", "nope"):
        with pytest.raises(ValueError):
            store.key_counts(name)
    assert store.key_counts("samples") == KeyCounts(0, 0)


def test_feature_key_counts_span_every_config_of_the_dimension(store):
    assert store.feature_key_counts(8) == KeyCounts(0, 0)  # no table yet
    hashes = save(store, "a", [("r1", "p1", "x"), ("r2", "p2", "x"), ("r3", "p3", "x")])
    vecs = np.ones((3, 8), dtype=np.float32)
    store.write_vectors("k1", 8, hashes, vecs)
    store.write_vectors("k1", 8, hashes[:2], vecs[:2])  # already there: kept, not duplicated
    store.write_vectors("k2", 8, hashes[:2], vecs[:2])  # the same hashes under another key
    store.write_vectors("k3", 4, hashes, np.ones((3, 4), dtype=np.float32))  # another dimension
    assert store.feature_key_counts(8) == KeyCounts(5, 5)
    assert store.feature_key_counts(4) == KeyCounts(3, 3)


def test_sample_counts_are_the_datasets_own(store):
    save(store, "a", [("r1", "same prompt", "x"), ("r2", "same prompt", "y"), ("r3", "other", "x")])
    save(store, "b", [("r1", "b1", "x"), ("r9", "b2", "x")])
    assert store.sample_counts("a") == SampleCounts(rows=3, ids=3, hashes=3, prompts=2)
    assert store.sample_counts("b") == SampleCounts(2, 2, 2, 2)
    assert store.sample_counts("none") == SampleCounts(0, 0, 0, 0)


def test_sample_counts_see_repeated_content(store):
    # two ids holding the same text: one content hash
    save(store, "a", [("r1", "p", "x"), ("r2", "p", "x"), ("r3", "q", "x")])
    assert store.sample_counts("a") == SampleCounts(3, 3, 2, 2)


def test_featured_hashes_count_the_datasets_hashes_with_a_feature_row_under_any_key(store):
    assert store.featured_hashes("a", 8) == 0  # no feature table yet
    a = save(store, "a", [("r1", "p1", "x"), ("r2", "p1", "x"), ("r3", "p3", "x"), ("r4", "p4", "x")])
    b = save(store, "b", [("s1", "b1", "x"), ("s2", "b2", "x")])
    assert a[0] == a[1]  # two rows, one hash
    store.write_vectors("k1", 8, [a[0]], np.ones((1, 8), dtype=np.float32))
    store.write_vectors("k2", 8, [a[0], a[2]], np.ones((2, 8), dtype=np.float32))
    store.write_vectors("k1", 8, b, np.ones((2, 8), dtype=np.float32))  # another dataset's rows
    store.write_vectors("k1", 4, [a[3]], np.ones((1, 4), dtype=np.float32))  # another dimension
    assert store.featured_hashes("a", 8) == 2
    assert store.featured_hashes("b", 8) == 2
    assert store.featured_hashes("a", 4) == 1


def test_cache_keys_match_the_prefix_exactly(store):
    for key in ("bench:2", "bench:1", "benchX", "bench%:3", "map:bench:4", "bench_5"):
        store.cache_put(key, {"k": key})
    assert store.cache_keys("bench:") == ["bench:1", "bench:2"]
    assert store.cache_keys("bench%") == ["bench%:3"]  # a LIKE pattern would also match bench:1, benchX, ...
    assert store.cache_keys("bench_") == ["bench_5"]
    assert store.cache_keys("nothing") == []


def test_map_keys_are_the_maps_with_rows(store):
    assert store.map_keys() == []
    n = 3
    cols = {"cluster": np.zeros(n), "sparse": np.zeros(n, bool), "density": np.zeros(n), "xy": np.zeros((n, 2)),
            "mass": np.zeros(n), "suspect": np.zeros(n, bool)}
    store.write_map_rows("m2", ["a", "b", "c"], **cols)
    store.write_map_rows("m1", ["a", "b", "c"], **cols)
    store.write_map_rows("empty", [], **{k: v[:0] for k, v in cols.items()})
    assert store.map_keys() == ["m1", "m2"]
