"""row_detail and compare_selection on the demo (real DuckDB, the shipped features), and `python -m core row` /
`compare-rows` --json."""
import json

import numpy as np
import pytest

from tests.helpers import run_cli


@pytest.fixture()
def demo(store):
    from core.analysis.demo import load_demo
    from core.analysis.analyse import AnalysisOptions

    opts = AnalysisOptions()
    assert load_demo(store, opts)["analysed"]
    return store, opts.feature_config()


def test_neighbours_are_the_five_nearest_by_cosine_without_the_row(demo):
    from core.analysis.row_detail import row_detail

    store, config = demo
    ids, X = store.load_features("demo", config.key(), config.dim)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    row = 17
    sims = U @ U[row]
    sims[row] = -np.inf
    expected = [ids[j] for j in np.argsort(-sims)[:5]]
    d = row_detail(store, "demo", ids[row], config.key(), config.dim)
    assert [n.id for n in d.neighbours] == expected and ids[row] not in [n.id for n in d.neighbours]
    assert [round(n.similarity, 4) for n in d.neighbours] == [round(float(sims[ids.index(i)]), 4) for i in expected]
    sample = store.rows_by_id("demo", [ids[row]])[ids[row]]
    assert d.prompt == sample.prompt and d.response == sample.response
    assert d.position == row + 1 and d.name.startswith(f"row {row + 1} · " + " ".join(sample.prompt.split()[:3]))
    assert d.cluster is not None and d.sparse_reasons[0].startswith(("sparse under", "not sparse under"))
    assert all(n.name.startswith("row ") and n.cluster is not None for n in d.neighbours)


def test_a_suspect_row_says_why_and_tags_are_listed(demo):
    from core.analysis.quality import read_quality
    from core.analysis.row_detail import row_detail

    store, config = demo
    q = read_quality(store, "demo", config.key())
    suspect = q.suspect_ids()
    assert suspect, "the demo has suspect rows"
    store.mark("demo", [suspect[0]], "tag", "look")
    d = row_detail(store, "demo", suspect[0], config.key(), config.dim)
    assert d.suspect and d.quality_reasons and d.tags == ["look"]
    clean = next(i for i in q.ids if i not in suspect)
    assert not row_detail(store, "demo", clean, config.key(), config.dim).quality_reasons
    with pytest.raises(KeyError):
        row_detail(store, "demo", "no-such-row", config.key(), config.dim)


def test_compare_selection_against_the_rest(demo):
    from core.analysis import cache
    from core.analysis.diversity import vendi_score
    from core.analysis.row_detail import compare_selection

    store, config = demo
    ids, X = store.load_features("demo", config.key(), config.dim)
    gmap = cache.latest_map(store, "demo", config.key())
    picked = ids[:30]
    c = compare_selection(store, "demo", picked + ["nope"], config.key(), config.dim, gmap=gmap)
    assert (c.n_selected, c.n_rest, c.missing) == (30, 270, ["nope"])
    assert c.g_vendi_selected == pytest.approx(vendi_score(X[:30]), rel=1e-5)
    assert c.g_vendi_rest == pytest.approx(vendi_score(X[30:]), rel=1e-5)
    assert sum(c.clusters_selected.values()) == 30 and sum(c.clusters_rest.values()) == 270
    assert c.g_vendi_rest_at_n is not None and c.g_vendi_rest_at_n < c.g_vendi_rest


def test_cli_row_and_compare_rows_json(workspace):
    assert run_cli(workspace, "demo", "--json").returncode == 0
    from core.data.store import Store

    with Store() as store:
        first = store.sample_ids("demo")[0]
    res = run_cli(workspace, "row", "demo", first, "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["id"] == first and out["position"] == 1 and len(out["neighbours"]) == 5
    assert first not in [n["id"] for n in out["neighbours"]] and out["cluster"] is not None and out["prompt"]
    res = run_cli(workspace, "compare-rows", "demo", "--ids", first + "," + out["neighbours"][0]["id"], "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["n_selected"] == 2
    res = run_cli(workspace, "similar-rows", "demo", "--ids", first, "--k", "5", "--json")
    assert res.returncode == 0, res.stderr
    near = json.loads(res.stdout)["neighbours"]
    assert [n["id"] for n in near] == [n["id"] for n in out["neighbours"]]  # one row: its own nearest rows
    assert all(n["name"].startswith("row ") for n in near)
    bad = run_cli(workspace, "row", "demo", "no-such-row", "--json")
    assert bad.returncode == 2 and "no row 'no-such-row'" in bad.stderr
