"""Prismatic Synthesis: parsing and voting, the OpenAI client's fault handling against a local stub, kill -9 and
resume, the embedded generator end to end, export with provenance, and no API key anywhere."""
import json
import signal
from pathlib import Path

import pytest

from core.synthesis.answers import extract_answer, majority, parse_problems
from core.synthesis.loop import REASONS
from tests.helpers import DATA, fake_features, ingest_mix, kill_after_progress, light_config, run_cli
from tests.openai_stub import Stub

SECRET = "sk-prism-test-SECRET-0042"


def test_parse_problems_tolerates_formats():
    text = ("Sure!\n**Problem 1:** Tom has 5 apples and eats 2. How many are left?\n\n"
            "Problem 2) A train goes 60 miles in 2 hours. What is its speed?\nSolution: 30 mph\n"
            "### Problem 3: short")
    assert parse_problems(text, 5) == ["Tom has 5 apples and eats 2. How many are left?",
                                       "A train goes 60 miles in 2 hours. What is its speed?"]
    assert parse_problems(text, 1) == ["Tom has 5 apples and eats 2. How many are left?"]
    assert parse_problems("", 2) == [] and parse_problems("42", 2) == []
    assert parse_problems("A baker makes 12 loaves a day. How many in a week?", 2)  # no markers: one problem


def test_majority_vote_on_math_answers():
    answers = [extract_answer(t, "math") for t in ["so \\boxed{12}", "\\boxed{12.0} done", "\\boxed{7}"]]
    assert majority(answers, "math") == (0, 2)
    split = [extract_answer(t, "math") for t in ["\\boxed{1}", "\\boxed{2}", "no idea"]]
    assert majority(split, "math")[0] is None
    assert majority([None, None, None], "math") == (None, 0)
    assert majority(["x", "x", "y"], "exact") == (0, 2)


def test_openai_generator_retries_what_is_retryable(store):
    from core.synthesis.generators import Request
    from core.synthesis.openai_backend import OpenAIGenerator

    with Stub(faults=["429", "500", "timeout", "truncated", "nonjson"], timeout_sleep=2.0) as stub:
        gen = OpenAIGenerator(store, base_url=stub.url, model="stub", api_key=SECRET, concurrency=1, timeout=0.5,
                              max_retries=6, backoff=0.01)
        req = Request((("user", "Solve 2 and 3.\n\nSolve the problem step by step"),))
        [res] = gen.generate([req])
        assert res.text and "\\boxed{5}" in res.text and res.attempts == 6
        assert gen.stats["retries"] == 5 and stub.state.served[:5] == ["429", "500", "timeout", "truncated",
                                                                      "nonjson"]
        again = gen.generate([req])[0]  # the request cache answers; the endpoint is not asked again
        assert again.cached and again.text == res.text and len(stub.state.bodies) == 6

    with Stub(faults=["500"] * 10) as stub:
        gen = OpenAIGenerator(store, base_url=stub.url, model="stub-2", concurrency=1, max_retries=2, backoff=0.01)
        [res] = gen.generate([Request((("user", "anything"),))])
        assert res.text is None and "500" in res.error and res.attempts == 3


@pytest.fixture()
def seeded(workspace):
    return ingest_mix(workspace)


