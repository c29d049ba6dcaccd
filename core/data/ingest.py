"""Ingest: recognise prompt/response shapes, keep good rows, report bad ones by line.

Reading files is core/data/readers.py; this file turns raw rows into samples one at a time (`RowValidator`), so a
file of any size streams through in batches (`sample_batches`), and keeps the small-input API (`ingest_file`).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.data.readers import BadRecord, FileReader, IngestError, ReadLimits
from core.data.rows import (KNOWN_SHAPES, Shape, detect_shape, extract, meta_fields, type_name, unique_id, usable_id,
                            utf8)

__all__ = ["KNOWN_SHAPES", "BadRow", "IngestError", "IngestReport", "IngestSummary", "RowValidator", "Sample",
           "content_hash", "detect_shape", "ingest_file", "ingest_rows", "parse_mapping", "sample_batches"]

MAX_LISTED = 200  # bad rows and duplicates listed in a report; the counts are always complete


@dataclasses.dataclass(frozen=True)
class Sample:
    id: str
    prompt: str
    response: str
    content_hash: str
    meta: dict[str, Any]
    # meta as stored (strict JSON), computed once during validation; derived, so not part of equality
    meta_json: str | None = dataclasses.field(default=None, compare=False, repr=False)
    # where the record sits in its source file (as BadRow.line: a JSONL's 1-based line, a JSON array's or CSV's line
    # where the record starts, the header being line 1; a Parquet file's 1-based row); None for rows made by code
    line: int | None = dataclasses.field(default=None, compare=False)


@dataclasses.dataclass(frozen=True)
class BadRow:
    line: int  # 1-based line where the record starts (JSONL, CSV incl. header, JSON array) or row number (Parquet)
    reason: str


@dataclasses.dataclass(frozen=True)
class IngestSummary:
    """What a report says about a file without holding its samples: counts, and the first bad rows/duplicates."""

    n: int
    shape: str
    n_bad: int
    bad_rows: tuple[BadRow, ...]
    n_duplicates: int
    duplicates: tuple[tuple[int, str], ...]  # (line, id of the first row with the same content)

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "rejected_rows": self.n_bad,
            "duplicates": self.n_duplicates,
            "shape": self.shape,
            "bad_rows": [dataclasses.asdict(b) for b in self.bad_rows[:MAX_LISTED]],
            "duplicate_rows": [{"line": line, "first_id": sid} for line, sid in self.duplicates[:MAX_LISTED]],
        }


@dataclasses.dataclass(frozen=True)
class IngestReport:
    """A small file read into memory: its samples, and its bad rows and duplicates (the first MAX_LISTED of each
    when counts are given)."""

    samples: list[Sample]
    bad_rows: list[BadRow]
    duplicates: list[tuple[int, str]]  # (line, id of the first row with the same content)
    shape: str  # e.g. "question/answer" or "messages" or "mapping"
    n_truncated: int = 0
    n_bad: int | None = None  # None: len(bad_rows)
    n_duplicates: int | None = None  # None: len(duplicates)

    def to_summary(self) -> IngestSummary:
        return IngestSummary(len(self.samples), self.shape,
                             len(self.bad_rows) if self.n_bad is None else self.n_bad, tuple(self.bad_rows),
                             len(self.duplicates) if self.n_duplicates is None else self.n_duplicates,
                             tuple(self.duplicates))

    def summary(self) -> dict:
        return self.to_summary().to_json()


def content_hash(prompt: str, response: str) -> str:
    """What a feature depends on: the text of the prompt and the response, nothing else."""
    return _digest(prompt.encode("utf-8"), response.encode("utf-8")).hex()


def _digest(prompt: bytes, response: bytes) -> bytes:
    h = hashlib.sha256(prompt)
    h.update(b"\x00\x1f")
    h.update(response)
    return h.digest()[:16]  # 32 hex digits: the content_hash


def parse_mapping(text: str | None) -> dict[str, str] | None:
    """'prompt=COL,response=COL' -> {"prompt": COL, "response": COL}."""
    if not text:
        return None
    mapping = {}
    for part in text.split(","):
        if "=" not in part:
            raise IngestError(f"bad mapping entry {part!r}: expected role=COLUMN")
        role, col = (s.strip() for s in part.split("=", 1))
        if role not in ("prompt", "response", "id"):
            raise IngestError(f"unknown role {role!r} in mapping: use prompt, response or id")
        mapping[role] = col
    if "prompt" not in mapping or "response" not in mapping:
        raise IngestError("a mapping needs both prompt=COL and response=COL")
    return mapping


class RowValidator:
    """Raw rows in, samples out, one at a time. It remembers a 16-byte digest and the id of every kept row (exact
    duplicates and repeated ids are found across the whole file: ~200 bytes a row), and the first bad rows and
    duplicates for the report."""

    def __init__(self, *, mapping: dict[str, str] | None = None, source: str = "rows", keep: int = MAX_LISTED):
        self.source = source
        self.keep = keep
        self.shape = Shape("mapping", mapping["prompt"], mapping["response"]) if mapping else None
        self.id_col = (mapping or {}).get("id", "id")
        if mapping:
            check_text_mapping(mapping, source)
        self.prompt_has_text = False  # a letter in some kept prompt: else a mapped 'prompt' column is not text
        self.n = self.n_bad = self.n_duplicates = 0
        self.bad_rows: list[BadRow] = []
        self.duplicates: list[tuple[int, str]] = []
        self._seen: dict[bytes, str] = {}
        self._ids: set[str] = set()

    def check(self, line: int, row: Any) -> Sample | None:
        if isinstance(row, (BadRecord, Exception)):
            return self._bad(line, row.reason if isinstance(row, BadRecord) else str(row))
        if not isinstance(row, dict):
            return self._bad(line, f"expected an object, got {type_name(row)}")
        if self.shape is None:
            self.shape = detect_shape(row)
            if self.shape is None:
                return self._bad(line, "no recognised prompt/response fields")
        try:
            prompt, response, used = extract(row, self.shape)
            digest = _digest(utf8(prompt, self.shape.prompt or "prompt"),
                             utf8(response, self.shape.response or "response"))
            meta, meta_json = meta_fields(row, used | {self.id_col})
            raw_id = row.get(self.id_col)
            sid = str(raw_id) if usable_id(raw_id) and str(raw_id).strip() else ""
            utf8(sid, self.id_col)
        except ValueError as exc:
            return self._bad(line, str(exc))
        if digest in self._seen:
            self.n_duplicates += 1
            if len(self.duplicates) < self.keep:
                self.duplicates.append((line, self._seen[digest]))
            return None
        if not self.prompt_has_text:
            self.prompt_has_text = any(c.isalpha() for c in prompt)
        chash = digest.hex()
        sid = sid or chash[:16]
        if sid in self._ids:  # a repeated id with other content: keep the row, make its id unique
            sid = unique_id(sid, chash, self._ids)
        self._ids.add(sid)
        self._seen[digest] = sid
        self.n += 1
        return Sample(sid, prompt, response, chash, meta, meta_json, line)

    def _bad(self, line: int, reason: str) -> None:
        self.n_bad += 1
        if len(self.bad_rows) < self.keep:
            self.bad_rows.append(BadRow(line, reason))
        return None

    def summary(self) -> IngestSummary:
        """The report once every row is checked; a file without a single valid row is an IngestError."""
        if not self.n:
            bad = self.bad_rows
            detail = f" ({self.n_bad} bad rows; first: line {bad[0].line}: {bad[0].reason})" if bad else ""
            if self.shape is None and not bad:
                raise IngestError(f"{self.source} is empty: the file holds no rows")
            hint = "" if self.shape else (" — expected one of: messages, "
                                          + ", ".join(f"{p}/{r}" for p, r in KNOWN_SHAPES) + "; or give a column mapping")
            raise IngestError(f"{self.source}: no valid rows{detail}{hint}")
        if not self.prompt_has_text and self.shape and self.shape.name == "mapping":  # a known shape names its text
            column = self.shape.prompt
            raise IngestError(f"{self.source}: the prompt column {column!r} holds no text in any of its {self.n} "
                              "rows (numbers or symbols only): map a column of text as the prompt")
        return IngestSummary(self.n, self.shape.name if self.shape else "unknown", self.n_bad, tuple(self.bad_rows),
                             self.n_duplicates, tuple(self.duplicates))


def check_text_mapping(mapping: dict[str, str], source: str = "rows") -> None:
    """A mapping must name two text columns: the same column twice, or the rows' id column as text, is refused."""
    prompt, response, id_col = mapping["prompt"], mapping["response"], mapping.get("id", "id")
    if prompt == response:
        raise IngestError(f"{source}: the prompt and the response are both mapped to {prompt!r}: pick two columns")
    for role, col in (("prompt", prompt), ("response", response)):
        if col.strip().lower() == id_col.strip().lower():
            raise IngestError(f"{source}: {col!r} is the rows' id column, not text: map a column of text as the "
                              f"{role} (no text column is mapped)")


