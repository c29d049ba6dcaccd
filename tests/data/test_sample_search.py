"""Reads of the samples table moved out of core/analysis and core/features (issue 20): content hashes by id, and the
text search (substring or RE2 regular expression) with its field and offset, in dataset order, per view."""
import json

import pytest

from core.data.ingest import ingest_file

ROWS = [  # id, prompt, response
    ("a", "Count the APPLES", "there are 3 apples"),
    ("b", "nothing here", "an Apple a day"),
    ("c", "pears", "none"),
    ("d", "apple pie", "apple"),
    ("e", "x", "y"),
]


@pytest.fixture()
def five(store, tmp_path):
    path = tmp_path / "five.jsonl"
    path.write_text("".join(json.dumps({"id": i, "prompt": p, "response": r}) + "\n" for i, p, r in ROWS))
    store.save_dataset("five", ingest_file(path), source="five.jsonl")
    store.save_dataset("other", ingest_file(path), source="five.jsonl")
    return store


def test_content_hashes_of_every_row_or_of_the_ids_asked_for(five):
    every = {s.id: s.content_hash for s in five.samples("five", view="all")}
    assert five.content_hashes("five") == every and len(set(every.values())) == 5
    five.mark("five", ["c"], "exclude")  # any view: an excluded row keeps its hash
    assert five.content_hashes("five") == every
    assert five.content_hashes("five", ["d", "zz", "a"]) == {"d": every["d"], "a": every["a"]}
    assert five.content_hashes("five", []) == {}
    assert five.content_hashes("nope") == {}


def test_a_substring_matches_ignoring_case_in_dataset_order_with_its_field_and_offset(five):
    assert five.text_matches("five", "apple", regex=False) == [
        ("a", "prompt", 10), ("b", "response", 3), ("d", "prompt", 0)]
    assert five.text_matches("five", "apple", regex=False, fields=("response",)) == [
        ("a", "response", 12), ("b", "response", 3), ("d", "response", 0)]
    assert five.text_matches("five", "apple", regex=False, limit=2) == [("a", "prompt", 10), ("b", "response", 3)]


def test_a_regular_expression_is_located_where_its_leftmost_match_starts(five):
    assert five.text_matches("five", r"[0-9]+ app", regex=True) == [("a", "response", 10)]
    assert five.text_matches("five", "^ap+le$", regex=True) == [("d", "response", 0)]
    assert five.text_matches("five", "APPLE", regex=True) == [("a", "prompt", 10)]  # RE2: case counts


def test_text_matches_keep_to_the_view_and_the_dataset(five):
    five.mark("five", ["b"], "exclude")
    assert [m[0] for m in five.text_matches("five", "apple", regex=False)] == ["a", "d"]
    assert [m[0] for m in five.text_matches("five", "apple", regex=False, view="all")] == ["a", "b", "d"]
    assert [m[0] for m in five.text_matches("other", "apple", regex=False)] == ["a", "b", "d"]


def test_text_matches_refuse_a_field_that_is_not_text(five):
    with pytest.raises(ValueError, match="fields must be among"):
        five.text_matches("five", "x", regex=False, fields=("meta",))


def test_regex_error_names_what_re2_refuses(five):
    assert five.regex_error("ap+le|^x$") is None
    error = five.regex_error("(unclosed")
    assert error and "\n" not in error and "missing )" in error
