"""Regex search under hostile patterns (issue 17, hole 4): the pattern runs in DuckDB's RE2 only (linear time), the
match offset too, so `(a|a)+c|!` on one 35-character row returns at once instead of pinning a CPU in Python's
backtracking `re`; offsets stay right for ordinary patterns; an over-long pattern is refused. Each failed before."""
import json
import re
import subprocess
import sys

import pytest

from core.analysis.search import MAX_PATTERN, search
from tests.conftest import ROOT, cli_env

BOMB = "(a|a)+c|!"
ROW = "a" * 34 + "!"  # 35 characters: 2^34 paths for a backtracking engine before it tries the '!' alternative


def rows_file(tmp_path, rows):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "prompt": p, "response": r}) for i, p, r in rows) + "\n")
    return path


def test_a_regex_bomb_on_one_row_returns_with_the_right_offset(workspace, tmp_path):
    """Through the real CLI in a subprocess with a timeout, so a regression fails here instead of hanging."""
    env = cli_env(workspace)
    path = rows_file(tmp_path, [("bomb", ROW, "fine"), ("plain", "nothing here", "none")])
    run = [sys.executable, "-m", "core"]
    res = subprocess.run(run + ["ingest", str(path), "--name", "b"], env=env, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    try:
        res = subprocess.run(run + ["search", "b", BOMB, "--regex", "--json"], env=env, capture_output=True,
                             text=True, timeout=60, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"search --regex {BOMB!r} on one {len(ROW)}-character row ran past 60 s")
    assert res.returncode == 0, res.stderr
    hits = json.loads(res.stdout)["hits"]
    assert hits == [{"id": "bomb", "field": "prompt", "start": 34}]


def test_regex_and_substring_offsets_are_where_the_match_starts(store, tmp_path):
    from core.data.ingest import ingest_file

    rows = [("r0", "I have 12 dollars and 5 dollars", "x"), ("r1", "nothing", "It costs 30 dollars"),
            ("r2", "ab\nb and é or É", "x"), ("r3", "xxAB", "x"), ("r4", "Ünïcödé: 7 Dollars", "x")]
    store.save_dataset("o", ingest_file(rows_file(tmp_path, rows)), source="x")
    for pattern in (r"\d+ dollars", r"(?i)\d+ DOLLARS", "(?m)^b", "b$", "é", "(?i)ab", r"a|\d", "d+ollars|Ü"):
        hits = search(store, "o", pattern, regex=True)
        texts = {i: (p, r) for i, p, r in rows}
        want = []
        for i, p, r in rows:  # Python's re agrees with RE2 on these (no backtracking blow-up)
            for field, text in (("prompt", p), ("response", r)):
                m = re.search(pattern, text)
                if m:
                    want.append((i, field, m.start()))
                    break
        assert [(h.id, h.field, h.start) for h in hits] == want, (pattern, texts)
    # RE2 syntax Python's re does not read (a Unicode class): the offset used to be unknown (-1)
    assert [(h.id, h.start) for h in search(store, "o", r"\p{Lu}\p{Lu}", regex=True)] == [("r3", 2)]
    sub = search(store, "o", "DOLLARS")
    assert [(h.id, h.field, h.start) for h in sub] == [("r0", "prompt", 10), ("r1", "response", 12),
                                                       ("r4", "prompt", 11)]


def test_an_over_long_regex_is_refused_clearly(store, tmp_path):
    from core.data.ingest import ingest_file

    store.save_dataset("o", ingest_file(rows_file(tmp_path, [("r0", "abc", "x")])), source="x")
    with pytest.raises(ValueError, match="at most 1,000"):
        search(store, "o", "a" * (MAX_PATTERN + 1), regex=True)
    assert [h.id for h in search(store, "o", "a" * 3 + "|b" * 400, regex=True)] == ["r0"]  # long but allowed
