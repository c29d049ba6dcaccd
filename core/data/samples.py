"""Datasets and their samples: written in one transaction per dataset, read back in file order; content hashes by
id; the small reads its callers need (ids in file order, rows by id, a view in ordinal chunks, counts), so that none
of them speaks SQL. Text search over the same table is sample_search.py."""
from __future__ import annotations

import contextlib
import json
import time
from typing import Iterator, Sequence

from core.data.ingest import IngestReport, Sample

BATCH_ROWS = 20_000  # rows per registered Arrow table: big enough for DuckDB, small enough for flat memory


class DatasetWriter:
    """Appends samples to a dataset inside the transaction dataset_writer opened; commit() makes it visible."""

    def __init__(self, cur, name: str, source: str, *, replacing: int | None = None):
        self._cur = cur
        self.name = name
        self.source = source
        self.n = 0
        self.committed = False
        self.replacing = replacing  # rows of the dataset being replaced (their ids in the temp table replaced_ids)

    def append(self, samples: Sequence[Sample]) -> None:
        import pyarrow as pa

        if not samples:
            return
        table = pa.table({
            "dataset": pa.array([self.name] * len(samples), pa.string()),
            "ordinal": pa.array(range(self.n, self.n + len(samples)), pa.int32()),
            "sample_id": [s.id for s in samples],
            "content_hash": [s.content_hash for s in samples],
            "prompt": [s.prompt for s in samples],
            "response": [s.response for s in samples],
            "meta": [s.meta_json if s.meta_json is not None else json.dumps(s.meta, ensure_ascii=False)
                     for s in samples],
            "source_line": pa.array([s.line for s in samples], pa.int32()),
        })
        # A registered table stays referenced until the transaction ends (1M rows: +400 MB held); a reader over
        # its batches is consumed by the INSERT and frees each batch as it goes.
        reader = pa.RecordBatchReader.from_batches(table.schema, iter(table.to_batches()))
        del table
        self._cur.register("incoming_samples", reader)
        try:
            self._cur.execute("INSERT INTO samples (dataset, ordinal, sample_id, content_hash, prompt, response, meta, "
                              "source_line) SELECT dataset, ordinal, sample_id, content_hash, prompt, response, "
                              "CAST(meta AS JSON), source_line FROM incoming_samples")
        finally:
            self._cur.unregister("incoming_samples")
        self.n += len(samples)

    def commit(self, rejected_rows: int, report: dict) -> None:
        """Make the dataset visible. Tags and exclusions follow the ids: kept for ids still in the dataset, dropped
        for ids that went (their undo then acts on the ids that remain); on a replace, `report` gains "replaced":
        how many ids went and how many exclusions and tags went with them."""
        dropped = self._drop_marks_of_gone_ids()
        if self.replacing is not None:
            gone = self._cur.execute("SELECT count(*) FROM replaced_ids r WHERE NOT EXISTS (SELECT 1 FROM samples s "
                                     "WHERE s.dataset = ? AND s.sample_id = r.sample_id)", [self.name]).fetchall()[0][0]
            report["replaced"] = {"rows_before": self.replacing, "ids_gone": gone,
                                  "exclusions_dropped": dropped.get("exclude", 0), "tags_dropped": dropped.get("tag", 0)}
            self._cur.execute("DROP TABLE replaced_ids")
        self._cur.execute("INSERT INTO datasets (name, source, created_at, n_samples, rejected_rows, report, "
                          "content_fp) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [self.name, self.source, time.time(), self.n, rejected_rows, json.dumps(report),
                           content_fingerprint(self._cur, self.name)])
        refresh_kept_fp(self._cur, self.name)  # exclusions (kept by id) now describe the new rows
        # a replaced dataset's scores described other rows: they go with it (maps are keyed by content already)
        self._cur.execute("DELETE FROM scores WHERE dataset = ? AND coalesce(content_fp, '') NOT IN (SELECT "
                          "content_fp FROM datasets WHERE name = ? UNION ALL SELECT kept_fp FROM datasets WHERE "
                          "name = ? AND kept_fp IS NOT NULL)", [self.name, self.name, self.name])
        self._cur.execute("COMMIT")
        self.committed = True


    def _drop_marks_of_gone_ids(self) -> dict[str, int]:
        """Delete the marks of ids the dataset no longer has; {kind: marks deleted}."""
        gone = ("FROM marks m WHERE m.dataset = ? AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.dataset = m.dataset "
                "AND s.sample_id = m.sample_id)")
        counts = dict(self._cur.execute(f"SELECT m.kind, count(*) {gone} GROUP BY m.kind", [self.name]).fetchall())
        if counts:
            self._cur.execute(f"DELETE {gone}", [self.name])
        return counts