def test_stub_run_survives_faults_exports_provenance_and_never_leaks_the_key(seeded, tmp_path):
    faults = ["429", "500", "timeout", "truncated", "nonjson", "noproblem", "noproblem"]
    with Stub(faults=faults, api_key=SECRET, timeout_sleep=3.0) as stub:
        res = run_cli(seeded, "synthesize", "mix", "--generator", "openai", "--base-url", stub.url, "--model",
                      "stub-model", "--requests-per-round", "4", "--solutions-per-problem", "3", "--timeout", "1",
                      "--concurrency", "2", "--json",
                      env_extra={"PRISM_API_KEY": SECRET, "PRISM_API_BASE_URL": stub.url}, light=True)
        assert res.returncode == 0, res.stderr[-3000:]
        assert stub.state.bad_auth == 0  # the key from the environment was used
        assert set(faults) <= set(stub.state.served)
    out = json.loads(res.stdout)
    assert {"dataset", "rounds", "accepted", "rejected", "g_vendi_before", "g_vendi_after", "g_vendi_control"} <= set(out)
    assert out["rounds"] == 1 and set(out["rejected"]) <= set(REASONS)
    n_candidates = out["accepted"] + sum(out["rejected"].values())
    assert n_candidates >= 4  # every request leaves at least one recorded candidate
    assert out["g_vendi_after"] >= out["g_vendi_before"] - 1e-9 or out["accepted"] == 0

    jsonl, parquet = tmp_path / "grown.jsonl", tmp_path / "grown.parquet"
    for fmt, path in (("jsonl", jsonl), ("parquet", parquet)):
        r = run_cli(seeded, "export", "mix", "--format", fmt, "--out", str(path))
        assert r.returncode == 0, r.stderr
    rows = [json.loads(l) for l in jsonl.read_text().splitlines()]
    seeds = [r for r in rows if r["origin"] == "seed"]
    synthetic = [r for r in rows if r["origin"] == "synthetic"]
    assert len(seeds) == 24 and len(synthetic) == out["accepted"]
    for r in synthetic:
        assert r["round"] == 0 and r["generator"] == "openai:stub-model" and r["votes"] >= 2
        assert r["target_cluster"] is not None and r["prompt"] and r["response"]
    import pyarrow.parquet as pq

    assert pq.read_table(parquet).num_rows == len(rows)

    # the key is nowhere: database (and its WAL), logs, exports
    for path in list(Path(seeded).rglob("*")) + [jsonl, parquet]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in res.stdout + res.stderr


def test_killed_synthesis_resumes_without_duplicates(seeded):
    with Stub(delay=0.15) as stub:
        args = ["synthesize", "mix", "--generator", "openai", "--base-url", stub.url, "--model", "stub-model",
                "--requests-per-round", "8", "--request-batch", "2", "--solutions-per-problem", "3"]
        assert kill_after_progress(seeded, *args, stage="synthesis", light=True) == -signal.SIGKILL
        from core.data.store import Store

        with Store() as store:
            before = store.query("SELECT round, request_idx, problem_idx, reason FROM synth_candidates")
            accepted_before = {r[:3] for r in before if r[3] == "accepted"}
        requests_done_before = {r[1] for r in before}
        assert 2 <= len(requests_done_before) < 8
        sent_before = len(stub.state.bodies)

        res = run_cli(seeded, *args, "--json", light=True)
        assert res.returncode == 0, res.stderr[-3000:]
        with Store() as store:
            after = store.query("SELECT round, request_idx, problem_idx, reason FROM synth_candidates")
            total, distinct = store.query("SELECT count(*), count(DISTINCT (round, request_idx, problem_idx)) "
                                          "FROM synth_candidates")[0]
        assert total == distinct == len(after)
        assert {r[1] for r in after} == set(range(8))  # the budget is finished
        assert accepted_before <= {r[:3] for r in after if r[3] == "accepted"}  # nothing accepted was lost
        fresh = 8 + 8 * 2 * 3  # what one uninterrupted run asks the endpoint at most
        in_flight_slack = 2 + 2 * 2 * 3
        assert len(stub.state.bodies) <= fresh + in_flight_slack
        assert len(stub.state.bodies) - sent_before < fresh  # the resumed run paid only for what was missing
        out = json.loads(res.stdout)
        assert out["accepted"] + sum(out["rejected"].values()) == len(after)


