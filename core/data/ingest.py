"""Ingest: read JSONL/CSV/Parquet, recognise prompt/response shapes, keep good rows, report bad ones by line."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any, Iterable, Iterator

# (prompt column, response column) pairs recognised without a mapping, in order of preference.
KNOWN_SHAPES: tuple[tuple[str, str], ...] = (
    ("prompt", "response"),
    ("prompt", "completion"),
    ("instruction", "output"),
    ("question", "answer"),
    ("problem", "solution"),
)


class IngestError(ValueError):
    """A file that cannot be ingested at all (unreadable, unknown shape, no valid rows)."""


@dataclasses.dataclass(frozen=True)
class Sample:
    id: str
    prompt: str
    response: str
    content_hash: str
    meta: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class BadRow:
    line: int  # 1-based line number in the file (JSONL, CSV incl. header) or row number + 1 (Parquet)
    reason: str


@dataclasses.dataclass(frozen=True)
class IngestReport:
    samples: list[Sample]
    bad_rows: list[BadRow]
    duplicates: list[tuple[int, str]]  # (line, id of the first row with the same content)
    shape: str  # e.g. "question/answer" or "messages" or "mapping"
    n_truncated: int = 0

    def summary(self) -> dict:
        return {
            "n": len(self.samples),
            "rejected_rows": len(self.bad_rows),
            "duplicates": len(self.duplicates),
            "shape": self.shape,
            "bad_rows": [dataclasses.asdict(b) for b in self.bad_rows[:200]],
        }


def content_hash(prompt: str, response: str) -> str:
    """What a feature depends on: the text of the prompt and the response, nothing else."""
    h = hashlib.sha256()
    h.update(prompt.encode("utf-8"))
    h.update(b"\x00\x1f")
    h.update(response.encode("utf-8"))
    return h.hexdigest()[:32]


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


def _read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, raw row or exception) so a bad row never stops the read."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield lineno, ValueError(f"not valid UTF-8 (byte {exc.start})")
                    continue
                try:
                    yield lineno, json.loads(text)
                except json.JSONDecodeError as exc:
                    yield lineno, ValueError(f"malformed JSON: {exc.msg} at column {exc.colno}")
    elif suffix in (".csv", ".tsv"):
        import csv
        import io

        data = path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        bad_lines = _non_utf8_lines(data)
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
        for row in reader:
            lineno = reader.line_num  # physical line where this record ended
            if lineno in bad_lines:
                yield lineno, ValueError("not valid UTF-8")
                continue
            if None in row:
                yield lineno, ValueError("more fields than the header has")
                continue
            yield lineno, row
    elif suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # a corrupt file is one clear error, not a traceback
            raise IngestError(f"cannot read Parquet file {path.name}: {exc}") from exc
        for i, row in enumerate(table.to_pylist(), start=1):
            yield i, row
    else:
        raise IngestError(f"unsupported file type {suffix!r}: use .jsonl, .csv or .parquet")


def _non_utf8_lines(data: bytes) -> set[int]:
    bad = set()
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(lineno)
    return bad


def _detect_shape(row: dict) -> str | None:
    if "messages" in row:
        return "messages"
    for p, r in KNOWN_SHAPES:
        if p in row and r in row:
            return f"{p}/{r}"
    return None


def _as_text(value: Any, field: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError(f"missing field {field!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"field {field!r} has type {type(value).__name__}, expected text")
    text = str(value)
    if not text.strip():
        raise ValueError(f"empty field {field!r}")
    return text


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
        prompt = "\n\n".join(f"{m['role']}: {_as_text(m['content'], m['role'] + ' content')}" for m in before)
    return prompt, response


def _extract(row: dict, shape: str, mapping: dict[str, str] | None) -> tuple[str, str, dict]:
    if mapping:
        missing = [c for c in (mapping["prompt"], mapping["response"]) if c not in row]
        if missing:
            raise ValueError(f"missing column(s) {', '.join(map(repr, missing))}")
        used = {mapping["prompt"], mapping["response"]}
        prompt = _as_text(row[mapping["prompt"]], mapping["prompt"])
        response = _as_text(row[mapping["response"]], mapping["response"])
    elif shape == "messages":
        prompt, response = _from_messages(row.get("messages"))
        used = {"messages"}
    else:
        p, r = shape.split("/")
        if p not in row or r not in row:
            raise ValueError(f"missing field {p if p not in row else r!r}")
        prompt, response = _as_text(row[p], p), _as_text(row[r], r)
        used = {p, r}
    meta = {k: v for k, v in row.items() if k not in used and _jsonable(v)}
    return prompt, response, meta


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def ingest_file(path: str | Path, *, mapping: dict[str, str] | None = None) -> IngestReport:
    """Read a file into samples; every bad row is reported with its line and reason, every good row kept."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"no such file: {path}")
    return ingest_rows(_read_rows(path), mapping=mapping, source=path.name)


def ingest_rows(rows: Iterable[tuple[int, Any]], *, mapping: dict[str, str] | None = None,
                source: str = "rows") -> IngestReport:
    samples: list[Sample] = []
    bad: list[BadRow] = []
    dups: list[tuple[int, str]] = []
    seen_content: dict[str, str] = {}
    seen_ids: set[str] = set()
    shape: str | None = "mapping" if mapping else None
    id_col = (mapping or {}).get("id", "id")
    for lineno, row in rows:
        if isinstance(row, Exception):
            bad.append(BadRow(lineno, str(row)))
            continue
        if not isinstance(row, dict):
            bad.append(BadRow(lineno, f"expected an object, got {type(row).__name__}"))
            continue
        if shape is None:
            shape = _detect_shape(row)
            if shape is None:
                bad.append(BadRow(lineno, "no recognised prompt/response fields"))
                continue
        try:
            prompt, response, meta = _extract(row, shape, mapping)
        except ValueError as exc:
            bad.append(BadRow(lineno, str(exc)))
            continue
        chash = content_hash(prompt, response)
        if chash in seen_content:
            dups.append((lineno, seen_content[chash]))
            continue
        raw_id = meta.pop(id_col, None) if id_col in meta else None
        sid = str(raw_id) if raw_id not in (None, "") else chash[:16]
        if sid in seen_ids:  # a repeated id with other content: keep the row, make its id unique
            sid = f"{sid}~{chash[:8]}"
        seen_ids.add(sid)
        seen_content[chash] = sid
        samples.append(Sample(sid, prompt, response, chash, meta))
    if not samples:
        detail = f" ({len(bad)} bad rows; first: line {bad[0].line}: {bad[0].reason})" if bad else ""
        if shape is None and not bad:
            raise IngestError(f"{source}: the file holds no rows")
        hint = "" if shape else (" — expected one of: messages, " + ", ".join(f"{p}/{r}" for p, r in KNOWN_SHAPES)
                                 + "; or give a column mapping")
        raise IngestError(f"{source}: no valid rows{detail}{hint}")
    return IngestReport(samples, bad, dups, shape or "unknown")


def peek_columns(path: str | Path, *, limit: int = 5) -> tuple[list[str], list[dict]]:
    """The columns and the first few good raw rows of a file, for a mapping preview."""
    cols: list[str] = []
    preview: list[dict] = []
    for _, row in _read_rows(Path(path)):
        if isinstance(row, dict):
            for k in row:
                if k not in cols:
                    cols.append(k)
            preview.append(row)
            if len(preview) >= limit:
                break
    return cols, preview
