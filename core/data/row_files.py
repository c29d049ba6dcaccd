"""Rows written out as files: JSONL or Parquet, one fixed set of columns, from batches of row dicts.

Every export of rows (the grown dataset, core/synthesis/export.py; a selection, core/analysis/selection_export.py)
writes through write_rows into a binary file object its caller opened (an atomic temp file, or a buffer): JSONL line
by line, Parquet batch by batch through one writer with a fixed schema, so memory stays one batch whatever the size.
A row is {id, prompt, response, origin, round, target_cluster, cluster, generator, votes, answer, meta}; meta is a
dict, written as JSON (a string column in Parquet).
"""
from __future__ import annotations

import json
from typing import BinaryIO, Iterable

FORMATS = ("jsonl", "parquet")


def row_schema():
    """The Parquet schema of an exported row (meta as a JSON string)."""
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("prompt", pa.string()), ("response", pa.string()),
                      ("origin", pa.string()), ("round", pa.int32()), ("target_cluster", pa.int32()),
                      ("cluster", pa.int32()), ("generator", pa.string()), ("votes", pa.int32()),
                      ("answer", pa.string()), ("meta", pa.string())])


def write_rows(batches: Iterable[list[dict]], fmt: str, fh: BinaryIO) -> int:
    """Write batches of rows to a binary file object; returns the number of rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use jsonl or parquet")
    n = 0
    if fmt == "jsonl":
        for batch in batches:
            fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch).encode("utf-8"))
            n += len(batch)
        return n
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = row_schema()
    with pq.ParquetWriter(fh, schema) as writer:
        for batch in batches:
            flat = [r | {"meta": json.dumps(r["meta"], ensure_ascii=False)} for r in batch]
            writer.write_table(pa.Table.from_pylist(flat, schema=schema))
            n += len(batch)
    return n
