"""Ingest: recognise prompt/response shapes, keep good rows, report bad ones by line.

Reading files is core/data/readers.py; this file turns raw rows into samples one at a time (`RowValidator`), so a
file of any size streams through in batches (`sample_batches`), and keeps the small-input API (`ingest_file`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.data.readers import BadRecord, FileReader, IngestError, ReadLimits

__all__ = ["KNOWN_SHAPES", "BadRow", "IngestError", "IngestReport", "IngestSummary", "RowValidator", "Sample",
           "content_hash", "detect_shape", "ingest_file", "ingest_rows", "parse_mapping", "sample_batches"]

# (prompt column, response column) pairs recognised without a mapping, in order of preference.
KNOWN_SHAPES: tuple[tuple[str, str], ...] = (
    ("prompt", "response"),
    ("prompt", "completion"),
    ("instruction", "output"),
    ("question", "answer"),
    ("problem", "solution"),
)
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


@dataclasses.dataclass(frozen=True)
class Shape:
    name: str  # "question/answer", "messages" or "mapping"
    prompt: str = ""  # the row's own column names ('Question ' matches question)
    response: str = ""


def detect_shape(columns: Iterable[Any]) -> Shape | None:
    """The first known shape among the columns, matched ignoring case and surrounding spaces."""
    keys: dict[str, str] = {}
    for col in columns:
        if isinstance(col, str):
            keys.setdefault(col.strip().lower(), col)
    if "messages" in keys:
        return Shape("messages", keys["messages"])
    for p, r in KNOWN_SHAPES:
        if p in keys and r in keys:
            return Shape(f"{p}/{r}", keys[p], keys[r])
    return None


def _as_text(value: Any, field: str) -> str:
    if isinstance(value, bytes):  # Parquet binary columns often hold text
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"field {field!r} holds bytes that are not UTF-8 text") from None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"missing field {field!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"field {field!r} has type {_type_name(value)}, expected text")
    text = str(value)
    if not text.strip():
        raise ValueError(f"empty field {field!r}")
    return text


def _type_name(value: Any) -> str:
    return {type(None): "null", dict: "object", list: "array"}.get(type(value), type(value).__name__)


def _from_messages(messages: Any) -> tuple[str, str]:
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list of {role, content}")
    for m in messages:
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError("each message needs 'role' and 'content'")
    last_assistant = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last_assistant is None:
        raise ValueError("'messages' has no assistant turn")
    response = _as_text(messages[last_assistant]["content"], "assistant content")
    before = messages[:last_assistant]
    if not before:
        raise ValueError("'messages' has no turn before the last assistant turn")
    if len(before) == 1:
        prompt = _as_text(before[0]["content"], "user content")
    else:  # keep the multi-turn context readable and stable
        prompt = "\n\n".join(f"{m['role']}: {_as_text(m['content'], str(m['role']) + ' content')}" for m in before)
    return prompt, response


def _extract(row: dict, shape: Shape) -> tuple[str, str, set]:
    if shape.name == "messages":
        return (*_from_messages(row.get(shape.prompt)), {shape.prompt})
    missing = [c for c in (shape.prompt, shape.response) if c not in row]
    if missing:
        label = "column(s)" if shape.name == "mapping" else "field"
        raise ValueError(f"missing {label} {', '.join(map(repr, missing))}")
    return _as_text(row[shape.prompt], shape.prompt), _as_text(row[shape.response], shape.response), \
        {shape.prompt, shape.response}


def _meta(row: dict, used: set) -> tuple[dict, str]:
    """The row's other fields and their strict-JSON text: values JSON cannot hold are dropped, NaN/Infinity
    become null (DuckDB's JSON type refuses them), and a lone surrogate anywhere makes the row bad."""
    meta = {k: v for k, v in row.items() if k not in used}
    try:
        text = json.dumps(meta, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        meta = {k: _finite(v) for k, v in meta.items() if _jsonable(v)}
        text = json.dumps(meta, ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            bad = next(k for k in meta if not _encodable(json.dumps({k: meta[k]}, ensure_ascii=False)))
            raise ValueError(f"field {bad!r} holds a lone surrogate (e.g. \\ud800): not valid Unicode") from None
    return meta, text


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _utf8(text: str, field: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"field {field!r} holds a lone surrogate ({text[exc.start]!a} at character "
                         f"{exc.start + 1}): not valid Unicode") from None


def _usable_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _unique_id(sid: str, chash: str, taken: set[str]) -> str:
    candidates = itertools.chain((f"{sid}~{chash[:8]}", f"{sid}~{chash}"), (f"{sid}~{k}" for k in itertools.count(1)))
    return next(s for s in candidates if s not in taken)


class RowValidator:
    """Raw rows in, samples out, one at a time. It remembers a 16-byte digest and the id of every kept row (exact
    duplicates and repeated ids are found across the whole file: ~200 bytes a row), and the first bad rows and
    duplicates for the report."""

    def __init__(self, *, mapping: dict[str, str] | None = None, source: str = "rows", keep: int = MAX_LISTED):
        self.source = source
        self.keep = keep
        self.shape = Shape("mapping", mapping["prompt"], mapping["response"]) if mapping else None
        self.id_col = (mapping or {}).get("id", "id")
        self.n = self.n_bad = self.n_duplicates = 0
        self.bad_rows: list[BadRow] = []
        self.duplicates: list[tuple[int, str]] = []
        self._seen: dict[bytes, str] = {}
        self._ids: set[str] = set()

    def check(self, line: int, row: Any) -> Sample | None:
        if isinstance(row, (BadRecord, Exception)):
            return self._bad(line, row.reason if isinstance(row, BadRecord) else str(row))
        if not isinstance(row, dict):
            return self._bad(line, f"expected an object, got {_type_name(row)}")
        if self.shape is None:
            self.shape = detect_shape(row)
            if self.shape is None:
                return self._bad(line, "no recognised prompt/response fields")
        try:
            prompt, response, used = _extract(row, self.shape)
            digest = _digest(_utf8(prompt, self.shape.prompt or "prompt"),
                             _utf8(response, self.shape.response or "response"))
            meta, meta_json = _meta(row, used | {self.id_col})
            raw_id = row.get(self.id_col)
            sid = str(raw_id) if _usable_id(raw_id) and str(raw_id).strip() else ""
            _utf8(sid, self.id_col)
        except ValueError as exc:
            return self._bad(line, str(exc))
        if digest in self._seen:
            self.n_duplicates += 1
            if len(self.duplicates) < self.keep:
                self.duplicates.append((line, self._seen[digest]))
            return None
        chash = digest.hex()
        sid = sid or chash[:16]
        if sid in self._ids:  # a repeated id with other content: keep the row, make its id unique
            sid = _unique_id(sid, chash, self._ids)
        self._ids.add(sid)
        self._seen[digest] = sid
        self.n += 1
        return Sample(sid, prompt, response, chash, meta, meta_json)

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
                raise IngestError(f"{self.source}: the file holds no rows")
            hint = "" if self.shape else (" — expected one of: messages, "
                                          + ", ".join(f"{p}/{r}" for p, r in KNOWN_SHAPES) + "; or give a column mapping")
            raise IngestError(f"{self.source}: no valid rows{detail}{hint}")
        return IngestSummary(self.n, self.shape.name if self.shape else "unknown", self.n_bad, tuple(self.bad_rows),
                             self.n_duplicates, tuple(self.duplicates))


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
