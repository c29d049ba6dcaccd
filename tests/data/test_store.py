"""The DuckDB store on disk: datasets, features keyed by content hash + config, no duplicates, identity checks."""
import dataclasses

import numpy as np
import pytest

from core.config import FeatureConfig
from core.data.ingest import ingest_file
from tests.helpers import DATA, run_cli


def test_dataset_round_trip_and_features_never_duplicate(store):
    report = ingest_file(DATA / "mixture_24.jsonl")
    store.save_dataset("mix", report, source="mixture_24.jsonl")
    assert store.dataset_names() == ["mix"]
    samples = store.samples("mix")
    assert [s.id for s in samples] == [s.id for s in report.samples]
    assert samples[0].meta["source"] in ("gsm8k", "svamp")
    with pytest.raises(ValueError, match="exists"):
        store.save_dataset("mix", report, source="again")

    cfg = FeatureConfig(model="m", model_revision="r", dim=8)
    missing = store.missing_feature_hashes("mix", cfg)
    assert len(missing) == 24
    vecs = np.random.default_rng(0).normal(size=(24, 8)).astype(np.float32)
    store.write_features(cfg, missing[:10], vecs[:10])
    store.write_features(cfg, missing[:12], vecs[:12])  # overlapping batch: kept once
    assert store.feature_coverage("mix", cfg.key(), 8) == 12
    assert len(store.missing_feature_hashes("mix", cfg)) == 12
    rows = store.query("SELECT count(*), count(DISTINCT content_hash) FROM features_d8")[0]
    assert rows == (12, 12)

    store.write_features(cfg, missing[12:], vecs[12:])
    ids, X = store.load_features("mix", cfg.key(), 8)
    by_hash = dict(zip(missing, vecs))
    hashes = {s.id: s.content_hash for s in samples}
    assert ids == [s.id for s in samples]
    np.testing.assert_array_equal(X, np.stack([by_hash[hashes[i]] for i in ids]))
    chunks = list(store.iter_feature_chunks("mix", cfg.key(), 8, chunk_rows=7))
    assert sum(len(c) for c in chunks) == 24


def test_configs_never_mix(store):
    store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    a = FeatureConfig(model="m", model_revision="r", dim=8, seed=0)
    b = dataclasses.replace(a, seed=1)
    assert a.key() != b.key()
    h = store.missing_feature_hashes("mix", a)
    store.write_features(a, h, np.ones((24, 8), np.float32))
    assert len(store.missing_feature_hashes("mix", b)) == 24
    # a stored identity that disagrees with the key is refused rather than reused
    store.query("UPDATE feature_configs SET identity = '{\"tampered\": true}' WHERE config_key = ?", [a.key()])
    with pytest.raises(RuntimeError, match="another identity"):
        store.register_config(a)


class CountingCursors:
    """Counts the statements a store runs (every query and transaction takes its cursor from store.cursor)."""

    def __init__(self, store):
        self.real, self.statements = store.cursor, 0

    def __call__(self):
        return _Counted(self.real(), self)


class _Counted:
    def __init__(self, cur, counter):
        self.cur, self.counter = cur, counter

    def execute(self, *args, **kwargs):
        self.counter.statements += 1
        return self.cur.execute(*args, **kwargs)

    def executemany(self, sql, rows, *args, **kwargs):
        self.counter.statements += len(rows)
        return self.cur.executemany(sql, rows, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.cur, name)


def test_bulk_features_round_trip_without_row_loops(store, monkeypatch):
    """Thousands of rows are written and read back in a handful of statements (no statement per row), and every row
    comes back exactly, under its own hash, in the dataset's order and in bounded chunks."""
    report = ingest_file(DATA / "mixture_24.jsonl")
    store.save_dataset("d", report, source="x")
    cfg = FeatureConfig(model="m", model_revision="r", dim=64)
    own = [s.content_hash for s in report.samples]
    hashes = own + [f"h{i:06d}" for i in range(5_000)]  # the dataset's 24 rows among rows of other datasets
    X = np.random.default_rng(0).normal(size=(len(hashes), 64)).astype(np.float32)
    order = np.random.default_rng(1).permutation(len(hashes))  # written in no particular order
    losses = np.arange(len(hashes), dtype=np.float64) / 10
    counter = CountingCursors(store)
    monkeypatch.setattr(store, "cursor", counter)
    assert store.write_features(cfg, [hashes[i] for i in order], X[order], losses=losses[order]) == len(hashes)
    writes, counter.statements = counter.statements, 0
    got = store.features_by_hash(cfg.key(), 64, hashes)
    reads = counter.statements
    assert writes <= 20 and reads <= 5, (writes, reads)  # a row loop would be 5,000 statements
    monkeypatch.undo()

    assert len(got) == len(hashes)
    np.testing.assert_array_equal(np.stack([got[h] for h in hashes]), X)  # every row, under its own hash
    assert store.losses_by_hash(cfg.key(), hashes[:3]) == {h: (pytest.approx(v, rel=1e-6), None)
                                                            for h, v in zip(hashes[:3], losses[:3])}
    ids, loaded = store.load_features("d", cfg.key(), 64)
    assert ids == [s.id for s in report.samples]
    np.testing.assert_array_equal(loaded, X[:24])
    chunks = list(store.iter_feature_chunks("d", cfg.key(), 64, chunk_rows=5, with_ids=True))
    assert [len(c_ids) for c_ids, _ in chunks] == [5, 5, 5, 5, 4]
    by_id = {i: v for c_ids, c in chunks for i, v in zip(c_ids, c)}  # a chunk's rows come in no particular order
    assert sorted(by_id) == sorted(ids)
    np.testing.assert_array_equal(np.stack([by_id[i] for i in ids]), X[:24])


def test_second_process_gets_a_clear_busy_error(workspace, store):
    res = run_cli(workspace, "datasets", timeout=60)
    assert res.returncode == 2
    assert "in use by another process" in res.stderr
