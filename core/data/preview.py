"""The upload preview: the columns and first good rows of a file, read through the same readers as ingest, so a
file that ingest handles never breaks the preview."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from core.data.ingest import detect_shape
from core.data.readers import BadRecord, FileReader, IngestError, ReadLimits

MAX_CELL_CHARS = 500  # a 10 MB field is fine to ingest, not to draw in a table
MAX_SCANNED = 1_000  # records looked at before giving up on finding `limit` good ones


@dataclasses.dataclass(frozen=True)
class Preview:
    columns: list[str]
    rows: list[dict]  # display-safe: valid Unicode, long text cut
    skipped: int  # malformed records met before the rows were found
    shape: str | None  # the shape ingest would detect from the columns, None: a mapping is needed

    def __iter__(self):  # `columns, rows = peek_columns(path)` keeps working for callers of the old tuple
        return iter((self.columns, self.rows))

    @property
    def note(self) -> str:
        return f"{self.skipped} malformed line(s) skipped in this preview" if self.skipped else ""


def peek_columns(path: str | Path, *, limit: int = 5, display_name: str | None = None) -> Preview:
    """The first `limit` readable rows (objects) and their columns; IngestError when the file cannot be read."""
    columns: list[str] = []
    rows: list[dict] = []
    skipped = 0
    with FileReader(path, name=display_name, limits=ReadLimits(parquet_batch_rows=limit)) as reader:
        for scanned, (_, row) in enumerate(reader.records(), start=1):
            if isinstance(row, BadRecord) or not isinstance(row, dict) or not _displayable(row):
                skipped += 1
            else:
                columns.extend(str(k) for k in row if str(k) not in columns)
                rows.append({str(k): _cell(v) for k, v in row.items()})
            if len(rows) >= limit or scanned >= MAX_SCANNED:
                break
    if not rows and not skipped:  # nothing at all: say so, rather than a preview and a mapping form of nothing
        raise IngestError(f"{reader.name} is empty: it holds no rows"
                          + (" (0 bytes)" if reader.bytes_total == 0 else " (only a header or blank lines)"))
    shape = detect_shape(columns)
    return Preview(columns, rows, skipped, shape.name if shape else None)


def _displayable(row: dict) -> bool:
    """A row the table can show: no lone surrogate (Arrow would refuse to encode it)."""
    try:
        json.dumps(row, ensure_ascii=False, default=str).encode("utf-8")
        return True
    except (UnicodeEncodeError, ValueError, RecursionError):
        return False


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + f"… ({len(text):,} characters)"
