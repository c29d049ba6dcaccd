"""Feature vectors: one FLOAT[d] table per dimension, rows keyed by (config key, content hash), never duplicated."""
from __future__ import annotations

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
        table = self._feature_table(config.dim)
        self.query(f"CREATE TABLE IF NOT EXISTS {table} (config_key VARCHAR, content_hash VARCHAR, "
                   f"vec FLOAT[{int(config.dim)}], PRIMARY KEY (config_key, content_hash))")
        return key

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
        self.query(f"CREATE TABLE IF NOT EXISTS {table_name} (config_key VARCHAR, content_hash VARCHAR, "
                   f"vec FLOAT[{int(dim)}], PRIMARY KEY (config_key, content_hash))")
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
                            view: str = "kept", with_ids: bool = False) -> Iterator:
        """Stream a dataset's features in ordinal ranges so memory stays bounded whatever n is (as (ids, X) pairs
        with_ids)."""
        table = self._feature_table(dim)
        top = self.query("SELECT coalesce(max(ordinal) + 1, 0) FROM samples WHERE dataset = ?", [dataset])[0][0]
        for start in range(0, top, chunk_rows):
            cur = self.cursor()
            try:
                res = cur.execute(
                    f"SELECT s.sample_id, f.vec FROM samples s JOIN {table} f ON f.content_hash = s.content_hash "
                    f"AND f.config_key = ? WHERE s.dataset = ? AND s.ordinal >= ? AND s.ordinal < ? AND "
                    f"{in_view(view)}",
                    [config_key, dataset, start, start + chunk_rows]).fetchnumpy()
            finally:
                cur.close()
            if len(res["vec"]):
                X = _stack_vectors(res["vec"], dim)
                yield ([str(i) for i in res["sample_id"]], X) if with_ids else X

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


def _stack_vectors(column, dim: int) -> np.ndarray:
    """DuckDB's fetchnumpy gives FLOAT[d] as an object array of arrays (or a 2-D array): make it n x d float32."""
    if len(column) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    arr = np.asarray(column)
    if arr.dtype != object and arr.ndim == 2:
        return arr.astype(np.float32, copy=False)
    return np.stack(list(column)).astype(np.float32, copy=False)
