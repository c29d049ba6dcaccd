"""CSV/TSV records through the csv module, one record at a time, where one broken record never takes others along.

The csv module parses; this file only feeds it lines and watches record boundaries. A record that the module
rejects (strict mode: a stray or unterminated quote) or that spans several lines with the wrong number of fields
(an opened quote that swallowed the lines after it) is reported at its first line, and its continuation lines are
fed again, so the records a runaway quote swallowed come back.
"""
from __future__ import annotations

import collections
import csv
from typing import Any, Iterator

from core.data.json_array import BadRecord

Line = tuple[int, str, "str | None"]  # (line number, text, problem such as 'not valid UTF-8')
DELIMITERS = (",", "\t", ";", "|")


class _RecordTooLong(Exception):
    pass


class _LineFeed:
    """The csv reader's input: lines from the file, or replayed ones; remembers the lines of the current record."""

    def __init__(self, lines: Iterator[Line], max_chars: int):
        self._lines = lines
        self._replay: collections.deque[Line] = collections.deque()
        self._max_chars = max_chars
        self.record: list[Line] = []
        self._chars = 0

    def __iter__(self) -> "_LineFeed":
        return self

    def __next__(self) -> str:
        item = self._replay.popleft() if self._replay else next(self._lines)
        self.record.append(item)
        self._chars += len(item[1])
        if self._chars > self._max_chars:  # a runaway record: stop before it holds the rest of the file
            raise _RecordTooLong
        return item[1]

    def start_record(self) -> None:
        self.record = []
        self._chars = 0

    def replay(self, lines: list[Line]) -> None:
        self._replay.extendleft(reversed(lines))

    def peek(self) -> Line | None:
        if not self._replay:
            item = next(self._lines, None)
            if item is None:
                return None
            self._replay.append(item)
        return self._replay[0]


def sniff_delimiter(header: str) -> str:
    """Comma unless the header has none and another usual delimiter (tab, semicolon, pipe) instead."""
    if "," in header:
        return ","
    best = max(DELIMITERS[1:], key=header.count)
    return best if header.count(best) else ","


def unique_names(fields: list[str]) -> list[str]:
    """Header names made usable as keys: blanks named by position, repeats suffixed like pandas does (x, x.1)."""
    names: list[str] = []
    seen: set[str] = set()
    for i, field in enumerate(fields, start=1):
        name = field if field.strip() else f"column_{i}"
        base, k = name, 0
        while name in seen:
            k += 1
            name = f"{base}.{k}"
        seen.add(name)
        names.append(name)
    return names


def csv_records(lines: Iterator[Line], *, name: str, delimiter: str | None,
                max_record_chars: int) -> Iterator[tuple[int, Any]]:
    """(first line of the record, dict keyed by the header, or BadRecord)."""
    from core.data.readers import IngestError  # readers imports this module: import at call time

    feed = _LineFeed(lines, max_record_chars)
    first = feed.peek()
    if first is None:
        return
    if delimiter is None:
        delimiter = sniff_delimiter(first[1])
    # the module's limit is per field and process-wide; the record bound above is the one that matters
    csv.field_size_limit(max(csv.field_size_limit(), max_record_chars))
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    while True:
        feed.start_record()
        error = None
        try:
            fields = next(reader)
        except StopIteration:
            if not feed.record:
                return
            fields = []  # lines read, no record: cannot happen in strict mode, but never loop on it
        except csv.Error as exc:
            fields, error = [], f"malformed CSV: {exc}"
        except _RecordTooLong:
            fields, error = [], f"record longer than {max_record_chars:,} characters (an unterminated quote?)"
        record = feed.record
        if not record:
            return
        start, end = record[0][0], record[-1][0]
        problem = next((p for _, _, p in record if p), None)
        if not error and not problem and not any(f.strip() for f in fields):
            continue  # a blank line, or one of only delimiters (spreadsheets write those at the end)
        if header is None:
            if error or problem:
                raise IngestError(f"{name}: the header (line {start}) cannot be read: {error or problem}")
            header = unique_names(fields)
            continue
        if not error and end > start and len(fields) != len(header):
            error = (f"unterminated or stray quote: the record starting here runs to line {end} and has "
                     f"{len(fields)} fields where the header has {len(header)}")
        if error:
            yield start, BadRecord(error)
            if end > start:
                feed.replay(record[1:])  # what the broken record swallowed is read again
            continue
        if problem:
            yield start, BadRecord(problem if end == start else f"{problem} (within the record's lines {start}-{end})")
            continue
        if len(fields) > len(header):
            yield start, BadRecord(f"more fields than the header has ({len(fields)} > {len(header)})")
            continue
        yield start, dict(zip(header, fields))  # a short row lacks its last columns: 'missing field' if needed
