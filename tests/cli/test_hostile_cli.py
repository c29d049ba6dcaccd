"""The CLI under hostile input (issue 17, holes 9 and 10): every bad value is a one-line `error: ...` with exit 2 (no
traceback; PRISM_DEBUG=1 shows it), and a refused command leaves the workspace as it found it; --json output is
strict JSON; ids holding commas can be tagged; an action is only undone through its own dataset. Each test failed
on the code before the fix."""
import json
import math

import pytest

from core.cli import main
from tests.helpers import DATA, LIGHT_FLAGS as LIGHT
BAD_VALUES = [
    ["search", "mix", "apples", "--limit", "-1"],
    ["search", "mix", "apples", "--limit", "0"],
    ["map", "mix", "--k", "-1", *LIGHT],
    ["map", "mix", "--k", "0", *LIGHT],
    ["analyse", "mix", "--k", "1"],
    ["similar", "mix", "g0", "--k", "-1", *LIGHT],
    ["select", "mix", "--budget", "-3", *LIGHT],
    ["score", "mix", "--q", "nan", "--json", *LIGHT],
    ["score", "mix", "--q", "inf", "--json", *LIGHT],
    ["score", "mix", "--q", "-1", *LIGHT],
    ["dedup", "mix", "--threshold", "nan", *LIGHT],
    ["dedup", "mix", "--minhash", "5", *LIGHT],
    ["features", "mix", "--batch-size", "0", *LIGHT],
    ["features", "mix", "--dim", "-64"],
    ["map", "mix", "--seed", "-1", *LIGHT],
    ["synthesize", "mix", "--generator", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
     "--concurrency", "0"],
    ["synthesize", "mix", "--generator", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
     "--timeout", "-1"],
    ["synthesize", "mix", "--generator", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
     "--requests-per-round", "0"],
]


@pytest.fixture()
def mix(workspace, capsys):
    assert main(["ingest", str(DATA / "mixture_24.jsonl"), "--name", "mix"]) == 0
    capsys.readouterr()
    return workspace


def snapshot(workspace) -> dict:
    """Row count of every table, and the workspace's files: what a refused command must leave unchanged."""
    from core.data.store import Store

    with Store() as store:
        tables = [t for (t,) in store.query("SELECT table_name FROM information_schema.tables")]
        counts = {t: store.query(f'SELECT count(*) FROM "{t}"')[0][0] for t in tables}
    files = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*") if not p.name.endswith(".wal"))
    return {"rows": counts, "files": files}


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def case_id(argv) -> str:
    return " ".join(argv[:1] + [w for w in argv if w.startswith("--") and w not in LIGHT][-1:])


@pytest.mark.parametrize("argv", BAD_VALUES, ids=case_id)
def test_a_bad_number_is_a_one_line_error_and_writes_nothing(mix, capsys, argv):
    before = snapshot(mix)
    with pytest.raises(SystemExit) as info:  # argparse refuses it before anything runs
        main(argv)
    out, err = capsys.readouterr()
    assert info.value.code == 2 and out == ""
    line = one_line_error(err)
    assert "--" in line and any(w in line for w in ("or more", "more than", "finite", "at most")), line
    assert snapshot(mix) == before


@pytest.mark.parametrize("memory, says", [("bogus", "the workspace database refused 'search'"),
                                          ("1KB", "ran out of memory during 'search'")])
def test_a_database_error_is_a_one_line_error(mix, capsys, monkeypatch, memory, says):
    monkeypatch.setenv("PRISM_DUCKDB_MEMORY", memory)
    assert main(["search", "mix", "apples"]) == 2
    assert says in one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize("exc, says", [(MemoryError(), "out of memory: 'search' on 'mix'"),
                                       (TypeError("unhashable type: 'list'"), "got a value of the wrong type")])
def test_memory_and_type_errors_are_one_line_and_debug_shows_the_traceback(mix, capsys, monkeypatch, exc, says):
    import core.analysis.search as search

    def boom(*args, **kwargs):
        raise exc

    monkeypatch.setattr(search, "search", boom)
    assert main(["search", "mix", "apples"]) == 2
    assert says in one_line_error(capsys.readouterr().err)
    monkeypatch.setenv("PRISM_DEBUG", "1")
    assert main(["search", "mix", "apples"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error: ")


def test_json_output_is_strict_json(capsys):
    import argparse

    import numpy as np

    from core.cli.common import emit

    emit(argparse.Namespace(json=True), {"g": float("nan"), "q": [float("inf"), -math.inf, 1.5],
                                         "n": np.float32(2.5), "k": np.int64(3)}, "text")
    out = capsys.readouterr().out

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    assert json.loads(out, parse_constant=refuse) == {"g": None, "q": [None, None, 1.5], "n": 2.5, "k": 3}


def ids_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"id": "a,b", "prompt": "p1", "response": "r1"}, {"id": "c", "prompt": "p2", "response": "r2"},
            {"id": " d ", "prompt": "p3", "response": "r3"}, {"id": "e", "prompt": "p4", "response": "r4"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_ids_with_commas_are_tagged_whole(workspace, tmp_path, capsys):
    assert main(["ingest", str(ids_file(tmp_path)), "--name", "t"]) == 0
    assert main(["tag", "t", "--id", "a,b", "--tag", "comma"]) == 0
    listed = tmp_path / "ids.txt"
    listed.write_text("a,b\r\n d \n\nc\n")
    assert main(["tag", "t", "--ids-file", str(listed), "--tag", "file"]) == 0
    assert main(["tag", "t", "--ids", "c,e", "--tag", "plain"]) == 0  # comma-separated --ids still works
    capsys.readouterr()
    from core.data.store import Store

    with Store() as store:
        assert store.tags("t") == {"a,b": ["comma", "file"], " d ": ["file"], "c": ["file", "plain"],
                                   "e": ["plain"]}
    assert main(["tag", "t", "--tag", "x"]) == 2
    assert "--id ID" in one_line_error(capsys.readouterr().err)


def test_undo_refuses_an_action_of_another_dataset(workspace, tmp_path, capsys):
    assert main(["ingest", str(ids_file(tmp_path)), "--name", "t"]) == 0
    assert main(["ingest", str(ids_file(tmp_path)), "--name", "other"]) == 0
    capsys.readouterr()
    assert main(["tag", "t", "--id", "c", "--exclude", "--json"]) == 0
    action = json.loads(capsys.readouterr().out)["action_id"]
    assert main(["tag", "other", "--undo", action]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "belongs to dataset 't', not 'other'" in line
    from core.data.store import Store

    with Store() as store:
        assert store.excluded("t") == ["c"]  # nothing undone
        assert not any(a.undone for a in store.actions("t"))
    assert main(["tag", "t", "--undo", action, "--json"]) == 0  # through its own dataset it is undone
    assert json.loads(capsys.readouterr().out)["dataset"] == "t"
    with Store() as store:
        assert store.excluded("t") == []
