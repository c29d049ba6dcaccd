"""The Target page (issue 22) on two small datasets with synthetic features (fakes.fake_analyse, no model): coverage
as a number, the curve, the shared map with uncovered eval rows marked, the contamination list (planted exact
copies), the variants beside it (a planted copy with other numbers: not contamination), and the exclusion of the
training copies with its undo."""
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fakes import fake_analyse
from tests.conftest import DATA, ROOT
from tests.helpers import app_workspace

pytestmark = pytest.mark.filterwarnings("ignore")
COPIED = 3  # the eval set's first rows are exact copies of the training set's first rows
VARIANT = ("g3", "6 sentences per minute", "7 sentences per minute")  # eval row v0: training row g3, another number


@pytest.fixture(scope="module")
def target_workspace(tmp_path_factory):
    with app_workspace(tmp_path_factory.mktemp("target-ws")) as ws:
        from core.data.datasets import ingest
        from ui import get_store
        from ui.analysis import PageOptions

        store = get_store()
        lines = (DATA / "mixture_24.jsonl").read_text().splitlines()[:COPIED]
        lines += [json.dumps({**json.loads(l), "id": f"e{i}"})
                  for i, l in enumerate((DATA / "gsm8k_8.jsonl").read_text().splitlines())]
        source = next(json.loads(l) for l in (DATA / "mixture_24.jsonl").read_text().splitlines()
                      if json.loads(l)["id"] == VARIANT[0])
        assert VARIANT[1] in source["question"]
        lines.append(json.dumps({**source, "id": "v0", "question": source["question"].replace(*VARIANT[1:])}))
        path = ws.parent / "evalset.jsonl"
        path.write_text("\n".join(lines) + "\n")
        ingest(store, DATA / "mixture_24.jsonl", name="train")
        ingest(store, path, name="evalset")
        ingest(store, DATA / "pool_16.jsonl", name="cands")
        fake_analyse(store, "train", PageOptions())
        fake_analyse(store, "evalset", PageOptions(), seed=5)  # its own draws: only the copies share features
        yield ws


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params.update({"train": "train", "eval": "evalset"})
    at.run()
    at.switch_page("pages/target.py")
    at.run()
    assert not at.exception, at.exception
    return at


def contamination(at):
    return next((d.value for d in at.dataframe if "kind" in d.value.columns
                 and "numbers only in eval" not in d.value.columns), None)


def variants(at):
    return next((d.value for d in at.dataframe if "numbers only in eval" in d.value.columns), None)


def test_the_target_page_shows_coverage_contamination_and_excludes_the_copies(target_workspace):
    from core.analysis.coverage import coverage
    from ui import get_store
    from ui.analysis import PageOptions

    store, fc = get_store(), PageOptions().feature_config()
    T = store.load_features("train", fc.key(), fc.dim)[1]
    E = store.load_features("evalset", fc.key(), fc.dim)[1]
    expected = coverage(T, E).coverage

    at = page()
    metric = next(m for m in at.metric if m.label == "Coverage")
    assert metric.value == f"{expected:.1%}"
    table = contamination(at)
    assert table is not None and len(table) == COPIED
    assert set(table["kind"]) == {"exact"} and set(table["eval id"]) == {"g0", "g1", "g2"}
    assert set(table["training id"]) == {"g0", "g1", "g2"}
    assert all(name.startswith("row ") and " · " in name for name in [*table["eval row"], *table["training row"]])
    assert not set(table["eval row"]) & {"g0", "g1", "g2"}  # rows named by line and first words, never a bare id
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    curve, shared = specs[0], specs[1]
    assert {t["name"].split(" (")[0] for t in curve["data"]} >= {"random rows"}
    names = [t["name"] for t in shared["data"]]
    assert any(n.startswith("evalset: uncovered") for n in names) and any(n.startswith("train") for n in names)
    assert sum(int(n.rsplit("(", 1)[1].rstrip(")")) for n in names) == len(T) + len(E)  # every row drawn
    assert any(b.label.startswith("Grow train toward evalset") for b in at.button)

    next(b for b in at.button if b.label.startswith("Exclude training copies")).click()
    at.run()
    assert not at.exception, at.exception
    assert sorted(store.excluded("train")) == ["g0", "g1", "g2"]
    assert contamination(at) is None  # the copies no longer count
    next(b for b in at.button if b.label == "Undo the exclusion").click()
    at.run()
    assert not at.exception, at.exception
    assert store.excluded("train") == []
    assert len(contamination(at)) == COPIED


def test_variants_are_listed_beside_the_contamination_list_and_not_as_contamination(target_workspace):
    """Eval row v0 is training row g3 with one number changed: its shingles find it, the numbers rule calls it a
    variant (a new problem to the model). The page lists it apart, labelled as no contamination, with its kind and the
    two texts' differing words marked; it is neither in the contamination list nor among the copies excluded."""
    at = page()
    table = variants(at)
    assert table is not None and len(table) == 1
    row = table.iloc[0]
    assert (row["eval id"], row["training id"], row["kind"]) == ("v0", "g3", "contained")  # the strongest signal
    assert row["training row"].startswith("row 4 · ")  # g3: the 4th line of its file
    assert "minhash" in row["signals"]
    assert row["numbers only in eval"] == "7"
    assert "[-7-] {+6+}" in row["training text (vs eval)"]
    assert "v0" not in set(contamination(at)["eval id"])
    from ui.target import around_change

    long = "word " * 200 + "[-7-] {+6+} tail"
    assert around_change(long).startswith("…") and "[-7-] {+6+}" in around_change(long)  # a late change is shown
    assert any(s.value.startswith("Variants") and "not contamination" in s.value for s in at.subheader)
    assert any("not a leak" in c.value and "never excluded" in c.value for c in at.caption)
    assert next(b for b in at.button if b.label.startswith("Exclude training copies")).label.endswith(
        f"({COPIED})")  # the variant's training row is no copy


def test_the_grow_button_launches_a_pool_run_toward_the_eval_set(target_workspace, monkeypatch):
    from types import SimpleNamespace

    import core.synthesis.launch as launch_module

    calls = []

    def fake_launch(store, runner, dataset, config, generator, feature_config, **kw):
        calls.append((dataset, config, generator))
        return SimpleNamespace(job_id="job-1", run_id="run-1")

    monkeypatch.setattr(launch_module, "launch", fake_launch)
    at = page()
    next(b for b in at.button if b.label == "Grow train toward evalset").click()
    at.run()
    assert not at.exception, at.exception
    (dataset, config, generator), = calls
    assert dataset == "train" and generator is None
    assert (config.source, config.pool, config.toward) == ("pool", "cands", "evalset")
    assert any("Run run-1" in c.value for c in at.caption)