def sample_batches(records: Iterable[tuple[int, Any]], validator: RowValidator, *,
                   batch_rows: int = 20_000) -> Iterator[list[Sample]]:
    """Good samples in batches of batch_rows, in file order."""
    batch: list[Sample] = []
    for line, row in records:
        sample = validator.check(line, row)
        if sample is not None:
            batch.append(sample)
            if len(batch) >= batch_rows:
                yield batch
                batch = []
    if batch:
        yield batch


def ingest_rows(rows: Iterable[tuple[int, Any]], *, mapping: dict[str, str] | None = None,
                source: str = "rows") -> IngestReport:
    validator = RowValidator(mapping=mapping, source=source)
    samples = [s for batch in sample_batches(rows, validator) for s in batch]
    summary = validator.summary()
    return IngestReport(samples, list(summary.bad_rows), list(summary.duplicates), summary.shape,
                        n_bad=summary.n_bad, n_duplicates=summary.n_duplicates)


def __getattr__(name: str):
    """peek_columns moved to core.data.preview (which imports this module); the old import path still works."""
    if name == "peek_columns":
        from core.data.preview import peek_columns

        return peek_columns
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def ingest_file(path: str | Path, *, mapping: dict[str, str] | None = None, display_name: str | None = None,
                limits: ReadLimits = ReadLimits()) -> IngestReport:
    """Read a (small) file into memory; every bad row is reported with its line and reason, every good row kept.
    Big files go through core.data.datasets.ingest, which streams them into the store."""
    with FileReader(path, name=display_name, limits=limits) as reader:
        return ingest_rows(reader.records(), mapping=mapping, source=reader.name)
