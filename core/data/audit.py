"""Audit reads: the counts that benches and fault checks use to verify an outcome, asked of the store instead of in
SQL of their own (bench/faults.py after each kill -9 and rerun, bench/ingest_scale.py, bench/ray_driver.py): rows
against distinct primary keys per table (a difference is a duplicated row), a dataset's rows against its distinct
ids, content hashes and prompts, how many of a dataset's rows have a feature row, which kv_cache keys and map keys
are stored.

The product itself never needs these questions (its tables' keys forbid duplicates); they are here so that a check
of the product reads the tables through the module that owns them, and so that no bench speaks SQL.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from core.data import schema

# the schema's tables, and the per-dimension feature tables (vectors.py) that exist once a config of that d registers
_SCHEMA_TABLES = frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", schema.TABLES))
_FEATURE_TABLE = re.compile(r"features_d\d+")


class KeyCounts(NamedTuple):
    """A table's rows, and how many distinct values of its primary key they hold."""

    rows: int
    distinct: int

    @property
    def duplicated(self) -> int:
        return self.rows - self.distinct


class SampleCounts(NamedTuple):
    """A dataset's rows in the samples table, and how many distinct ids, content hashes and prompts they hold."""

    rows: int
    ids: int
    hashes: int
    prompts: int


class AuditReads:
    """Mixin of Store: counts for checks of outcomes (self.query and self._feature_table come from Store)."""

    def _table_exists(self, table: str) -> bool:
        return bool(self.query("SELECT 1 FROM information_schema.tables WHERE table_name = ?", [table]))

    def key_counts(self, table: str) -> KeyCounts:
        """Rows of a schema table (or a features_d{d} table) and distinct values of its declared primary key;
        (0, 0) for a feature table not created yet. Another name is refused (ValueError)."""
        if table not in _SCHEMA_TABLES and not _FEATURE_TABLE.fullmatch(table):
            raise ValueError(f"not a table of the workspace schema: {table!r}")
        if not self._table_exists(table):
            return KeyCounts(0, 0)
        keys = self.query("SELECT constraint_column_names FROM duckdb_constraints() WHERE table_name = ? AND "
                          "constraint_type = 'PRIMARY KEY'", [table])
        if not keys:
            raise ValueError(f"table {table!r} declares no primary key")
        columns = ", ".join(f'"{c}"' for c in keys[0][0])
        rows, distinct = self.query(f'SELECT count(*), count(DISTINCT ({columns})) FROM "{table}"')[0]
        return KeyCounts(int(rows), int(distinct))

    def feature_key_counts(self, dim: int) -> KeyCounts:
        """key_counts of the dimension's feature table: its rows and distinct (config key, content hash) pairs, under
        every config of that dimension."""
        return self.key_counts(self._feature_table(dim))

    def sample_counts(self, dataset: str) -> SampleCounts:
        """The dataset's rows (any view) and their distinct ids, content hashes and prompts."""
        rows = self.query("SELECT count(*), count(DISTINCT sample_id), count(DISTINCT content_hash), "
                          "count(DISTINCT prompt) FROM samples WHERE dataset = ?", [dataset])[0]
        return SampleCounts(*(int(v) for v in rows))

    def featured_hashes(self, dataset: str, dim: int) -> int:
        """How many distinct content hashes of the dataset (any view) have a row in the dimension's feature table,
        under any config key; 0 before that table exists."""
        table = self._feature_table(dim)
        if not self._table_exists(table):
            return 0
        return int(self.query(f"SELECT count(DISTINCT s.content_hash) FROM samples s JOIN {table} f "
                              f"ON f.content_hash = s.content_hash WHERE s.dataset = ?", [dataset])[0][0])

    def cache_keys(self, prefix: str) -> list[str]:
        """The kv_cache keys that start with `prefix` (matched exactly: never LIKE, whose % and _ a key may hold), one
        per row, in key order."""
        return [r[0] for r in self.query("SELECT key FROM kv_cache WHERE starts_with(key, ?) ORDER BY key", [prefix])]

    def map_keys(self) -> list[str]:
        """The keys of the maps that have rows in map_rows, in key order."""
        return [r[0] for r in self.query("SELECT DISTINCT map_key FROM map_rows ORDER BY map_key")]
