"""The workspace store: one DuckDB file holding datasets, samples, feature configs, features, scores and jobs."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from .config import FeatureConfig, workspace_dir
from .data import IngestReport, Sample

SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    name VARCHAR PRIMARY KEY,
    source VARCHAR,
    created_at DOUBLE,
    n_samples INTEGER,
    rejected_rows INTEGER,
    report JSON
);
CREATE TABLE IF NOT EXISTS samples (
    dataset VARCHAR,
    ordinal INTEGER,
    sample_id VARCHAR,
    content_hash VARCHAR,
    prompt VARCHAR,
    response VARCHAR,
    meta JSON,
    PRIMARY KEY (dataset, sample_id)
);
CREATE TABLE IF NOT EXISTS feature_configs (
    config_key VARCHAR PRIMARY KEY,
    identity JSON,
    created_at DOUBLE
);
CREATE TABLE IF NOT EXISTS scores (
    dataset VARCHAR,
    config_key VARCHAR,
    metric VARCHAR,
    q DOUBLE,
    value DOUBLE,
    n INTEGER,
    computed_at DOUBLE,
    PRIMARY KEY (dataset, config_key, metric, q)
);
CREATE TABLE IF NOT EXISTS kv_cache (
    key VARCHAR PRIMARY KEY,
    value JSON,
    created_at DOUBLE
);
"""


class WorkspaceBusy(RuntimeError):
    """Another process holds the workspace's DuckDB file (DuckDB allows one writer process)."""


