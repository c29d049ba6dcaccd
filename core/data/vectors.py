"""Feature vectors: one FLOAT[d] table per dimension, rows keyed by (config key, content hash), never duplicated.

Computed features arrive batch by batch (write_features, one transaction a batch: a killed run keeps its batches);
a vector set made elsewhere (core/features/imported.py) arrives whole, in ONE transaction with its config and the
kv_cache record naming it (vector_set_writer), so a failure anywhere leaves nothing of it behind.
"""
from __future__ import annotations

import contextlib
import json
import time
from typing import Iterator

import numpy as np

from core.config import FeatureConfig
from core.data.samples import in_view


class VectorTables:
    """Mixin of Store: feature configs and feature vectors (self.query / self.cursor come from Store)."""

    @staticmethod
    def _feature_table(dim: int) -> str:
        return f"features_d{int(dim)}"

    def register_config(self, config: FeatureConfig) -> str:
        """Record the projection's identity; a key whose stored identity differs is refused, never mixed."""
        key = config.key()
        identity = config.identity()
        rows = self.query("SELECT identity FROM feature_configs WHERE config_key = ?", [key])
        if rows:
            stored = json.loads(rows[0][0])
            if stored != json.loads(json.dumps(identity)):
                raise RuntimeError(f"feature config {key} is stored with another identity: {stored} != {identity}")
        else:
            self.query("INSERT INTO feature_configs VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                       [key, json.dumps(identity), time.time()])
        self.query(self._feature_table_ddl(config.dim))
        return key

    @classmethod
    def _feature_table_ddl(cls, dim: int) -> str:
        return (f"CREATE TABLE IF NOT EXISTS {cls._feature_table(dim)} (config_key VARCHAR, content_hash VARCHAR, "
                f"vec FLOAT[{int(dim)}], PRIMARY KEY (config_key, content_hash))")

    def feature_coverage(self, dataset: str, key: str, dim: int, view: str = "kept") -> int:
        table = self._feature_table(dim)
        if not self.query("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [table]):
            return 0
        return self.query(f"SELECT count(*) FROM samples s JOIN {table} f ON f.content_hash = s.content_hash "
                          f"AND f.config_key = ? WHERE s.dataset = ? AND {in_view(view)}", [key, dataset])[0][0]

    def missing_feature_hashes(self, dataset: str, config: FeatureConfig, view: str = "all") -> list[str]:
        """Rows to compute: every row by default (an excluded row may be included again), kept rows on request."""
        key = self.register_config(config)
        table = self._feature_table(config.dim)
        rows = self.query(
            f"SELECT DISTINCT s.content_hash FROM samples s LEFT JOIN {table} f "
            f"ON f.content_hash = s.content_hash AND f.config_key = ? "
            f"WHERE s.dataset = ? AND f.content_hash IS NULL AND {in_view(view)} ORDER BY s.content_hash",
            [key, dataset])
        return [r[0] for r in rows]

    def texts_by_hash(self, hashes: list[str]) -> dict[str, tuple[str, str]]:
        if not hashes:
            return {}
        rows = self.query("SELECT DISTINCT content_hash, prompt, response FROM samples "
                          "WHERE content_hash IN (SELECT unnest(?))", [hashes])
        return {r[0]: (r[1], r[2]) for r in rows}

    def write_features(self, config: FeatureConfig, hashes: list[str], vectors: np.ndarray,
                       losses: np.ndarray | None = None) -> int:
        """Insert one batch in one transaction; rows already present are kept (never duplicated). `losses`: each
        row's mean response loss from the same pass, kept for the quality read (losses.py), in the same transaction."""
        return self.write_vectors(self.register_config(config), config.dim, hashes, vectors, losses=losses)

    def write_vectors(self, key: str, dim: int, hashes: list[str], vectors: np.ndarray,
                      losses: np.ndarray | None = None) -> int:
        """Vectors under any key (a feature config's, or e.g. the text-embedding baseline's), one transaction."""
        import pyarrow as pa

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(hashes), dim):
            raise ValueError(f"vectors shape {vectors.shape} does not match {len(hashes)} x {dim}")
        table_name = self._feature_table(dim)
        self.query(self._feature_table_ddl(dim))
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        table = pa.table({"config_key": pa.array([key] * len(hashes)), "content_hash": pa.array(hashes),
                          "vec": pa.FixedSizeListArray.from_arrays(flat, dim)})
        with self.transaction() as cur:
            cur.register("incoming_features", table)
            cur.execute(f"INSERT INTO {table_name} SELECT config_key, content_hash, vec "
                        f"FROM incoming_features ON CONFLICT DO NOTHING")
            cur.unregister("incoming_features")
            if losses is not None:
                self._write_losses(cur, key, hashes, "loss", losses)
        return len(hashes)

    def load_features(self, dataset: str, config_key: str, dim: int,
                      view: str = "kept") -> tuple[list[str], np.ndarray]:
        """(sample ids in dataset order, n x dim float32) for the view's samples with features under config_key."""
        table = self._feature_table(dim)
        cur = self.cursor()
        try:
            res = cur.execute(
                f"SELECT s.sample_id, f.vec FROM samples s JOIN {table} f ON f.content_hash = s.content_hash "
                f"AND f.config_key = ? WHERE s.dataset = ? AND {in_view(view)} ORDER BY s.ordinal",
                [config_key, dataset]).fetchnumpy()
        finally:
            cur.close()
        ids = [str(x) for x in res["sample_id"]]
        return ids, _stack_vectors(res["vec"], dim)

    def iter_feature_chunks(self, dataset: str, config_key: str, dim: int, chunk_rows: int = 50_000,
                            view: str = "kept", with_ids: bool = False, ordered: bool = False) -> Iterator:
        """Stream a dataset's features in ordinal ranges so memory stays bounded whatever n is (as (ids, X) pairs
        with_ids). `ordered`: rows in dataset order within each chunk too, so the chunks together are exactly
        load_features' rows (otherwise a chunk's rows come in DuckDB's order)."""
        table = self._feature_table(dim)
        order = "ORDER BY s.ordinal" if ordered else ""
        top = self.query("SELECT coalesce(max(ordinal) + 1, 0) FROM samples WHERE dataset = ?", [dataset])[0][0]
        for start in range(0, top, chunk_rows):
            cur = self.cursor()
            try:
                res = cur.execute(
                    f"SELECT s.sample_id, f.vec FROM samples s JOIN {table} f ON f.content_hash = s.content_hash "
                    f"AND f.config_key = ? WHERE s.dataset = ? AND s.ordinal >= ? AND s.ordinal < ? AND "
                    f"{in_view(view)} {order}",
                    [config_key, dataset, start, start + chunk_rows]).fetchnumpy()
            finally:
                cur.close()
            if len(res["vec"]):
                X = _stack_vectors(res["vec"], dim)
                yield ([str(i) for i in res["sample_id"]], X) if with_ids else X

    @contextlib.contextmanager
    def vector_set_writer(self, key: str, identity: dict, dim: int) -> Iterator["VectorSetWriter"]:
        """A whole vector set under its own config in ONE transaction: the config row (a key stored with another
        identity is refused with ValueError), its FLOAT[dim] table, then the writer's batches and its record; an
        error anywhere before the block ends rolls back all of it (no config row, table or vector is left)."""
        with self.transaction() as cur:
            stored = cur.execute("SELECT identity FROM feature_configs WHERE config_key = ?", [key]).fetchall()
            if stored and json.loads(stored[0][0]) != identity:
                raise ValueError(f"feature config {key} is stored with another identity: {stored[0][0]}")
            if not stored:
                cur.execute("INSERT INTO feature_configs VALUES (?, ?, ?)", [key, json.dumps(identity), time.time()])
            cur.execute(self._feature_table_ddl(dim))
            yield VectorSetWriter(cur, key, dim)

    def named_vector_sets(self, prefix: str) -> dict[str, dict]:
        """record key -> identity of every vector set recorded (VectorSetWriter.record) under a key starting with
        `prefix` (matched exactly: never LIKE, whose % and _ a name may hold), in key order."""
        rows = self.query("SELECT key, value FROM kv_cache WHERE starts_with(key, ?) ORDER BY key", [prefix])
        return {key: json.loads(value) for key, value in rows}

    def features_by_hash(self, config_key: str, dim: int, hashes: list[str]) -> dict[str, np.ndarray]:
        if not hashes or not self.query("SELECT 1 FROM information_schema.tables WHERE table_name = ?",
                                        [self._feature_table(dim)]):
            return {}
        cur = self.cursor()
        try:
            res = cur.execute(f"SELECT content_hash, vec FROM {self._feature_table(dim)} WHERE config_key = ? "
                              f"AND content_hash IN (SELECT unnest(?))", [config_key, hashes]).fetchnumpy()
        finally:
            cur.close()
        vecs = _stack_vectors(res["vec"], dim)
        return {str(h): v for h, v in zip(res["content_hash"], vecs)}


class VectorSetWriter:
    """Adds one vector set inside the transaction VectorTables.vector_set_writer opened."""

    def __init__(self, cur, key: str, dim: int):
        self._cur = cur
        self.key = key
        self.dim = dim

    def append(self, hashes: list[str], vectors: np.ndarray) -> None:
        """One batch (a registered Arrow table, one INSERT); a hash already stored under the key is kept as it is."""
        import pyarrow as pa

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(hashes), self.dim):
            raise ValueError(f"vectors shape {vectors.shape} does not match {len(hashes)} x {self.dim}")
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        incoming = pa.table({"config_key": pa.array([self.key] * len(hashes)), "content_hash": pa.array(hashes),
                             "vec": pa.FixedSizeListArray.from_arrays(flat, self.dim)})
        self._cur.register("incoming_imported", incoming)
        try:
            self._cur.execute(f"INSERT INTO {VectorTables._feature_table(self.dim)} SELECT config_key, content_hash, "
                              f"vec FROM incoming_imported ON CONFLICT DO NOTHING")
        finally:
            self._cur.unregister("incoming_imported")

    def record(self, record_key: str, identity: dict) -> None:
        """Name the set: a kv_cache row (record_key -> identity), replaced if the key holds one already."""
        self._cur.execute("INSERT OR REPLACE INTO kv_cache VALUES (?, ?, ?)",
                          [record_key, json.dumps(identity), time.time()])


def _stack_vectors(column, dim: int) -> np.ndarray:
    """DuckDB's fetchnumpy gives FLOAT[d] as an object array of arrays (or a 2-D array): make it n x d float32."""
    if len(column) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    arr = np.asarray(column)
    if arr.dtype != object and arr.ndim == 2:
        return arr.astype(np.float32, copy=False)
    return np.stack(list(column)).astype(np.float32, copy=False)
