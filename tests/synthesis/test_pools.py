"""Growing from a candidate pool, with a control arm grown beside the filtered one (issue 8): the real embedded
model featurises (with the light feature config: the pool's mechanics are the subject, not the features' fidelity);
a kill -9 mid-round resumes both arms without duplicates; both arms export with provenance."""
import json
import signal

import pytest

from tests.helpers import DATA, kill_after_progress, run_cli

ARGS = ["synthesize", "seed", "--source", "pool", "--pool", "cands", "--rounds", "2", "--accept-per-round", "2",
        "--pool-batch", "3", "--k", "4", "--rule", "paper"]  # the pool's mechanics; 8 seed rows are too few for mass
# the light feature config, 128 tokens long: at 32 the GSM8K pool's responses are cut to a few tokens and every
# candidate lands in a dense cluster (nothing to accept, nothing tested)
LIGHT = {"max_length": 128}


def ingest_both(workspace):
    assert run_cli(workspace, "ingest", str(DATA / "mixture_24.jsonl"), "--name", "seed").returncode == 0
    assert run_cli(workspace, "ingest", str(DATA / "pool_16.jsonl"), "--name", "cands").returncode == 0


def check_arms(workspace, out, tmp_path):
    from core.data.store import Store

    with Store() as store:
        rows = store.query("SELECT round, request_idx, problem_idx, source_id, reason, accepted, control "
                           "FROM synth_candidates")
        rounds = store.query("SELECT round, accepted, control_accepted, n_after, n_control, g_vendi_after, "
                             "g_vendi_control, embedding_vendi_after, embedding_vendi_control FROM synth_rounds "
                             "WHERE status = 'done' ORDER BY round")
    sources = [r[3] for r in rows]
    assert len(sources) == len(set(sources))  # every pool row drawn at most once
    assert len({r[:3] for r in rows}) == len(rows)
    assert all(r[4] in ("accepted", "dense cluster", "duplicate", "suspect") for r in rows)
    n_f = n_c = 24
    for rnd, acc, ctrl, n_after, n_control, gf, gc, ef, ec in rounds:
        assert ctrl == acc  # the control grows by the same count as the filtered arm
        n_f, n_c = n_f + acc, n_c + ctrl
        assert (n_after, n_control) == (n_f, n_c)
        assert gf > 1 and gc > 1 and ef > 1 and ec > 1  # both re-scored every round
    assert len(rounds) == out["rounds"]
    for arm, n in (("filtered", n_f), ("control", n_c)):
        path = tmp_path / f"{arm}.jsonl"
        res = run_cli(workspace, "export", "seed", "--arm", arm, "--out", str(path))
        assert res.returncode == 0, res.stderr
        exported = [json.loads(l) for l in path.read_text().splitlines()]
        assert len(exported) == n
        grown = [r for r in exported if r["origin"] != "seed"]
        assert all(r["origin"] == "pool:cands" and r["id"].startswith("p") for r in grown)
        assert len({r["id"] for r in grown}) == len(grown)


def test_a_pool_sourced_run_grows_both_arms_and_exports_them(workspace, tmp_path):
    ingest_both(workspace)
    res = run_cli(workspace, *ARGS, "--json", light=LIGHT)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["status"] == "done" and out["source"] == "pool" and out["generator"] == "pool:cands"
    assert out["accepted"] >= 1 and out["control_accepted"] == out["accepted"]
    check_arms(workspace, out, tmp_path)


@pytest.mark.slow  # a killed run's resume is tests/synthesis/test_synthesis.py's (generator source, the same loop
# and round state); the pool's draws and both arms are the test above's
def test_a_killed_pool_run_resumes_both_arms_without_duplicates(workspace, tmp_path):
    ingest_both(workspace)
    # mid-round: a step is committed, the round is not done
    assert kill_after_progress(workspace, *ARGS, stage="synthesis", past_zero=False, light=LIGHT) == -signal.SIGKILL
    res = run_cli(workspace, *ARGS, "--json", light=LIGHT)
    assert res.returncode == 0, res.stderr[-3000:]
    check_arms(workspace, json.loads(res.stdout), tmp_path)
