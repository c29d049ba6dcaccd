"""Hostile files: one bad row never sinks the file; a file that cannot be read is one clear IngestError (exit 2 in the
CLI), never a traceback. Each numbered test is an item of the ingest-hardening brief and failed before it."""
import gzip
import json

import pytest

from core.data.ingest import IngestError, ingest_file
from tests.helpers import run_cli


def good(i: int) -> str:
    return json.dumps({"prompt": f"What is {i} + {i}?", "response": f"It is {2 * i}."})


def write(path, data):
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def lines_of(rep) -> list[int]:
    return [b.line for b in rep.bad_rows]



# ---- 1. lone surrogates ---------------------------------------------------------------------------------------

def test_01_lone_surrogate_is_a_bad_row_with_its_line_and_the_rest_is_stored(tmp_path, store):
    from core.data.datasets import ingest

    f = write(tmp_path / "s.jsonl", "\n".join([
        good(1),
        '{"prompt": "broken \\ud800 text", "response": "x"}',
        '{"prompt": "fine", "response": "fine", "note": ["\\udc00"]}',
        '{"prompt": "a pair \\ud83d\\ude00 is fine", "response": "y"}',
    ]) + "\n")
    rep = ingest_file(f)
    assert [s.prompt for s in rep.samples] == ["What is 1 + 1?", "a pair \U0001F600 is fine"]
    assert lines_of(rep) == [2, 3]
    assert all("surrogate" in b.reason for b in rep.bad_rows)
    name, summary = ingest(store, f)
    assert summary["n"] == 2 and store.query("SELECT count(*) FROM samples")[0][0] == 2


# ---- 2. big CSV fields ----------------------------------------------------------------------------------------

def test_02_csv_field_over_the_csv_module_default_limit_is_a_valid_row(tmp_path):
    big = "word " * 40_000  # 200,000 characters > csv.field_size_limit() default of 131,072
    f = write(tmp_path / "big.csv", f'prompt,response\nshort,one\n"{big}",two\nthird,three\n')
    rep = ingest_file(f)
    assert [len(s.prompt) for s in rep.samples] == [5, len(big), 5]
    assert not rep.bad_rows


# ---- 3. deep nesting ------------------------------------------------------------------------------------------

def test_03_json_nested_5000_deep_is_a_bad_row(tmp_path):
    deep = "[" * 5000 + "]" * 5000
    f = write(tmp_path / "deep.jsonl", "\n".join([good(1), f'{{"prompt": {deep}, "response": "x"}}', good(3)]))
    rep = ingest_file(f)
    assert len(rep.samples) == 2
    assert lines_of(rep) == [2] and "nested too deeply" in rep.bad_rows[0].reason


# ---- 4. a folder ----------------------------------------------------------------------------------------------

def test_04_a_folder_given_as_the_file_is_a_clear_error(tmp_path, workspace):
    folder = tmp_path / "data.jsonl"
    folder.mkdir()
    with pytest.raises(IngestError, match="folder"):
        ingest_file(folder)
    res = run_cli(workspace, "ingest", str(folder))
    assert res.returncode == 2 and res.stderr.startswith("error: ") and "Traceback" not in res.stderr


# ---- 5. UTF-8 BOM ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix,text", [
    (".jsonl", good(1) + "\n" + good(2) + "\n"),
    (".json", json.dumps([json.loads(good(1)), json.loads(good(2))])),
    (".csv", "prompt,response\nWhat is 1 + 1?,It is 2.\nWhat is 2 + 2?,It is 4.\n"),
])
def test_05_utf8_bom_is_stripped(tmp_path, suffix, text):
    rep = ingest_file(write(tmp_path / f"bom{suffix}", "\ufeff" + text))
    assert [s.prompt for s in rep.samples] == ["What is 1 + 1?", "What is 2 + 2?"]
    assert not rep.bad_rows


# ---- 6. JSON arrays -------------------------------------------------------------------------------------------

def test_06_json_array_is_read_element_by_element_with_each_elements_line(tmp_path):
    text = ('[\n  {"prompt": "p1", "response": "r1"},\n  {"prompt": "p2" "response": "r2"},\n  "just text",\n'
            '  {"prompt": "p4",\n   "response": "r4"}\n]\n')
    rep = ingest_file(write(tmp_path / "a.json", text))
    assert [s.prompt for s in rep.samples] == ["p1", "p4"]
    assert lines_of(rep) == [3, 4]  # the line where the bad element starts
    assert "malformed JSON" in rep.bad_rows[0].reason and "object" in rep.bad_rows[1].reason
    # a .json file that is really JSON lines keeps working
    rep = ingest_file(write(tmp_path / "lines.json", good(1) + "\n" + good(2) + "\n"))
    assert len(rep.samples) == 2


# ---- 7. broken CSV records ------------------------------------------------------------------------------------

