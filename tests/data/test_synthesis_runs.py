"""The owner of the synthesis tables (core/data/synthesis_runs.py) and the samples reads its callers needed
(core/data/samples.py), against a real DuckDB file: what each method returns, in which order, and which writes
land together or not at all."""
import json

import numpy as np
import pytest

from core.data.ingest import ingest_file
from core.data.synthesis_runs import RoundClustering
from tests.conftest import DATA


def cand(rnd, req, prob, reason, **kw):
    return {"round": rnd, "request_idx": req, "problem_idx": prob, "reason": reason, **kw}


def clustering(n=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return RoundClustering(labels=rng.integers(-1, k, size=n), centroids=rng.normal(size=(k, 4)).astype(np.float32),
                           sparse=np.array([True, False, True][:k]), pool_n=n)


def test_open_joins_the_same_run_and_drops_failed_candidates_of_unfinished_rounds_only(store):
    store.open_synth_run("r1", "mix", {"rounds": 2, "source": "generator"}, "openai:m", "fk")
    first = store.synth_run("r1")
    assert first["dataset"] == "mix" and first["config"] == {"rounds": 2, "source": "generator"}
    assert first["generator"] == "openai:m" and first["feature_key"] == "fk" and first["status"] == "running"
    assert first["summary"] == {}
    store.add_candidates("r1", [cand(0, 0, 0, "generation error", raw_output="HTTP 500"),
                                cand(0, 1, 0, "accepted", content_hash="h01"),
                                cand(1, 0, 0, "generation error"), cand(1, 1, 0, "solution error"),
                                cand(1, 2, 0, "no answer")])
    store.save_round_clustering("r1", 0, clustering(), k=3)
    store.finish_round("r1", 0, [], {"accepted": 1})
    store.close_synth_run("r1", "failed", {"error": "x"})
    assert store.synth_run("r1")["status"] == "failed" and store.synth_run("r1")["summary"] == {"error": "x"}

    store.open_synth_run("r1", "mix", {"rounds": 2, "source": "generator"}, "openai:m", "fk")  # a relaunch
    again = store.synth_run("r1")
    assert again["status"] == "running" and again["created_at"] == first["created_at"]
    kept = sorted(zip(*[store.candidates_frame("r1")[c] for c in ("round", "request_idx", "reason")]))
    # round 0 is done: its failed candidate stays; round 1 is not: its two failed ones go, 'no answer' stays
    assert kept == [(0, 0, "generation error"), (0, 1, "accepted"), (1, 2, "no answer")]
    assert store.synth_run("nope") is None


def test_runs_of_a_dataset_newest_first(store):
    for run_id, dataset in (("a", "mix"), ("b", "other"), ("c", "mix")):
        store.open_synth_run(run_id, dataset, {"k": run_id}, "g", "fk")
    assert [r["run_id"] for r in store.synth_runs_of("mix")] == ["c", "a"]
    assert store.synth_runs_of("mix")[1] == {"run_id": "a", "status": "running", "generator": "g",
                                            "config": {"k": "a"}, "created_at": store.synth_run("a")["created_at"]}
    assert store.synth_runs_of("none") == []


def test_candidates_are_written_once_and_read_back_per_question(store):
    store.open_synth_run("r", "mix", {}, "pool:p", "fk")
    store.add_candidates("r", [
        cand(1, 0, 0, "accepted", content_hash="h10", problem="p10", solution="s10", source_id="x3"),
        cand(0, 1, 0, "accepted", content_hash="h01", problem="p01", solution="s01", source_id="x2",
             target_cluster=4, cluster=5, votes=3, answer="7", solutions=["a", "b"], answers=["7", "7"]),
        cand(0, 0, 1, "duplicate", content_hash="h001", source_id="x1", quality=["junk"]),
        cand(0, 0, 0, "accepted", content_hash="h000", problem="p000", solution="s000", source_id="x0"),
        cand(0, 2, 0, "parse failure", source_id="x4", raw_output="garbled")])
    # a second write of a stored candidate changes nothing (a resumed step re-sends it)
    store.add_candidates("r", [cand(0, 0, 0, "dense cluster", content_hash="other")])
    store.add_candidates("r", [])

    assert store.accepted_count("r") == 3
    assert store.accepted_hashes("r", 0) == ["h000", "h01"] and store.accepted_hashes("r", 1) == ["h10"]
    assert store.candidate_hashes("r") == {"h10", "h01", "h001", "h000"}  # no None for the parse failure
    assert store.requests_done("r", 0) == {0, 1, 2} and store.requests_done("r", 2) == set()
    assert store.used_source_ids("r") == {"x0", "x1", "x2", "x3", "x4"}
    assert store.reason_counts("r") == {"accepted": 3, "duplicate": 1, "parse failure": 1}
    assert store.round_candidates("r", 0) == [(0, 0, "h000", "p000", "s000", "accepted"),
                                              (0, 1, "h001", None, None, "duplicate"),
                                              (1, 0, "h01", "p01", "s01", "accepted"),
                                              (2, 0, None, None, None, "parse failure")]
    assert sorted(store.round_errors("r", 0)) == [("accepted", None), ("accepted", None), ("duplicate", None),
                                                  ("parse failure", "garbled")]

    filtered = store.arm_candidates("r")
    assert [(c.round, c.request_idx, c.problem_idx) for c in filtered] == [(0, 0, 0), (0, 1, 0), (1, 0, 0)]
    assert filtered[1].target_cluster == 4 and filtered[1].cluster == 5 and filtered[1].votes == 3
    assert (filtered[1].answer, filtered[1].problem, filtered[1].solution) == ("7", "p01", "s01")
    assert (filtered[1].content_hash, filtered[1].source_id) == ("h01", "x2")
    assert [c.content_hash for c in store.arm_candidates("r", "filtered", before_round=1)] == ["h000", "h01"]
    assert store.arm_candidates("r", "control") == []  # nothing drawn before finish_round
    with pytest.raises(ValueError):
        store.arm_candidates("r", "accepted")

    frame = store.candidates_frame("r")
    assert list(zip(frame["round"], frame["request_idx"], frame["problem_idx"])) == [
        (0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 2, 0), (1, 0, 0)]
    assert list(frame["accepted"]) == [True, False, True, False, True]
    assert json.loads(frame["quality"][1]) == ["junk"] and frame["quality"].isna()[0]
    assert json.loads(frame["solutions"][2]) == ["a", "b"] and json.loads(frame["answers"][2]) == ["7", "7"]


def test_a_rounds_clustering_round_trips_and_is_replaced_with_its_row(store):
    assert store.round_clustering("r", 0) is None and store.round_clusterings("r") == {}
    c0, c1 = clustering(6, seed=1), clustering(8, seed=2)
    store.save_round_clustering("r", 1, c1, k=3)
    store.save_round_clustering("r", 0, c0, k=3)
    got = store.round_clustering("r", 0)
    assert got.pool_n == 6 and np.array_equal(got.labels, c0.labels) and np.array_equal(got.sparse, c0.sparse)
    assert np.array_equal(got.centroids, c0.centroids) and got.centroids.dtype == np.float32
    assert list(store.round_clusterings("r")) == [0, 1] and store.round_clusterings("r")[1].pool_n == 8
    assert store.clustered_rounds("r") == 2 and store.clustered_rounds("other") == 0
    assert store.query("SELECT k, sparse_clusters, status, accepted, candidates FROM synth_rounds WHERE run_id = 'r' "
                       "AND round = 0") == [(3, "[0, 2]", "running", 0, 0)]

    store.finish_round("r", 0, [], {"accepted": 2})
    store.save_round_clustering("r", 0, c1, k=3)  # re-clustered: the row starts over with the new clustering
    assert store.round_clustering("r", 0).pool_n == 8 and not store.round_done("r", 0)
    assert store.query("SELECT accepted, status FROM synth_rounds WHERE run_id = 'r' AND round = 0") == [
        (0, "running")]


def test_a_failed_clustering_write_leaves_the_rounds_old_row(store):
    """The delete of the old row and the insert of the new one are one transaction."""
    store.save_round_clustering("r", 0, clustering(6), k=3)
    with pytest.raises(Exception):
        store.save_round_clustering("r", 0, clustering(8), k="not a number")  # the INSERT fails after the DELETE
    assert store.round_clustering("r", 0).pool_n == 6


def test_finish_round_draws_the_control_scores_and_marks_done_in_one_go(store):
    store.open_synth_run("r", "mix", {}, "g", "fk")
    store.add_candidates("r", [cand(0, q, 0, "accepted" if q < 2 else "dense cluster", content_hash=f"h{q}")
                               for q in range(4)] + [cand(1, 0, 0, "dense cluster", content_hash="h9")])
    store.save_round_clustering("r", 0, clustering(), k=3)
    store.save_round_clustering("r", 1, clustering(), k=3)
    store.finish_round("r", 0, [(2, 0), (3, 0)], {"g_vendi_before": 1.5, "g_vendi_after": 2.5, "accepted": 2,
                                                  "control_accepted": 2, "candidates": 4})
    assert [c.content_hash for c in store.arm_candidates("r", "control")] == ["h2", "h3"]
    store.finish_round("r", 0, [(1, 0)], {"g_vendi_after": 3.0})  # a redraw replaces the round's draw
    assert [c.content_hash for c in store.arm_candidates("r", "control")] == ["h1"]
    assert store.round_done("r", 0) and not store.round_done("r", 1)
    rounds = store.done_rounds("r")
    assert len(rounds) == 1 and rounds[0]["round"] == 0 and rounds[0]["g_vendi_after"] == 3.0
    assert rounds[0]["g_vendi_before"] == 1.5 and rounds[0]["accepted"] == 2 and rounds[0]["pool_n"] == 6
    assert rounds[0]["k"] == 3 and rounds[0]["g_vendi_control"] is None

    with pytest.raises(ValueError):  # not a score: nothing of the call is written
        store.finish_round("r", 1, [(0, 0)], {"g_vendi_after": 1.0, "status": "x"})
    assert not store.round_done("r", 1) and [c.content_hash for c in store.arm_candidates("r", "control")] == ["h1"]

    store.fail_round("r", 1, "every request failed")
    assert store.query("SELECT status, error FROM synth_rounds WHERE run_id = 'r' AND round = 1") == [
        ("failed", "every request failed")]
    store.finish_round("r", 1, [], {"accepted": 0})
    assert [r["round"] for r in store.done_rounds("r")] == [0, 1]


def test_the_request_cache_keeps_a_good_reply_and_replaces_an_error(store):
    assert store.llm_cached([]) == {} and store.llm_cached(["a"]) == {}
    store.llm_cache_put([("a", "reply a", None), ("b", None, "HTTP 500")])
    store.llm_cache_put([("a", None, "HTTP 429"), ("b", "reply b", None), ("c", "reply c", None)])
    store.llm_cache_put([("b", "other", None)])
    assert store.llm_cached(["a", "b", "c", "d"]) == {"a": ("reply a", None), "b": ("reply b", None),
                                                      "c": ("reply c", None)}


def test_sample_reads(store):
    store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    samples = store.samples("mix", "all")
    ids = [s.id for s in samples]
    store.mark("mix", ids[1:3], "exclude")

    assert store.sample_ids("mix") == ids and store.sample_ids("none") == []
    got = store.rows_by_id("mix", [ids[2], ids[5], "nope"])  # an excluded row too
    assert got == {ids[2]: samples[2], ids[5]: samples[5]} and store.rows_by_id("mix", []) == {}
    assert store.count_rows("mix") == 22 and store.count_rows("mix", "all") == 24 and store.count_rows("none") == 0

    chunks = list(store.sample_chunks("mix", "kept", chunk=10))
    assert [len(c) for c in chunks] == [8, 10, 4]
    assert [s for c in chunks for s in c] == [s for i, s in enumerate(samples) if i not in (1, 2)]
    assert [s.meta for c in chunks for s in c] == [s.meta for i, s in enumerate(samples) if i not in (1, 2)]
    assert [len(c) for c in store.sample_chunks("mix", "all", chunk=24)] == [24]
    assert list(store.sample_chunks("none")) == []

    mean = sum(len(s.prompt) for s in samples) / len(samples)
    assert store.mean_prompt_chars("mix") == pytest.approx(mean) and store.mean_prompt_chars("none") is None
