"""Rows written as JSONL or Parquet (core/data/row_files.py): every batch, in order, meta as JSON, fixed columns."""
import io
import json

import pytest

from core.data.row_files import FORMATS, row_schema, write_rows


def rows(start: int, n: int) -> list[dict]:
    return [{"id": f"r{i}", "prompt": f"p{i} é", "response": f"r{i}", "origin": "seed", "round": i if i % 2 else None,
             "target_cluster": None, "cluster": i % 3, "generator": None, "votes": None, "answer": None,
             "meta": {"k": i, "tags": ["a"]}} for i in range(start, start + n)]


def test_jsonl_holds_every_batch_in_order_and_counts_them():
    buf = io.BytesIO()
    assert write_rows(iter([rows(0, 2), [], rows(2, 3)]), "jsonl", buf) == 5
    lines = buf.getvalue().decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == rows(0, 5)
    assert "é" in lines[0]  # UTF-8, not \u escapes


def test_parquet_holds_every_batch_in_order_with_meta_as_json():
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    assert write_rows([rows(0, 2), rows(2, 3)], "parquet", buf) == 5
    table = pq.read_table(io.BytesIO(buf.getvalue()))
    assert table.schema.equals(row_schema())
    back = table.to_pylist()
    assert [r["id"] for r in back] == [f"r{i}" for i in range(5)]
    assert [json.loads(r["meta"]) for r in back] == [r["meta"] for r in rows(0, 5)]
    assert [r["round"] for r in back] == [None, 1, None, 3, None]


def test_an_unknown_format_is_refused_before_anything_is_written():
    buf = io.BytesIO()
    with pytest.raises(ValueError, match="unknown format"):
        write_rows([rows(0, 1)], "csv", buf)
    assert buf.getvalue() == b"" and FORMATS == ("jsonl", "parquet")