def test_07_csv_unterminated_quote_rejects_that_record_only(tmp_path):
    f = write(tmp_path / "q.csv", 'prompt,response\np1,r1\n"unterminated,r2\np3,r3\np4,"r4"\np5,r5\n')
    rep = ingest_file(f)
    assert [s.prompt for s in rep.samples] == ["p1", "p3", "p4", "p5"]
    assert lines_of(rep) == [3]
    f = write(tmp_path / "eof.csv", 'prompt,response\np1,r1\n"never closed,r2\np3,r3\n')
    rep = ingest_file(f)
    assert [s.prompt for s in rep.samples] == ["p1", "p3"] and lines_of(rep) == [3]


def test_07_csv_bad_byte_on_a_continuation_line_rejects_that_record(tmp_path):
    f = write(tmp_path / "b.csv", b'prompt,response\n"first line\nsecond caf\xe9 line",r1\np2,r2\n')
    rep = ingest_file(f)
    assert [s.prompt for s in rep.samples] == ["p2"]
    assert lines_of(rep) == [2] and "UTF-8" in rep.bad_rows[0].reason


# ---- 8. gzip --------------------------------------------------------------------------------------------------

def test_08_gzip_bytes_in_a_jsonl_file_say_what_to_do(tmp_path):
    f = write(tmp_path / "d.jsonl", gzip.compress((good(1) + "\n").encode()))
    with pytest.raises(IngestError, match=r"gzip-compressed: name it .*\.jsonl\.gz"):
        ingest_file(f)


@pytest.mark.parametrize("name,text", [
    ("d.jsonl.gz", good(1) + "\n" + good(2) + "\n"),
    ("d.csv.gz", "prompt,response\na,b\nc,d\n"),
    ("d.json.gz", json.dumps([json.loads(good(1)), json.loads(good(2))])),
])
def test_08_gz_inputs_are_read_transparently(tmp_path, store, name, text):
    from core.data.datasets import file_sha256, ingest

    f = write(tmp_path / name, gzip.compress(text.encode()))
    assert len(ingest_file(f).samples) == 2
    _, summary = ingest(store, f)
    assert summary["n"] == 2 and summary["file_sha256"] == file_sha256(f)  # hashed in the same pass


# ---- 9. unknown datasets in the CLI ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["features", "nope"], ["export", "nope", "--out", "OUT"]])
def test_09_unknown_dataset_is_exit_2_with_an_error_line(workspace, tmp_path, args):
    args = [str(tmp_path / "out.jsonl") if a == "OUT" else a for a in args]
    res = run_cli(workspace, *args)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and "nope" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out.jsonl").exists()


# ---- 10. the user's file name, and a preview that never crashes -----------------------------------------------

def test_10_messages_name_the_users_file_not_the_upload_name(workspace, store):
    from core.data.datasets import ingest, save_upload

    path = save_upload("my data.jsonl", b'{"text": "no shape"}\nnot json\n')
    assert path.name != "my data.jsonl"
    with pytest.raises(IngestError) as err:
        ingest(store, path, name="mine", display_name="my data.jsonl")
    assert "my data.jsonl" in str(err.value) and path.name not in str(err.value)
    folder = workspace / "uploads" / "x.jsonl"
    folder.mkdir()
    with pytest.raises(IngestError, match="upload.jsonl"):
        ingest(store, folder, name="x", display_name="upload.jsonl")


def test_10_preview_shows_the_good_rows_and_counts_what_it_skipped(tmp_path):
    from core.data.ingest import peek_columns  # the old import path; the function lives in core.data.preview

    big = write(tmp_path / "big.csv", f'prompt,response\n"{"x" * 200_000}",two\n')
    preview = peek_columns(big)
    assert len(preview.rows) == 1 and len(preview.rows[0]["prompt"]) < 1_000  # long cells are cut for display

    f = write(tmp_path / "s.jsonl", "\n".join([good(1), '{"prompt": "bad \\ud800", "response": "x"}', "{oops",
                                               good(2)]) + "\n")
    preview = peek_columns(f, display_name="mine.jsonl")
    assert preview.columns == ["prompt", "response"] and len(preview.rows) == 2
    assert preview.skipped == 2 and "2 malformed" in preview.note and preview.shape == "prompt/response"
    json.dumps(preview.rows, ensure_ascii=False).encode("utf-8")  # displayable: no surrogate left
    columns, rows = preview  # callers of the old (columns, rows) tuple keep working
    assert columns == preview.columns


@pytest.mark.parametrize("name,data", [
    ("deep.jsonl", good(1) + '\n{"prompt": ' + "[" * 5000 + "]" * 5000 + ', "response": "x"}\n'),
    ("bom.csv", "\ufeffprompt,response\na,b\n"),
    ("q.csv", 'prompt,response\n"unterminated,r2\np3,r3\n'),
    ("arr.json", '[{"prompt": "a", "response": "b"}, 5]'),
    ("gz.jsonl", gzip.compress(good(1).encode())),
    ("junk.jsonl", bytes(range(256)) * 8),
])
def test_10_preview_never_crashes(tmp_path, name, data):
    from core.data.ingest import peek_columns

    try:
        columns, rows = peek_columns(write(tmp_path / name, data))
    except IngestError as exc:  # a file that cannot be read at all: one clear message naming it
        assert name in str(exc)
    else:
        assert "prompt" in columns and rows and all(isinstance(r, dict) for r in rows)
        json.dumps(rows, ensure_ascii=False).encode("utf-8")