class Store:
    """Thread-safe facade over one DuckDB connection; each call takes its own cursor."""

    def __init__(self, path: str | Path | None = None):
        import duckdb

        self.path = Path(path) if path else workspace_dir() / "prism.duckdb"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            raise WorkspaceBusy(
                f"the workspace database {self.path} is in use by another process "
                f"(DuckDB allows one writer; stop the app or the other command first): {exc}") from exc
        self._lock = threading.RLock()
        with self._lock:
            # DuckDB's default cache is 80% of RAM: bound it, large work spills to disk instead
            limit = os.environ.get("PRISM_DUCKDB_MEMORY", "2GB")
            self._con.execute(f"SET memory_limit = '{limit}'")
            self._con.execute(SCHEMA)

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cursor(self):
        """A cursor for the calling thread; DuckDB cursors of one connection are safe across threads."""
        return self._con.cursor()

    def query(self, sql: str, params: list | tuple = ()) -> list[tuple]:
        cur = self.cursor()
        try:
            return cur.execute(sql, params).fetchall()
        finally:
            cur.close()

    # ---- datasets and samples -------------------------------------------------------------------------------

    def dataset_names(self) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM datasets ORDER BY created_at")]

    def has_dataset(self, name: str) -> bool:
        return bool(self.query("SELECT 1 FROM datasets WHERE name = ?", [name]))

    def save_dataset(self, name: str, report: IngestReport, *, source: str, replace: bool = False,
                     extra: dict | None = None) -> None:
        """Write a dataset and its samples in one transaction: a crash leaves it either whole or absent."""
        import pyarrow as pa

        samples = report.samples
        table = pa.table({
            "dataset": [name] * len(samples),
            "ordinal": list(range(len(samples))),
            "sample_id": [s.id for s in samples],
            "content_hash": [s.content_hash for s in samples],
            "prompt": [s.prompt for s in samples],
            "response": [s.response for s in samples],
            "meta": [json.dumps(s.meta, ensure_ascii=False) for s in samples],
        })
        cur = self.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            if self._dataset_exists(cur, name):
                if not replace:
                    cur.execute("ROLLBACK")
                    raise ValueError(f"a dataset named {name!r} exists already")
                cur.execute("DELETE FROM samples WHERE dataset = ?", [name])
                cur.execute("DELETE FROM datasets WHERE name = ?", [name])
            cur.register("incoming_samples", table)
            cur.execute("INSERT INTO samples SELECT dataset, ordinal, sample_id, content_hash, prompt, response, "
                        "CAST(meta AS JSON) FROM incoming_samples")
            cur.unregister("incoming_samples")
            cur.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                        [name, source, time.time(), len(samples), len(report.bad_rows),
                         json.dumps(report.summary() | (extra or {}))])
            cur.execute("COMMIT")
        finally:
            cur.close()

    @staticmethod
    def _dataset_exists(cur, name: str) -> bool:
        return bool(cur.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchall())

    def dataset_info(self, name: str) -> dict:
        rows = self.query("SELECT name, source, created_at, n_samples, rejected_rows, report FROM datasets "
                          "WHERE name = ?", [name])
        if not rows:
            raise KeyError(f"no dataset named {name!r} in {self.path}")
        name, source, created, n, rejected, report = rows[0]
        return {"name": name, "source": source, "created_at": created, "n": n, "rejected_rows": rejected,
                "report": json.loads(report) if report else {}}

    def samples(self, name: str) -> list[Sample]:
        rows = self.query("SELECT sample_id, prompt, response, content_hash, meta FROM samples WHERE dataset = ? "
                          "ORDER BY ordinal", [name])
        return [Sample(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else {}) for r in rows]

    def samples_frame(self, name: str):
        """Samples as a pandas DataFrame (id, prompt, response, content_hash, meta columns flattened)."""
        import pandas as pd

        cur = self.cursor()
        try:
            frame = cur.execute("SELECT sample_id AS id, prompt, response, content_hash, meta FROM samples "
                                "WHERE dataset = ? ORDER BY ordinal", [name]).df()
        finally:
            cur.close()
        meta = pd.DataFrame([json.loads(m) if m else {} for m in frame.pop("meta")])
        for col in meta.columns:
            if col not in frame.columns:
                frame[col] = meta[col].values
        return frame

    # ---- features ------------------------------------------------------------------------------------------

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

    def feature_coverage(self, dataset: str, key: str, dim: int) -> int:
        table = self._feature_table(dim)
        if not self.query("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [table]):
            return 0
        return self.query(f"SELECT count(*) FROM samples s JOIN {table} f ON f.content_hash = s.content_hash "
                          f"AND f.config_key = ? WHERE s.dataset = ?", [key, dataset])[0][0]

    def missing_feature_hashes(self, dataset: str, config: FeatureConfig) -> list[str]:
        key = self.register_config(config)
        table = self._feature_table(config.dim)
        rows = self.query(
            f"SELECT DISTINCT s.content_hash FROM samples s LEFT JOIN {table} f "
            f"ON f.content_hash = s.content_hash AND f.config_key = ? "
            f"WHERE s.dataset = ? AND f.content_hash IS NULL ORDER BY s.content_hash", [key, dataset])
        return [r[0] for r in rows]

    def texts_by_hash(self, hashes: list[str]) -> dict[str, tuple[str, str]]:
        if not hashes:
            return {}
        rows = self.query("SELECT DISTINCT content_hash, prompt, response FROM samples "
                          "WHERE content_hash IN (SELECT unnest(?))", [hashes])
        return {r[0]: (r[1], r[2]) for r in rows}

    def write_features(self, config: FeatureConfig, hashes: list[str], vectors: np.ndarray) -> int:
        """Insert one batch in one transaction; rows already present are kept (never duplicated)."""
        import pyarrow as pa

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(hashes), config.dim):
            raise ValueError(f"vectors shape {vectors.shape} does not match {len(hashes)} x {config.dim}")
        key = self.register_config(config)
        flat = pa.array(vectors.reshape(-1), type=pa.float32())
        table = pa.table({"config_key": pa.array([key] * len(hashes)), "content_hash": pa.array(hashes),
                          "vec": pa.FixedSizeListArray.from_arrays(flat, config.dim)})
        cur = self.cursor()
        try:
            cur.register("incoming_features", table)
            cur.execute(f"INSERT INTO {self._feature_table(config.dim)} SELECT config_key, content_hash, vec "
                        f"FROM incoming_features ON CONFLICT DO NOTHING")
            cur.unregister("incoming_features")
        finally:
            cur.close()
        return len(hashes)

    def load_features(self, dataset: str, config_key: str, dim: int) -> tuple[list[str], np.ndarray]:
        """(sample ids in dataset order, n x dim float32) for samples that have features under config_key."""
        table = self._feature_table(dim)
        cur = self.cursor()
        try:
            res = cur.execute(
                f"SELECT s.sample_id, f.vec FROM samples s JOIN {table} f ON f.content_hash = s.content_hash "
                f"AND f.config_key = ? WHERE s.dataset = ? ORDER BY s.ordinal", [config_key, dataset]).fetchnumpy()
        finally:
            cur.close()
        ids = [str(x) for x in res["sample_id"]]
        return ids, _stack_vectors(res["vec"], dim)

    def iter_feature_chunks(self, dataset: str, config_key: str, dim: int,
                            chunk_rows: int = 50_000) -> Iterator[np.ndarray]:
        """Stream a dataset's features in ordinal ranges so memory stays bounded whatever n is."""
        table = self._feature_table(dim)
        top = self.query("SELECT coalesce(max(ordinal) + 1, 0) FROM samples WHERE dataset = ?", [dataset])[0][0]
        for start in range(0, top, chunk_rows):
            cur = self.cursor()
            try:
                res = cur.execute(
                    f"SELECT f.vec FROM samples s JOIN {table} f ON f.content_hash = s.content_hash "
                    f"AND f.config_key = ? WHERE s.dataset = ? AND s.ordinal >= ? AND s.ordinal < ?",
                    [config_key, dataset, start, start + chunk_rows]).fetchnumpy()
            finally:
                cur.close()
            if len(res["vec"]):
                yield _stack_vectors(res["vec"], dim)

    def features_by_hash(self, config_key: str, dim: int, hashes: list[str]) -> dict[str, np.ndarray]:
        if not hashes:
            return {}
        cur = self.cursor()
        try:
            res = cur.execute(f"SELECT content_hash, vec FROM {self._feature_table(dim)} WHERE config_key = ? "
                              f"AND content_hash IN (SELECT unnest(?))", [config_key, hashes]).fetchnumpy()
        finally:
            cur.close()
        vecs = _stack_vectors(res["vec"], dim)
        return {str(h): v for h, v in zip(res["content_hash"], vecs)}

    # ---- scores and small cached values ----------------------------------------------------------------------

    def save_score(self, dataset: str, config_key: str, metric: str, value: float, n: int, q: float = 1.0) -> None:
        self.query("INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [dataset, config_key, metric, q, value, n, time.time()])

    def get_score(self, dataset: str, config_key: str, metric: str, q: float = 1.0) -> tuple[float, int] | None:
        rows = self.query("SELECT value, n FROM scores WHERE dataset = ? AND config_key = ? AND metric = ? AND q = ?",
                          [dataset, config_key, metric, q])
        return (rows[0][0], rows[0][1]) if rows else None

    def scores_for(self, dataset: str) -> list[dict]:
        rows = self.query("SELECT config_key, metric, q, value, n, computed_at FROM scores WHERE dataset = ? "
                          "ORDER BY computed_at DESC", [dataset])
        return [dict(zip(("config_key", "metric", "q", "value", "n", "computed_at"), r)) for r in rows]

    def cache_get(self, key: str):
        rows = self.query("SELECT value FROM kv_cache WHERE key = ?", [key])
        return json.loads(rows[0][0]) if rows else None

    def cache_put(self, key: str, value) -> None:
        self.query("INSERT OR REPLACE INTO kv_cache VALUES (?, ?, ?)", [key, json.dumps(value), time.time()])


def _stack_vectors(column, dim: int) -> np.ndarray:
    """DuckDB's fetchnumpy gives FLOAT[d] as an object array of arrays (or a 2-D array): make it n x d float32."""
    if len(column) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    arr = np.asarray(column)
    if arr.dtype != object and arr.ndim == 2:
        return arr.astype(np.float32, copy=False)
    return np.stack(list(column)).astype(np.float32, copy=False)
