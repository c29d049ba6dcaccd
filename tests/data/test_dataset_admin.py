"""Deleting and renaming datasets (core/data/dataset_admin.py) on a real DuckDB file holding two analysed datasets
that share rows: a delete removes exactly that dataset's rows (samples, scores, marks, jobs, synthesis runs, maps) and
leaves the other whole, content-keyed features included; a rename keeps features, marks and scores reachable under
the new name; a name clash and a running job are refused."""
import time

import pytest

from core.analysis.cache import latest_map
from core.data.datasets import ingest
from tests.app.fakes import fake_analyse
from tests.helpers import DATA


def counts(store, name: str) -> dict[str, int]:
    """Rows of each table that name the dataset, read through the store's own reads."""
    return {"samples": store.count_rows(name, "all"), "excluded": len(store.excluded(name)),
            "tags": sum(store.tag_counts(name).values()), "actions": len(store.actions(name)),
            "scores": len(store.scores_for(name, view="all")) + len(store.scores_for(name)),
            "runs": len(store.synth_runs_of(name))}


@pytest.fixture()
def two(store, tmp_path):
    """'a' (mixture_24) and 'b' (its first 12 rows: the same content hashes), both analysed, with marks and a run."""
    from ui.analysis import PageOptions

    lines = (DATA / "mixture_24.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "b.jsonl").write_text("".join(lines[:12]))
    ingest(store, DATA / "mixture_24.jsonl", name="a")
    ingest(store, tmp_path / "b.jsonl", name="b")
    opts = PageOptions()
    for name in ("a", "b"):
        fake_analyse(store, name, opts)
        ids = store.sample_ids(name)
        store.mark(name, ids[:2], "tag", "checked")
        store.mark(name, ids[-1:], "exclude")
        fake_analyse(store, name, opts)  # the kept rows' scores and map too
        store.open_synth_run(f"run-{name}", name, {"rounds": 1}, "pool", opts.feature_config().key())
    return store, opts


def test_delete_removes_exactly_that_dataset_and_leaves_the_other_whole(two):
    store, opts = two
    key = opts.feature_config().key()
    before_b = counts(store, "b")
    b_map = latest_map(store, "b", key)
    assert b_map is not None and latest_map(store, "a", key) is not None
    a_footprint = store.dataset_footprint("a")
    assert a_footprint["samples"] == 24 and a_footprint["maps"] >= 1 and a_footprint["marks"] == 3

    result = store.delete_dataset("a")
    assert result["removed"]["samples"] == 24 and result["removed"]["maps"] == a_footprint["maps"]
    assert store.dataset_names() == ["b"] and not store.has_dataset("a")
    assert all(v == 0 for v in store.dataset_footprint("a").values())
    assert counts(store, "b") == before_b
    again = latest_map(store, "b", key)
    assert again is not None and again.ids == b_map.ids  # b's map, its rows and artifacts untouched
    assert store.feature_coverage("b", key, opts.dim, "all") == 12  # shared content-keyed features kept
    assert not [p for p in store.artifact_dir().glob("map-*.npz")
                if store.cache_get(f"map:{p.stem.split('-', 1)[1]}") is None]  # no artifact of a deleted map left


def test_rename_keeps_features_marks_and_scores_reachable(two):
    from core.analysis.analyse import cached_overview

    store, opts = two
    before = counts(store, "b")
    overview = cached_overview(store, "b", opts)
    store.rename_dataset("b", "b2")
    assert "b" not in store.dataset_names() and "b2" in store.dataset_names()
    assert counts(store, "b2") == before and store.dataset_footprint("b")["samples"] == 0
    assert cached_overview(store, "b2", opts) == overview  # the scores of the same rows
    assert store.feature_coverage("b2", opts.feature_config().key(), opts.dim) == 11  # 12 rows, one excluded
    assert store.tagged("b2", "checked") == store.sample_ids("b2")[:2]
    assert store.synth_run("run-b")["dataset"] == "b2"
    assert counts(store, "a")["samples"] == 24  # the other dataset untouched


def test_rename_onto_an_existing_name_and_while_a_job_runs_are_refused(two):
    from core.jobs import JobRunner

    store, _ = two
    with pytest.raises(ValueError, match="exists already"):
        store.rename_dataset("b", "a")
    with pytest.raises(LookupError, match="no dataset named 'nope'"):
        store.delete_dataset("nope")
    runner = JobRunner(store)
    job = runner.start("analyse", "b", {}, lambda ctx: time.sleep(1.5))
    with pytest.raises(ValueError, match="job"):
        store.delete_dataset("b")
    with pytest.raises(ValueError, match="job"):
        store.rename_dataset("b", "c")
    runner.wait(job)
    assert counts(store, "b")["samples"] == 12 and store.dataset_names() == ["a", "b"]
    store.delete_dataset("b")
    assert store.dataset_names() == ["a"]