@pytest.mark.slow  # real llama.cpp + the real model through the whole loop: the server alone is test_local_server's
# default test, the loop's every step is the stub runs' (default)
def test_embedded_generator_tiny_run_end_to_end(workspace, tmp_path):
    from core.data.ingest import ingest_file
    from core.synthesis.export import export
    from core.synthesis.embedded import EmbeddedGenerator
    from core.data.store import Store
    from core.synthesis.loop import SynthesisConfig, candidates_frame, run_synthesis

    with Store() as store:
        store.save_dataset("mix", ingest_file(DATA / "mixture_24.jsonl"), source="x")
        config = SynthesisConfig(rounds=1, requests_per_round=2, problems_per_request=2, solutions_per_problem=2,
                                 max_problem_tokens=96, max_solution_tokens=128)
        summary = run_synthesis(store, "mix", config, EmbeddedGenerator(store), light_config())
        frame = candidates_frame(store, summary["run_id"])
        assert len(frame) >= 2 and set(frame["reason"]) <= set(REASONS)
        assert set(frame["request_idx"]) == {0, 1}
        assert (frame["raw_output"].str.len() > 0).all()  # the generator's raw text is kept for every candidate
        assert summary["accepted"] == int(frame["accepted"].sum())
        n = export(store, "mix", run_id=summary["run_id"], fmt="jsonl", out=tmp_path / "g.jsonl")
        assert n == 24 + summary["accepted"]
        rows = [json.loads(l) for l in (tmp_path / "g.jsonl").read_text().splitlines()]
        assert all(r["generator"].startswith("embedded:") for r in rows if r["origin"] == "synthetic")


def test_a_run_where_every_request_failed_is_failed_not_done_and_a_fixed_key_completes_it(seeded):
    """A wrong key used to leave the run 'done' with 0 accepted (and the 401s cached, so fixing the key changed
    nothing). Now: status failed with the reason, exit 3, valid JSON; the relaunch with the right key sends again."""
    args = ["synthesize", "mix", "--generator", "openai", "--model", "stub-model", "--requests-per-round", "2",
            "--solutions-per-problem", "1", "--json"]
    with Stub(api_key=SECRET) as stub:
        bad = run_cli(seeded, *args, "--base-url", stub.url,
                      env_extra={"PRISM_API_KEY": "sk-wrong-000000000", "PRISM_API_BASE_URL": stub.url}, light=True)
        assert bad.returncode == 3, bad.stderr[-2000:]
        out = json.loads(bad.stdout)
        assert out["status"] == "failed" and "refused the API key" in out["error"] and out["accepted"] == 0
        assert "sk-wrong" not in bad.stdout + bad.stderr
        good = run_cli(seeded, *args, "--base-url", stub.url,
                       env_extra={"PRISM_API_KEY": SECRET, "PRISM_API_BASE_URL": stub.url}, light=True)
        assert good.returncode == 0, good.stderr[-2000:]
        fixed = json.loads(good.stdout)
        assert fixed["status"] == "done" and fixed["run_id"] == out["run_id"] and fixed["rounds"] == 1
        judged = fixed["accepted"] + sum(n for reason, n in fixed["rejected"].items() if not reason.endswith(" error"))
        assert judged > 0  # real candidates this time, each judged (accepted, or rejected for a reason of its own)
        assert "generation error" not in fixed["rejected"]


def fake_seed_features(workspace, name="mix"):
    """The seed's features and losses written as an analysis would (light config, tests/helpers.py), so a run starts
    at once: no featurisation of the seed by the real model."""
    from core.data.store import Store

    with Store(Path(workspace) / "prism.duckdb") as store:
        fake_features(store, name, light_config())


def test_a_time_budget_stops_the_run_with_a_valid_summary(seeded):
    """--max-seconds used to end in a crash formatting None; now a JSON object (or a text line) that says it stopped.
    A budget of a microsecond is spent before the first round on any machine, however fast: nothing is asked."""
    fake_seed_features(seeded)
    with Stub() as stub:
        args = ["synthesize", "mix", "--generator", "openai", "--base-url", stub.url, "--model", "s",
                "--requests-per-round", "8", "--request-batch", "1", "--max-seconds", "0.000001"]
        res = run_cli(seeded, *args, "--json", light=True)
        text = run_cli(seeded, *args, light=True)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["status"] == "stopped (budget)" and out["rounds"] == 0 and out["g_vendi_after"] is None
    assert text.returncode == 0, text.stderr[-2000:]
    assert "stopped (budget)" in text.stdout and "n/a" in text.stdout
    assert not stub.state.bodies  # stopped before the first request


