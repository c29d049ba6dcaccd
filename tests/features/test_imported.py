"""Your own vectors as a feature set (issue 13): the whole analysis runs on them; bad files store nothing."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.analysis.diversity import vendi_score
from tests.helpers import DATA, run_cli



@pytest.fixture()
def ingested(workspace):
    assert run_cli(workspace, "ingest", str(DATA / "mixture_24.jsonl"), "--name", "mix").returncode == 0
    ids = [json.loads(l)["id"] for l in (DATA / "mixture_24.jsonl").read_text().splitlines()]
    return workspace, ids


def test_imported_vectors_score_like_the_same_matrix_and_map_dedup_select_run_on_them(ingested, tmp_path):
    workspace, ids = ingested
    X = np.random.default_rng(0).normal(size=(len(ids), 12)).astype(np.float32)
    X[5] = X[4] * 1.01  # a planted near-copy
    path = tmp_path / "vecs.parquet"
    pq.write_table(pa.table({"id": ids, "emb": list(X)}), path)
    res = run_cli(workspace, "import-vectors", "mix", str(path), "--set", "mine", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["rows"] == 24
    score = json.loads(run_cli(workspace, "score", "mix", "--features", "mine", "--json").stdout)
    assert score["g_vendi"] == pytest.approx(vendi_score(X), rel=1e-5) and score["n"] == 24
    dedup = json.loads(run_cli(workspace, "dedup", "mix", "--features", "mine", "--threshold", "0.99", "--json").stdout)
    assert dedup["groups"] == [[ids[4], ids[5]]] or dedup["groups"] == [[ids[5], ids[4]]]
    for args in (["map", "mix", "--k", "3"], ["select", "mix", "--budget", "5"]):
        res = run_cli(workspace, *args, "--features", "mine", "--json")
        assert res.returncode == 0, res.stderr


def test_npy_with_ids_and_bad_files_are_clear_errors_that_store_nothing(ingested, tmp_path):
    workspace, ids = ingested
    X = np.random.default_rng(1).normal(size=(24, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", X)
    (tmp_path / "ids.txt").write_text("\n".join(ids))
    (tmp_path / "bad_ids.json").write_text(json.dumps(ids[:-1] + ["not-a-row"]))
    pq.write_table(pa.table({"id": ids[:2], "emb": [[1.0, 2.0], [1.0, 2.0, 3.0]]}), tmp_path / "ragged.parquet")
    for args, message in ((["--ids", str(tmp_path / "bad_ids.json")], "not rows of"),
                          ([], "needs its id list")):
        res = run_cli(workspace, "import-vectors", "mix", str(tmp_path / "v.npy"), "--set", "x", *args)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
    res = run_cli(workspace, "import-vectors", "mix", str(tmp_path / "ragged.parquet"), "--set", "x")
    assert res.returncode == 2 and "one length" in res.stderr
    from core.data.store import Store

    with Store() as store:
        assert store.query("SELECT count(*) FROM feature_configs")[0][0] == 0  # nothing was stored
    ok = run_cli(workspace, "import-vectors", "mix", str(tmp_path / "v.npy"), "--set", "x", "--ids",
             str(tmp_path / "ids.txt"), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["dim"] == 8
