"""Issue 21's ingest guards: a mapping with no text column is refused, an empty file says it is empty, and a dataset
too small to analyse is told so with the minimum (the report, the CLI's --json)."""
import json

import pytest

from core.config import MIN_MAP_ROWS
from core.data.ingest import IngestError, ingest_file
from core.data.preview import peek_columns
from tests.helpers import DATA, run_cli


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("mapping, why", [
    ({"prompt": "id", "response": "label"}, "id column"),
    ({"prompt": "label", "response": "id"}, "id column"),
    ({"prompt": "label", "response": "label"}, "both mapped"),
])
def test_a_mapping_without_two_text_columns_is_refused(tmp_path, mapping, why):
    f = write(tmp_path / "ids.csv", "id,label\n1,a\n2,b\n")
    with pytest.raises(IngestError, match=why):
        ingest_file(f, mapping=mapping)


def test_a_prompt_column_without_any_text_is_refused_but_numeric_answers_are_kept(tmp_path):
    f = write(tmp_path / "nums.csv", "num,label,q\n1,a,how many apples?\n2,b,and pears?\n")
    with pytest.raises(IngestError, match="prompt column 'num' holds no text"):
        ingest_file(f, mapping={"prompt": "num", "response": "label"})
    report = ingest_file(f, mapping={"prompt": "q", "response": "num"})  # SVAMP-like: the answers are numbers
    assert len(report.samples) == 2


@pytest.mark.parametrize("name, text", [("empty.csv", ""), ("header.csv", "prompt,response\n"),
                                        ("blank.jsonl", "\n\n")])
def test_an_empty_file_says_it_is_empty(tmp_path, name, text):
    f = write(tmp_path / name, text)
    with pytest.raises(IngestError, match="is empty"):
        ingest_file(f)
    with pytest.raises(IngestError, match="is empty"):
        peek_columns(f)  # the upload's preview says it too


def test_too_small_is_told_at_ingest_with_the_minimum(store, tmp_path):
    from core.data.datasets import ingest

    lines = (DATA / "mixture_24.jsonl").read_text().splitlines()
    _, small = ingest(store, write(tmp_path / "two.jsonl", "\n".join(lines[:2]) + "\n"))
    assert small["minimum_rows"] == MIN_MAP_ROWS == 3
    assert len(small["warnings"]) == 1 and "at least 3" in small["warnings"][0]
    _, enough = ingest(store, write(tmp_path / "three.jsonl", "\n".join(lines[:3]) + "\n"))
    assert enough["warnings"] == []


def test_cli_ingest_json_says_too_small_empty_and_no_text(workspace, tmp_path):
    lines = (DATA / "mixture_24.jsonl").read_text().splitlines()
    out = run_cli(workspace, "ingest", str(write(tmp_path / "two.jsonl", "\n".join(lines[:2]) + "\n")), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["n"] == 2 and result["minimum_rows"] == 3 and "at least 3" in result["warnings"][0]
    assert "at least 3" in out.stderr
    empty = run_cli(workspace, "ingest", str(write(tmp_path / "empty.csv", "")), "--json")
    assert empty.returncode == 2 and "is empty" in empty.stderr and not empty.stdout
    ids = run_cli(workspace, "ingest", str(write(tmp_path / "ids.csv", "id,label\n1,a\n2,b\n")), "--map",
                  "prompt=id,response=label", "--json")
    assert ids.returncode == 2 and "not text" in ids.stderr
