"""Format readers: open a file (plain or gzip), check what it really is, and yield its records one at a time.

Each reader yields `(line, row)`: row is a dict, some other JSON value, or a `BadRecord` saying why the record that
starts on that line cannot be read. Only a file that cannot be read at all raises `IngestError`. Nothing here holds
more than one record (or one Parquet batch) at a time, so memory stays flat however big the file is; the file's
SHA-256 is computed from the same bytes as they are read.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import stat
import zlib
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from core.data.csv_records import csv_records
from core.data.json_array import BadRecord, array_records, parse_json

__all__ = ["BadRecord", "FileReader", "IngestError", "ReadLimits", "file_sha256", "split_name"]

TEXT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv"}
BINARY_FORMATS = {".parquet": "parquet", ".pq": "parquet"}
SUPPORTED = ".jsonl, .json, .csv, .tsv or .parquet (text formats may be gzip-compressed: .jsonl.gz)"

# What the first bytes of a file say it is, for files that are not what their name says.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "a Parquet file: name it .parquet"),
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one): extract or export it as CSV/JSONL first"),
    (b"BZh", "bzip2-compressed: decompress it, or recompress it with gzip (.gz)"),
    (b"\xfd7zXZ\x00", "xz-compressed: decompress it, or recompress it with gzip (.gz)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed: decompress it, or recompress it with gzip (.gz)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: extract it first"),
    (b"\xff\xfe", "UTF-16 text: save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text: save it as UTF-8"),
)
GZIP_MAGIC = b"\x1f\x8b"


class IngestError(ValueError):
    """A file that cannot be ingested at all (unreadable, unknown shape, no valid rows)."""


@dataclasses.dataclass(frozen=True)
class ReadLimits:
    # A record longer than this is a bad row, skipped without being held: it bounds the memory one record can take
    # (a 16 MiB JSON line of empty objects already costs ~360 MB of Python objects). No training sample is near it.
    max_record_chars: int = 16 * 1024 * 1024
    parquet_batch_rows: int = 20_000


def split_name(name: str) -> tuple[str, str, bool]:
    """'data.jsonl.gz' -> ('data', '.jsonl', True): stem, format suffix (lower case), gzip-compressed."""
    path = Path(name)
    gz = path.suffix.lower() == ".gz"
    if gz:
        path = Path(path.stem)
    return path.stem, path.suffix.lower(), gz


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path, name: str) -> os.stat_result:
    """A regular, readable file, or an IngestError that says what it is instead."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise IngestError(f"no such file: {name}") from None
    except OSError as exc:  # a symlink loop, a path through a file, ...
        raise IngestError(f"cannot open {name}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise IngestError(f"{name} is a folder, not a file: give one .jsonl, .csv or .parquet file")
    if not stat.S_ISREG(st.st_mode):
        raise IngestError(f"{name} is not a regular file (a device, pipe or socket)")
    if not os.access(path, os.R_OK):
        raise IngestError(f"cannot read {name}: permission denied")
    return st


class _HashingFile(io.RawIOBase):
    """The file's bytes as they are read: counted (progress) and hashed (the file's identity) in the same pass."""

    def __init__(self, fh: BinaryIO):
        self._fh = fh
        self.sha = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._fh.readinto(buffer)
        if n:
            self.sha.update(memoryview(buffer)[:n])
            self.count += n
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


class FileReader:
    """One pass over a file: `records()`, the bytes read so far (`bytes_done`) and, at the end, `sha256()`."""

    def __init__(self, path: str | Path, *, name: str | None = None, limits: ReadLimits = ReadLimits()):
        self.path = Path(path)
        self.name = name or self.path.name  # what messages call the file: the user's name for it
        self.limits = limits
        _, suffix, self.gzipped = split_name(self.path.name)
        self.format = TEXT_FORMATS.get(suffix) or BINARY_FORMATS.get(suffix)
        if self.format is None:
            raise IngestError(f"{self.name}: unsupported file type {suffix or '(none)'!r}: use {SUPPORTED}")
        if self.gzipped and self.format == "parquet":
            raise IngestError(f"{self.name}: Parquet compresses internally; give the .parquet file itself")
        self.bytes_total = check_file(self.path, self.name).st_size
        self._raw: _HashingFile | None = None
        self._text: io.TextIOWrapper | None = None  # held here: collecting it would close the file under sha256()
        self._head = b""
        self._rows_done = 0
        self._rows_total = 0

    def __enter__(self) -> "FileReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._text is not None:
            self._text.close()
        if self._raw is not None:
            self._raw.close()

    @property
    def bytes_done(self) -> int:
        if self.format == "parquet":  # columnar: read position says little, the share of rows read says enough
            return self.bytes_total * self._rows_done // max(1, self._rows_total)
        return self._raw.count if self._raw is not None else 0

    def sha256(self) -> str:
        """The whole file's SHA-256; call after records(): the bytes already read are not read again."""
        if self._raw is None:
            return file_sha256(self.path)
        while self._raw.read(1 << 20):  # whatever the reader did not need (a gzip trailer, trailing junk)
            pass
        return self._raw.sha.hexdigest()

    def records(self) -> Iterator[tuple[int, Any]]:
        if self.format == "parquet":
            yield from self._parquet_records()
            return
        text = self._open_text()
        lines = _lines(text, self.name, self.limits.max_record_chars)
        if self.format == "jsonl":
            yield from _jsonl_records(lines)
        elif self.format == "json" and _starts_array(self._head):  # else: a .json file of JSON lines
            yield from array_records(lambda n: _guard(lambda: text.read(n), self.name, None),
                                     max_chars=self.limits.max_record_chars, name=self.name)
        elif self.format == "json":
            yield from _jsonl_records(lines)
        else:
            yield from csv_records(lines, name=self.name, delimiter="\t" if self.format == "tsv" else None,
                                   max_record_chars=self.limits.max_record_chars)

    # ---- opening ---------------------------------------------------------------------------------------------

    def _open_text(self) -> io.TextIOWrapper:
        self._raw = _HashingFile(open(self.path, "rb"))
        binary: Any = io.BufferedReader(self._raw, 1 << 16)
        head = binary.peek(4096)[:4096]
        compressed = head.startswith(GZIP_MAGIC)
        if compressed and not self.gzipped:
            raise IngestError(f"{self.name} is gzip-compressed: name it {self.name}.gz")
        if self.gzipped and not compressed:
            raise IngestError(f"{self.name} is named .gz but is not gzip-compressed: drop the .gz")
        if compressed:
            binary = gzip.GzipFile(fileobj=binary, mode="rb")
            head = _guard(lambda: binary.peek(4096)[:4096], self.name, 0)
        _check_text_head(head, self.name)
        self._head = head
        # utf-8-sig drops a BOM; surrogateescape keeps undecodable bytes so the line holding them is the bad row
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
        return self._text

    def _parquet_records(self) -> Iterator[tuple[int, Any]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with open(self.path, "rb") as fh:
            head = fh.read(4)
        if self.bytes_total == 0:
            raise IngestError(f"{self.name} is empty (0 bytes)")
        if head != b"PAR1":
            what = next((w for magic, w in MAGIC if head.startswith(magic)), None)
            looks = "text" if head[:1] in (b"{", b"[") or head.isascii() else "not Parquet"
            raise IngestError(f"{self.name} is not a Parquet file (no PAR1 header; it looks like {what or looks})")
        try:
            pf = pq.ParquetFile(self.path, buffer_size=1 << 20)  # buffered: pages stream, not whole column chunks
            self._rows_total = pf.metadata.num_rows
            batches = pf.iter_batches(batch_size=self.limits.parquet_batch_rows)
            line = 0
            for batch in batches:
                for row in batch.to_pylist():
                    line += 1
                    yield line, row
                self._rows_done = line
        except (pa.ArrowException, OSError) as exc:  # truncated or corrupt: one clear error, not a traceback
            detail = " ".join(str(exc).split())  # Arrow messages span lines: keep the error one line
            raise IngestError(f"cannot read Parquet file {self.name} (truncated or corrupt?): {detail}") from None


def _check_text_head(head: bytes, name: str) -> None:
    for magic, what in MAGIC:
        if head.startswith(magic):
            raise IngestError(f"{name} is {what}")
    if head and head.count(0) * 2 > len(head):  # mostly NUL: a pre-allocated or zeroed file, not text
        raise IngestError(f"{name} holds binary data (mostly NUL bytes), not text")
    if b"\x00" in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
                raise IngestError(f"{name} holds binary data, not text") from None


def _guard(read, name: str, line: int | None):
    """Reading a gzip stream can fail mid-way: that is one clear error about the file, not a traceback."""
    try:
        return read()
    except EOFError:
        where = f", after line {line}" if line else ""
        raise IngestError(f"{name} is a truncated gzip file (the stream ends early{where}): "
                          "re-create or re-download it") from None
    except (OSError, zlib.error) as exc:
        where = f" after line {line}" if line else ""
        raise IngestError(f"{name} holds corrupt gzip data{where}: {exc}") from None


def _lines(text: io.TextIOWrapper, name: str, max_chars: int) -> Iterator[tuple[int, str, str | None]]:
    """(line number, text, problem): a line that is too long or not UTF-8 comes with the reason and no content."""
    lineno = 0
    while True:
        line = _guard(lambda: text.readline(max_chars), name, lineno)
        if not line:
            return
        lineno += 1
        problem = None
        if len(line) >= max_chars and not line.endswith(("\n", "\r")):
            while True:  # skip the rest of the line without holding it
                more = _guard(lambda: text.readline(max_chars), name, lineno)
                if not more or more.endswith(("\n", "\r")):
                    break
            line, problem = "", f"line longer than {max_chars:,} characters"
        elif not line.isascii():
            try:
                line.encode("utf-8")
            except UnicodeEncodeError as exc:  # surrogateescape maps byte b to U+DC00+b
                byte = ord(line[exc.start]) - 0xDC00
                problem = (f"not valid UTF-8 (byte 0x{byte:02X} at column {exc.start + 1}; "
                           "Windows-1252 or Latin-1 text? save the file as UTF-8)")
        yield lineno, line, problem


def _jsonl_records(lines) -> Iterator[tuple[int, Any]]:
    for lineno, line, problem in lines:
        if problem:
            yield lineno, BadRecord(problem)
            continue
        line = line.strip().lstrip("\ufeff")  # a BOM mid-file: files concatenated with cat
        if line:
            yield lineno, parse_json(line)


def _starts_array(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"[")
