"""What else a hostile user tries: every such file either ingests its good rows or is one clear IngestError, and the
CLI answers 0 or 2, never a traceback."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.data.ingest import IngestError, ingest_file
from core.data.readers import ReadLimits


def good(i: int) -> str:
    return json.dumps({"prompt": f"What is {i} + {i}?", "response": f"It is {2 * i}."})


def jsonl(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def parquet_bytes(tmp_path, table) -> bytes:
    pq.write_table(table, tmp_path / "_t.parquet")
    return (tmp_path / "_t.parquet").read_bytes()


# name -> (content, expected good rows or an error pattern); content may be a function of tmp_path
CASES = {
    "empty.jsonl": (b"", "holds no rows"),
    "whitespace.jsonl": (b"  \n\t\n\r\n", "holds no rows"),
    "header_only.csv": (b"prompt,response\n", "holds no rows"),
    "nul_bytes.jsonl": (jsonl(good(1), '{"prompt": "a\\u0000b", "response": "c"}', "\x00\x00\x00", good(2)), 3),
    "nul_in_csv.csv": (b"prompt,response\na\x00b,c\nd,e\n", 2),
    "crlf.jsonl": (jsonl(good(1), good(2)).replace(b"\n", b"\r\n"), 2),
    "crlf.csv": (b"prompt,response\r\n\"multi\r\nline\",b\r\nc,d\r\n", 2),
    "cr_only.csv": (b"prompt,response\ra,b\rc,d\r", 2),
    "zero.parquet": (b"", "empty"),
    "corrupt.parquet": (b"PAR1" + bytes(range(256)) * 4 + b"PAR1", "Parquet"),
    "text_named.parquet": (jsonl(good(1)), "not a Parquet file"),
    "truncated.parquet": (lambda t: parquet_bytes(t, pa.table({"prompt": ["a"] * 100, "response": ["b"] * 100}))[:-30],
                          "Parquet"),
    "mixed_types.jsonl": (jsonl('{"prompt": 12, "response": 3.5, "tag": 1}', '{"prompt": "x", "response": "y", '
                                '"tag": "one"}', '{"prompt": true, "response": "z"}'), 2),
    "non_dict_rows.jsonl": (jsonl("[1, 2]", '"text"', "3", "null", good(1)), 1),
    "duplicate_columns.csv": (b"prompt,response,note,note\na,b,c,d\n", 1),
    "tab_separated.tsv": (b"prompt\tresponse\na\tb\nc\td\n", 2),
    "semicolons.csv": (b"prompt;response\na;b\n", 1),
    "capitalised_header.csv": (b" Question ,ANSWER\nq,a\n", 1),
    "nan_infinity.jsonl": (jsonl('{"prompt": "a", "response": "b", "score": NaN, "w": [Infinity]}'), 1),
    "huge_integer.jsonl": (jsonl('{"prompt": "a", "response": "b", "n": ' + "9" * 5000 + "}", good(1)), 1),
    "utf16.jsonl": (good(1).encode("utf-16"), "UTF-16"),
    "windows1252.csv": ("prompt,response\ncaf\u00e9,ok\nplain,ok\n".encode("cp1252"), 1),
    "binary_junk.jsonl": (bytes(range(256)) * 64, "binary"),
    "zeros.jsonl.gz": (gzip.compress(bytes(1 << 20)), "binary"),
    "truncated.jsonl.gz": (gzip.compress(jsonl(*[good(i) for i in range(3000)]))[:-500], "truncated gzip"),
    "not_gzip.jsonl.gz": (jsonl(good(1)), "not gzip"),
    "zip_as.csv": (b"PK\x03\x04" + bytes(100), "zip"),
    "half_written_last_line.jsonl": (jsonl(good(1), good(2))[:-20], 1),
    "missing_columns.csv": (b"prompt,response,extra\na,b,c\nd\ne,f\n", 2),
    "trailing_comma_array.json": (b'[{"prompt": "a", "response": "b"},]', 1),
    "unclosed_array.json": (b'[{"prompt": "a", "response": "b"}, {"prompt": "c"', 1),
    "bom_midfile.jsonl": (("\ufeff" + good(1) + "\n\ufeff" + good(2) + "\n").encode(), 2),
    "spreadsheet_blank_rows.csv": (b"prompt,response\na,b\n,\n,\n", 1),
    "ten_thousand_columns.csv": (lambda t: (",".join(["prompt", "response"] + [f"c{i}" for i in range(10_000)]) + "\n"
                                            + ",".join(["p", "r"] + ["x"] * 10_000) + "\n").encode(), 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_ingests_its_good_rows_or_is_one_clear_error(tmp_path, name):
    content, expected = CASES[name]
    path = tmp_path / name
    path.write_bytes(content(tmp_path) if callable(content) else content)
    if isinstance(expected, str):
        with pytest.raises(IngestError, match=expected) as err:
            ingest_file(path)
        assert "\n" not in str(err.value) and name in str(err.value)
    else:
        assert len(ingest_file(path).samples) == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_through_the_cli_is_exit_0_or_2_never_a_traceback(tmp_path, workspace, capsys, name):
    from core.cli import main  # in-process: an exception escaping main() would fail the test with its traceback

    content, expected = CASES[name]
    path = tmp_path / name
    path.write_bytes(content(tmp_path) if callable(content) else content)
    rc = main(["ingest", str(path), "--json"])
    out, err = capsys.readouterr()
    if isinstance(expected, str):
        assert rc == 2 and err.splitlines()[-1].startswith("error: ") and out == ""
    else:
        assert rc == 0 and json.loads(out)["n"] == expected


def test_line_longer_than_the_limit_is_a_bad_row_and_a_long_one_below_it_is_kept(tmp_path):
    limits = ReadLimits(max_record_chars=10_000)
    f = tmp_path / "long.jsonl"
    f.write_text(json.dumps({"prompt": "x" * 9_000, "response": "y"}) + "\n"
                 + json.dumps({"prompt": "x" * 50_000, "response": "y"}) + "\n" + good(3) + "\n")
    rep = ingest_file(f, limits=limits)
    assert [len(s.prompt) for s in rep.samples] == [9_000, len("What is 3 + 3?")]
    assert [b.line for b in rep.bad_rows] == [2] and "longer than" in rep.bad_rows[0].reason
    csv = tmp_path / "long.csv"
    csv.write_text('prompt,response\n"' + "z" * 50_000 + '",y\n"never closed,' + "w" * 20_000 + "\nok,fine\n")
    rep = ingest_file(csv, limits=limits)
    assert [s.prompt for s in rep.samples] == ["ok"] and [b.line for b in rep.bad_rows] == [2, 3]


def test_meta_values_json_cannot_hold_are_stored_as_null_not_a_crash(tmp_path, store):
    from core.data.datasets import ingest

    f = tmp_path / "nan.jsonl"
    f.write_text('{"prompt": "a", "response": "b", "score": NaN, "w": [1, Infinity]}\n')
    ingest(store, f, name="nan")
    assert store.samples("nan")[0].meta == {"score": None, "w": [1, None]}
    table = pa.table({"prompt": ["p1", "p2"], "response": ["r1", "r2"], "score": [float("nan"), 1.5],
                      "raw": [b"\x00\x01", b"x"]})
    pq.write_table(table, tmp_path / "nan.parquet")
    ingest(store, tmp_path / "nan.parquet", name="nanpq")
    assert [s.meta for s in store.samples("nanpq")] == [{"score": None}, {"score": 1.5}]


def test_repeated_ids_stay_unique_even_against_crafted_ids(tmp_path, store):
    from core.data.datasets import ingest

    f = tmp_path / "ids.jsonl"
    rows = [{"id": "a", "prompt": "1", "response": "1"}, {"id": "a", "prompt": "2", "response": "2"}]
    from core.data.ingest import content_hash

    crafted = f"a~{content_hash('2', '2')[:8]}"
    rows += [{"id": crafted, "prompt": "3", "response": "3"}, {"id": 7, "prompt": "4", "response": "4"}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(store, f, name="ids")
    ids = [s.id for s in store.samples("ids")]
    assert len(set(ids)) == 4 and ids[0] == "a" and ids[3] == "7"


def test_symlink_loop_and_missing_file_are_clear_errors(tmp_path):
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    with pytest.raises(IngestError, match="loop.jsonl"):
        ingest_file(loop)
    with pytest.raises(IngestError, match="no such file"):
        ingest_file(tmp_path / "absent.jsonl")
