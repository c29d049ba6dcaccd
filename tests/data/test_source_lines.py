"""Rows are named by their true line in the source file (issue 21): ingest stores each record's line (a JSONL's line,
counting blank and bad lines before it; a CSV's line with its header as line 1; a Parquet file's row), row_name and
the row inspector use it, and a workspace made before the column gets it added, its rows named by position."""
import json

import duckdb

from core.data.datasets import ingest

ROWS = [{"question": f"Question number {i} about apples?", "answer": f"Answer {i}"} for i in range(4)]


def jsonl_with_a_blank_and_a_bad_line(path):
    lines = [json.dumps(ROWS[0]), "", json.dumps(ROWS[1]), "{not json", json.dumps(ROWS[2]), "   ",
             json.dumps(ROWS[3])]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jsonl_rows_keep_their_line_past_a_blank_and_a_bad_line(store, tmp_path):
    from core.analysis.row_detail import row_names

    name, report = ingest(store, jsonl_with_a_blank_and_a_bad_line(tmp_path / "gappy.jsonl"), name="gappy")
    assert report["rejected_rows"] == 1 and [b["line"] for b in report["bad_rows"]] == [4]
    ids = store.sample_ids(name)
    assert store.source_lines(name, ids) == dict(zip(ids, [1, 3, 5, 7]))
    assert store.positions(name, ids) == dict(zip(ids, [1, 2, 3, 4]))  # file order stays what it was
    assert store.id_at_line(name, 5) == ids[2] and store.id_at_line(name, 2) is None  # line 2 was blank
    names = row_names(store, name, ids)
    assert [names[i] for i in ids] == [f"row {line} · Question number {i} about apples?"
                                       for i, line in enumerate([1, 3, 5, 7])]


def test_csv_counts_its_header_and_parquet_its_rows(store, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = tmp_path / "rows.csv"
    csv.write_text("question,answer\n" + "".join(f"\"{r['question']}\",\"{r['answer']}\"\n" for r in ROWS[:2])
                   + "\"A question\nover two lines?\",yes\n" + f"\"{ROWS[3]['question']}\",\"{ROWS[3]['answer']}\"\n")
    ingest(store, csv, name="csv")
    ids = store.sample_ids("csv")
    assert list(store.source_lines("csv", ids).values()) == [2, 3, 4, 6]  # the two-line record starts on line 4
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    ingest(store, parquet, name="pq")
    ids = store.sample_ids("pq")
    assert [store.source_lines("pq", ids)[i] for i in ids] == [1, 2, 3, 4]


def test_the_inspector_names_the_row_by_its_source_line(store, tmp_path):
    from core.analysis.row_detail import row_detail

    ingest(store, jsonl_with_a_blank_and_a_bad_line(tmp_path / "gappy.jsonl"), name="gappy")
    third = store.sample_ids("gappy")[2]
    d = row_detail(store, "gappy", third, "no-such-config", 8, quality=False)
    assert (d.position, d.line) == (3, 5) and d.name == "row 5 · Question number 2 about apples?"


def test_a_workspace_from_before_the_column_gets_it_and_names_rows_by_position(workspace, tmp_path):
    from core.data.store import Store

    workspace.mkdir(parents=True)
    con = duckdb.connect(str(workspace / "prism.duckdb"))  # the samples table as it shipped before the column
    con.execute("CREATE TABLE samples (dataset VARCHAR, ordinal INTEGER, sample_id VARCHAR, content_hash VARCHAR, "
                "prompt VARCHAR, response VARCHAR, meta JSON, PRIMARY KEY (dataset, sample_id))")
    con.execute("CREATE TABLE datasets (name VARCHAR PRIMARY KEY, source VARCHAR, created_at DOUBLE, "
                "n_samples INTEGER, rejected_rows INTEGER, report JSON)")
    con.execute("INSERT INTO samples VALUES ('old', 0, 'a', 'h1', 'First prompt', 'r', '{}'), "
                "('old', 1, 'b', 'h2', 'Second prompt', 'r', '{}')")
    con.execute("INSERT INTO datasets VALUES ('old', 'x', 0, 2, 0, '{}')")
    con.close()
    with Store() as store:
        assert store.source_lines("old", ["a", "b"]) == {"a": 1, "b": 2}
        name, _ = ingest(store, jsonl_with_a_blank_and_a_bad_line(tmp_path / "gappy.jsonl"), name="new")
        assert sorted(store.source_lines(name, store.sample_ids(name)).values()) == [1, 3, 5, 7]