VIEWS = ("kept", "all")  # a dataset's rows without the excluded ones (the default everywhere), or all of them


def in_view(view: str, alias: str = "s") -> str:
    """SQL condition keeping a samples row (as `alias`) in the view: every row, or every row not excluded."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    if view == "all":
        return "TRUE"
    return (f"NOT EXISTS (SELECT 1 FROM marks m WHERE m.dataset = {alias}.dataset AND m.sample_id = "
            f"{alias}.sample_id AND m.kind = 'exclude')")


def content_fingerprint(cur, dataset: str, view: str = "all") -> str:
    """An order-independent hash of the dataset's (id, content hash) pairs: what every cached result of the
    dataset (scores, maps, summaries) is keyed by, so an edit anywhere in the data, a replace or an exclusion never
    reuses a stale result. Sums of two salted 64-bit row hashes and the count, computed in DuckDB in one scan."""
    import hashlib

    n, a, b = cur.execute("SELECT count(*), sum(hash(sample_id || chr(31) || content_hash)), "
                          "sum(hash(content_hash || chr(30) || sample_id)) FROM samples s WHERE dataset = ? AND "
                          f"{in_view(view)}", [dataset]).fetchall()[0]
    return hashlib.sha256(f"{n}:{a}:{b}".encode()).hexdigest()[:16]


def refresh_kept_fp(cur, dataset: str) -> None:
    """The kept rows' fingerprint, or NULL when nothing is excluded (then it is the dataset's own)."""
    n = cur.execute("SELECT count(*) FROM marks WHERE dataset = ? AND kind = 'exclude'", [dataset]).fetchall()[0][0]
    fp = content_fingerprint(cur, dataset, "kept") if n else None
    cur.execute("UPDATE datasets SET kept_fp = ? WHERE name = ?", [fp, dataset])


class SampleTables:
    """Mixin of Store: the datasets and samples tables (self.query / self.cursor come from Store)."""

    # ---- datasets and samples -------------------------------------------------------------------------------

    def dataset_names(self) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM datasets ORDER BY created_at")]

    def has_dataset(self, name: str) -> bool:
        return bool(self.query("SELECT 1 FROM datasets WHERE name = ?", [name]))

    def save_dataset(self, name: str, report: IngestReport, *, source: str, replace: bool = False,
                     extra: dict | None = None) -> None:
        """Write a dataset read into memory: one transaction, so a crash leaves it either whole or absent."""
        with self.dataset_writer(name, source=source, replace=replace) as writer:
            for start in range(0, len(report.samples), BATCH_ROWS):
                writer.append(report.samples[start:start + BATCH_ROWS])
            writer.commit(report.to_summary().n_bad, report.summary() | (extra or {}))

    @contextlib.contextmanager
    def dataset_writer(self, name: str, *, source: str, replace: bool = False) -> Iterator["DatasetWriter"]:
        """A dataset written batch by batch inside ONE transaction: until writer.commit() nothing is visible, and
        an error, a Ctrl-C or a kill before it leaves the workspace as it was (an old dataset replaced included)."""
        cur = self.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                replacing = None
                if self._dataset_exists(cur, name):
                    if not replace:
                        raise ValueError(f"a dataset named {name!r} exists already")
                    # the old ids, to tell how many went (this cursor's own temp table, gone with a rollback)
                    cur.execute("CREATE TEMP TABLE replaced_ids AS SELECT sample_id FROM samples WHERE dataset = ?",
                                [name])
                    replacing = cur.execute("SELECT count(*) FROM replaced_ids").fetchall()[0][0]
                    cur.execute("DELETE FROM samples WHERE dataset = ?", [name])
                    cur.execute("DELETE FROM datasets WHERE name = ?", [name])
                writer = DatasetWriter(cur, name, source, replacing=replacing)
                yield writer
                if not writer.committed:
                    raise RuntimeError("dataset_writer left without commit(): nothing was written")
            except BaseException:
                with contextlib.suppress(Exception):  # never hide the error that got us here
                    cur.execute("ROLLBACK")
                raise
        finally:
            cur.close()

    @staticmethod
    def _dataset_exists(cur, name: str) -> bool:
        return bool(cur.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchall())

    def fingerprint(self, name: str, view: str = "kept") -> str:
        """The fingerprint of the dataset's rows in the view (content_fingerprint): stored at ingest, and for the
        kept rows updated by every exclusion (marks.py); filled in for workspaces older than that."""
        rows = self.query("SELECT content_fp, kept_fp FROM datasets WHERE name = ?", [name])
        if not rows:
            raise KeyError(f"no dataset named {name!r} in {self.path}")
        if view == "kept" and rows[0][1]:
            return rows[0][1]
        if rows[0][0]:
            return rows[0][0]
        cur = self.cursor()
        try:
            fp = content_fingerprint(cur, name)
        finally:
            cur.close()
        self.query("UPDATE datasets SET content_fp = ? WHERE name = ?", [fp, name])
        return fp

    def dataset_info(self, name: str) -> dict:
        rows = self.query("SELECT name, source, created_at, n_samples, rejected_rows, report FROM datasets "
                          "WHERE name = ?", [name])
        if not rows:
            raise KeyError(f"no dataset named {name!r} in {self.path}")
        name, source, created, n, rejected, report = rows[0]
        return {"name": name, "source": source, "created_at": created, "n": n, "rejected_rows": rejected,
                "report": json.loads(report) if report else {}}

    def hashes_of(self, name: str, ids: list[str]) -> list[str]:
        """The content hashes of these rows of the dataset (rows not in it are skipped)."""
        return list(self.content_hashes(name, list(ids)).values())

    def content_hashes(self, name: str, ids: list[str] | None = None) -> dict[str, str]:
        """id -> content hash of the dataset's rows (any view), or of those of `ids` it holds (others are left out)."""
        if ids is None:
            return dict(self.query("SELECT sample_id, content_hash FROM samples WHERE dataset = ?", [name]))
        if not ids:
            return {}
        return dict(self.query("SELECT sample_id, content_hash FROM samples WHERE dataset = ? AND sample_id IN "
                               "(SELECT unnest(?))", [name, list(ids)]))

    def samples(self, name: str, view: str = "kept") -> list[Sample]:
        rows = self.query("SELECT sample_id, prompt, response, content_hash, meta FROM samples s WHERE dataset = ? "
                          f"AND {in_view(view)} ORDER BY ordinal", [name])
        return [Sample(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else {}) for r in rows]

    def samples_frame(self, name: str, view: str = "kept"):
        """Samples as a pandas DataFrame (id, prompt, response, content_hash, meta columns flattened)."""
        import pandas as pd

        cur = self.cursor()
        try:
            frame = cur.execute("SELECT sample_id AS id, prompt, response, content_hash, meta FROM samples s "
                                f"WHERE dataset = ? AND {in_view(view)} ORDER BY ordinal", [name]).df()
        finally:
            cur.close()
        meta = pd.DataFrame([json.loads(m) if m else {} for m in frame.pop("meta")])
        for col in meta.columns:
            if col not in frame.columns:
                frame[col] = meta[col].values
        return frame

    def sample_ids(self, dataset: str) -> list[str]:
        """Every row's id, in file order (any view)."""
        return [r[0] for r in self.query("SELECT sample_id FROM samples WHERE dataset = ? ORDER BY ordinal",
                                         [dataset])]

    def positions(self, dataset: str, ids: list[str]) -> dict[str, int]:
        """id -> the row's 1-based position in the dataset as ingested (its file order), for the ids it holds."""
        if not ids:
            return {}
        return {r[0]: int(r[1]) + 1 for r in self.query(
            "SELECT sample_id, ordinal FROM samples WHERE dataset = ? AND sample_id IN (SELECT unnest(?))",
            [dataset, list(ids)])}

    def source_lines(self, dataset: str, ids: list[str]) -> dict[str, int]:
        """id -> the row's line in its source file (ingest.Sample.line: a JSONL's line, so a blank or bad line before
        it counts; a CSV's line with the header as 1; a Parquet file's row), for the ids the dataset holds; a row
        stored without one (a workspace older than the column, rows written by code) gives its 1-based position."""
        if not ids:
            return {}
        return {r[0]: int(r[1]) for r in self.query(
            "SELECT sample_id, coalesce(source_line, ordinal + 1) FROM samples WHERE dataset = ? AND sample_id IN "
            "(SELECT unnest(?))", [dataset, list(ids)])}

    def id_at_line(self, dataset: str, line: int) -> str | None:
        """The id of the row a name 'row N' names (source_lines' N: its source line, else its position), or None."""
        rows = self.query("SELECT sample_id FROM samples WHERE dataset = ? AND coalesce(source_line, ordinal + 1) = ? "
                          "ORDER BY ordinal LIMIT 1", [dataset, int(line)])
        return rows[0][0] if rows else None

    def rows_by_id(self, dataset: str, ids: list[str]) -> dict[str, Sample]:
        """id -> its Sample, for the ids the dataset holds (any view: an excluded row still has its text)."""
        if not ids:
            return {}
        rows = self.query("SELECT sample_id, prompt, response, content_hash, meta FROM samples WHERE dataset = ? AND "
                          "sample_id IN (SELECT unnest(?))", [dataset, list(ids)])
        return {r[0]: Sample(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else {}) for r in rows}

    def sample_chunks(self, dataset: str, view: str = "kept", chunk: int = 10_000) -> Iterator[list[Sample]]:
        """The view's rows in file order, as one list per `chunk` ordinals (a list may be shorter, or empty when
        every row of its span is excluded): a dataset of any size in bounded memory."""
        top = self.query("SELECT coalesce(max(ordinal) + 1, 0) FROM samples WHERE dataset = ?", [dataset])[0][0]
        for start in range(0, top, chunk):
            rows = self.query("SELECT sample_id, prompt, response, content_hash, meta FROM samples s WHERE dataset = ? "
                              f"AND ordinal >= ? AND ordinal < ? AND {in_view(view)} ORDER BY ordinal",
                              [dataset, start, start + chunk])
            yield [Sample(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else {}) for r in rows]

    def count_rows(self, dataset: str, view: str = "kept") -> int:
        """How many of the dataset's rows the view holds."""
        return int(self.query(f"SELECT count(*) FROM samples s WHERE dataset = ? AND {in_view(view)}",
                              [dataset])[0][0])

    def mean_prompt_chars(self, dataset: str) -> float | None:
        """The mean length of the dataset's prompts in characters (every row), None without rows."""
        return self.query("SELECT avg(length(prompt)) FROM samples WHERE dataset = ?", [dataset])[0][0]
