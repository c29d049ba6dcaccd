"""The workspace store: one DuckDB file holding datasets, samples, feature configs, features, scores and jobs.

The class is assembled from one mixin per kind of table (samples.py, sample_search.py, vectors.py, ...); this file holds the connection,
the schema and the small key-value and score tables."""
from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from pathlib import Path

from core.config import workspace_dir
from core.data import schema
from core.data.audit import AuditReads
from core.data.dataset_admin import DatasetAdmin
from core.data.files import clean_workspace
from core.data.losses import LossTables
from core.data.maps import MapTables
from core.data.marks import MarkTables
from core.data.sample_search import SampleSearch
from core.data.samples import SampleTables
from core.data.synthesis_runs import SynthesisTables
from core.data.vectors import VectorTables

# Statements that write: they take the store's write lock (DuckDB answers two concurrent writers of one row with
# "Conflict on update"; one writer at a time never conflicts).
_WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|CHECKPOINT)\b", re.IGNORECASE)


class WorkspaceBusy(RuntimeError):
    """Another process holds the workspace's DuckDB file (DuckDB allows one writer process)."""


class Store(SampleTables, SampleSearch, VectorTables, MarkTables, LossTables, SynthesisTables, MapTables, AuditReads,
            DatasetAdmin):
    """Thread-safe facade over one DuckDB connection; each call takes its own cursor, and writes take one lock.

    Reads run concurrently (each on its own cursor); every write statement, and every transaction, holds the write
    lock: within the process that owns the workspace there is one writer at a time, so concurrent writes of the same
    key (two tabs, a job and the page, parallel request threads) queue instead of failing."""

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
        self._write_lock = threading.RLock()
        with self._write_lock:
            # DuckDB's default cache is 80% of RAM: bound it, large work spills to disk instead
            limit = os.environ.get("PRISM_DUCKDB_MEMORY", "2GB")
            self._con.execute(f"SET memory_limit = '{limit}'")
            schema.create(self._con)
        clean_workspace(self.path.parent)  # temp files of writers killed earlier (uploads, artifacts, models)

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
        """Run one statement and fetch all its rows; a write holds the write lock while it runs."""
        lock = self._write_lock if _WRITES.match(sql) else contextlib.nullcontext()
        with lock:
            cur = self.cursor()
            try:
                return cur.execute(sql, params).fetchall()
            finally:
                cur.close()

    @contextlib.contextmanager
    def transaction(self):
        """A cursor inside BEGIN ... COMMIT (ROLLBACK on any error), holding the write lock throughout."""
        with self._write_lock:
            cur = self.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    yield cur
                except BaseException:
                    cur.execute("ROLLBACK")
                    raise
                cur.execute("COMMIT")
            finally:
                cur.close()

    # ---- scores and small cached values ----------------------------------------------------------------------

    def save_score(self, dataset: str, config_key: str, metric: str, value: float, n: int, q: float = 1.0, *,
                   view: str = "kept") -> None:
        """A score of the dataset's rows in the view as they are now (their fingerprint is stored with it)."""
        self.query("INSERT OR REPLACE INTO scores (dataset, config_key, metric, q, value, n, computed_at, content_fp) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [dataset, config_key, metric, q, value, n, time.time(), self.fingerprint(dataset, view)])

    def get_score(self, dataset: str, config_key: str, metric: str, q: float = 1.0, *,
                  view: str = "kept") -> tuple[float, int] | None:
        """(value, n) if it was computed on the view's current rows, else None."""
        rows = self.query("SELECT value, n FROM scores WHERE dataset = ? AND config_key = ? AND metric = ? AND q = ? "
                          "AND content_fp = ?", [dataset, config_key, metric, q, self.fingerprint(dataset, view)])
        return (rows[0][0], rows[0][1]) if rows else None

    def scores_for(self, dataset: str, *, view: str = "kept") -> list[dict]:
        """Every score of the view's current rows, newest first, with the identity of its features."""
        rows = self.query("SELECT s.config_key, s.metric, s.q, s.value, s.n, s.computed_at, c.identity FROM scores s "
                          "LEFT JOIN feature_configs c ON c.config_key = s.config_key WHERE s.dataset = ? "
                          "AND s.content_fp = ? ORDER BY s.computed_at DESC", [dataset, self.fingerprint(dataset, view)])
        keys = ("config_key", "metric", "q", "value", "n", "computed_at", "identity")
        return [dict(zip(keys, r[:-1] + (json.loads(r[-1]) if r[-1] else None,))) for r in rows]

    def cache_get(self, key: str):
        rows = self.query("SELECT value FROM kv_cache WHERE key = ?", [key])
        return json.loads(rows[0][0]) if rows else None

    def cache_put(self, key: str, value) -> None:
        self.query("INSERT OR REPLACE INTO kv_cache VALUES (?, ?, ?)", [key, json.dumps(value), time.time()])
