"""Ingest: every recognised shape, explicit mappings, and bad rows reported by line while good rows are kept."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data.ingest import IngestError, ingest_file, parse_mapping


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("p,r", [("prompt", "response"), ("prompt", "completion"), ("instruction", "output"),
                                 ("question", "answer"), ("problem", "solution")])
def test_each_flat_shape_is_recognised(tmp_path, p, r):
    f = write_jsonl(tmp_path / "x.jsonl", [{p: "What is 1+1?", r: "2", "source": "toy"},
                                           {p: "What is 2+2?", r: "4", "source": "toy"}])
    rep = ingest_file(f)
    assert rep.shape == f"{p}/{r}"
    assert [(s.prompt, s.response) for s in rep.samples] == [("What is 1+1?", "2"), ("What is 2+2?", "4")]
    assert rep.samples[0].meta == {"source": "toy"}
    assert not rep.bad_rows


def test_chat_messages_last_assistant_turn_is_the_response(tmp_path):
    f = write_jsonl(tmp_path / "chat.jsonl", [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {"messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "2+2?"},
                      {"role": "assistant", "content": "4"}, {"role": "user", "content": "and 3+3?"},
                      {"role": "assistant", "content": "6"}]},
        {"messages": [{"role": "user", "content": "no answer"}]},
    ])
    rep = ingest_file(f)
    assert rep.shape == "messages"
    assert (rep.samples[0].prompt, rep.samples[0].response) == ("Hi", "Hello")
    assert rep.samples[1].response == "6"
    assert "system: Be brief" in rep.samples[1].prompt and "user: and 3+3?" in rep.samples[1].prompt
    assert [(b.line, "assistant" in b.reason) for b in rep.bad_rows] == [(3, True)]


def test_mixed_good_and_bad_rows_keep_every_good_row_and_report_each_bad_line(tmp_path):
    f = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps({"question": "q1", "answer": "a1"}),  # 1 good
        '{"question": "q2", "answer": ',  # 2 malformed JSON
        json.dumps({"question": "q3"}),  # 3 missing field
        json.dumps({"question": "q4", "answer": "   "}),  # 4 empty
        json.dumps({"question": ["q5"], "answer": "a5"}),  # 5 wrong type
        "",  # blank line: skipped, not an error
        json.dumps({"question": "q7", "answer": "a7", "id": "seven"}),  # 7 good
        json.dumps({"question": "q1", "answer": "a1"}),  # 8 duplicate of line 1
        json.dumps([1, 2]),  # 9 not an object
    ]
    data = "\n".join(lines).encode() + b"\n" + b'{"question": "caf\xe9", "answer": "x"}\n'  # 10 not UTF-8
    data += json.dumps({"question": "q11", "answer": 11}).encode() + b"\n"  # 11 good: numbers are text
    f.write_bytes(data)
    rep = ingest_file(f)
    assert [s.prompt for s in rep.samples] == ["q1", "q7", "q11"]
    assert rep.samples[1].id == "seven" and rep.samples[2].response == "11"
    reasons = {b.line: b.reason for b in rep.bad_rows}
    assert sorted(reasons) == [2, 3, 4, 5, 9, 10]
    assert "malformed JSON" in reasons[2] and "missing" in reasons[3] and "empty" in reasons[4]
    assert "type" in reasons[5] and "UTF-8" in reasons[10]
    assert rep.duplicates == [(8, rep.samples[0].id)]


def test_ids_are_stable_content_hashes_when_absent(tmp_path):
    rows = [{"prompt": "a", "response": "b"}, {"prompt": "c", "response": "d"}]
    first = ingest_file(write_jsonl(tmp_path / "1.jsonl", rows))
    again = ingest_file(write_jsonl(tmp_path / "2.jsonl", rows))
    assert [s.id for s in first.samples] == [s.id for s in again.samples]
    assert len({s.id for s in first.samples}) == 2


def test_csv_and_parquet_and_explicit_mapping(tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text('Q,A,label\n"Multi\nline question",yes,x\nsecond,,y\nthird,no,z\n', encoding="utf-8")
    rep = ingest_file(csv, mapping=parse_mapping("prompt=Q,response=A"))
    assert [s.prompt for s in rep.samples] == ["Multi\nline question", "third"]
    assert rep.samples[0].meta == {"label": "x"}
    assert [b.line for b in rep.bad_rows] == [4]  # the record ending on physical line 4 has an empty answer

    pq.write_table(pa.table({"instruction": ["i1", "i2", None], "output": ["o1", "o2", "o3"]}), tmp_path / "d.parquet")
    rep = ingest_file(tmp_path / "d.parquet")
    assert [s.response for s in rep.samples] == ["o1", "o2"]
    assert [b.line for b in rep.bad_rows] == [3]


def test_files_without_valid_rows_are_clear_errors(tmp_path):
    with pytest.raises(IngestError, match="no valid rows"):
        ingest_file(write_jsonl(tmp_path / "bad.jsonl", ['{"x": 1}', "nope"]))
    with pytest.raises(IngestError, match="unsupported file type"):
        ingest_file(write_jsonl(tmp_path / "x.txt", ["hello"]))
    with pytest.raises(IngestError, match="no rows"):
        ingest_file(write_jsonl(tmp_path / "empty.jsonl", []))
    with pytest.raises(IngestError):
        parse_mapping("prompt=Q")