def test_a_budget_spent_mid_round_stops_after_that_step_and_the_rerun_completes_the_round(seeded, monkeypatch):
    """The budget's clock is the stub's count of answered requests (10 s each): the first step (one problem request
    and its solutions) spends a 15 s budget, so the run stops after exactly that step, whatever the machine's speed;
    the same settings again (with time to spare) resume the round and finish it without asking for step 0 again."""
    from types import SimpleNamespace

    from core.data.store import Store
    from core.synthesis import loop
    from core.synthesis.openai_backend import OpenAIGenerator

    fake_seed_features(seeded)
    config = loop.SynthesisConfig(requests_per_round=3, request_batch=1, problems_per_request=1,
                                  solutions_per_problem=1, max_seconds=15)
    with Store() as store, Stub() as stub:
        monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: 10.0 * len(stub.state.bodies)))
        stopped = loop.run_synthesis(store, "mix", config, OpenAIGenerator(store, base_url=stub.url, model="stub"),
                                     light_config())
        assert stopped["status"] == "stopped (budget)" and stopped["rounds"] == 0
        assert store.query("SELECT DISTINCT request_idx FROM synth_candidates") == [(0,)]  # one step, kept
        assert len(stub.state.bodies) == 2  # its problem request and its one solution
        monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: 0.0))  # time stands still
        done = loop.run_synthesis(store, "mix", config, OpenAIGenerator(store, base_url=stub.url, model="stub"),
                                  light_config())
        assert done["status"] == "done" and done["rounds"] == 1 and done["run_id"] == stopped["run_id"]
        assert sorted(store.query("SELECT request_idx FROM synth_candidates")) == [(0,), (1,), (2,)]
        assert len(stub.state.bodies) == 2 * 3  # steps 1 and 2 only: step 0 was not asked again


def test_the_round_clustering_and_its_row_land_together(seeded, monkeypatch):
    """A kill between the round's clustering and its synth_rounds row used to leave the round undone forever. The
    two writes are one transaction now: a failure inside it leaves neither, and the next run does the round."""
    from core.data.store import Store
    from core.synthesis import loop
    from core.synthesis.openai_backend import OpenAIGenerator

    config = loop.SynthesisConfig(requests_per_round=1, problems_per_request=1, solutions_per_problem=1)
    with Store() as store, Stub() as stub:
        generator = OpenAIGenerator(store, base_url=stub.url, model="stub")
        real = store.transaction

        def dies_inside(*a, **k):
            cm = real(*a, **k)

            class Boom:
                def __enter__(self):
                    self.cur = cm.__enter__()
                    return self

                def execute(self, sql, params=()):
                    if sql.startswith("INSERT INTO synth_rounds"):
                        raise KeyboardInterrupt("killed between the clustering and its row")
                    return self.cur.execute(sql, params)

                def __getattr__(self, name):
                    return getattr(self.cur, name)

                def __exit__(self, *exc):
                    return cm.__exit__(*exc)
            return Boom()

        monkeypatch.setattr(store, "transaction", dies_inside)
        with pytest.raises(KeyboardInterrupt):
            loop.run_synthesis(store, "mix", config, generator, light_config())
        assert store.query("SELECT count(*) FROM synth_rounds")[0][0] == 0
        monkeypatch.undo()
        summary = loop.run_synthesis(store, "mix", config, generator, light_config())
        assert summary["status"] == "done" and summary["rounds"] == 1
        assert store.query("SELECT status, clustering IS NOT NULL FROM synth_rounds")[0] == ("done", True)
