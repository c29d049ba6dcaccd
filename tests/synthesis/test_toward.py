"""Targeted growth (issue 22, `synthesize --toward EVAL`): a pool run toward an eval set accepts exactly the
candidates that land in the eval clusters the seed leaves uncovered, raises the eval set's coverage, keeps the
control arm; its run id follows the eval set's content; a feature-space mismatch is refused. Features are planted
vectors written through the store (no model)."""
import json

import numpy as np
import pytest

from core.synthesis.config import SynthesisConfig
from tests.helpers import light_config

DIM = 64


def _direction(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1
    return v


def _near(i: int, spread: float, rng) -> np.ndarray:
    g = rng.normal(size=DIM)
    g[i] = 0
    v = _direction(i) + spread * g / np.linalg.norm(g)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _save(store, tmp_path, name: str, rows: list[tuple[str, np.ndarray]], fc) -> None:
    from core.data.ingest import ingest_file

    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"prompt": p, "response": f"The answer is {i}."}) + "\n"
                            for i, (p, _) in enumerate(rows)))
    store.save_dataset(name, ingest_file(path), source="test")
    samples = store.samples(name)
    by_prompt = {p: v for p, v in rows}
    store.write_features(fc, [s.content_hash for s in samples], np.stack([by_prompt[s.prompt] for s in samples]))
    from tests.app.fakes import fake_losses

    fake_losses(store, name, fc)


def planted(store, tmp_path):
    """Eval: 4 groups of 10 rows on directions 0-3 (spread 0.5). Train: copies of eval groups 0 and 1 (spread 0.05:
    those clusters covered), 10 rows on direction 9. Pool: 8 rows tight on direction 2 (inside an uncovered cluster:
    accepted), 8 tight on direction 0 (a covered cluster), 6 on direction 20 (no eval cluster near), 4 loose around
    direction 3 (nearest an uncovered centroid but outside its radius). Returns the feature config and the prompts of
    the pool rows that must be accepted."""
    rng = np.random.default_rng(0)  # eval drawn first: k-means (m/10 = 4) finds the 4 groups
    fc = light_config()
    ev = [(f"eval {g}-{i}", _near(g, 0.5, rng)) for g in range(4) for i in range(10)]
    copies = [v + 0.05 * _near(30, 1.0, rng) for _, v in ev[:20]]
    train = [(f"train copy {i}", (v / np.linalg.norm(v)).astype(np.float32)) for i, v in enumerate(copies)]
    train += [(f"train other {i}", _near(9, 0.5, rng)) for i in range(10)]
    pool = ([(f"pool in {i}", _near(2, 0.25, rng)) for i in range(8)]
            + [(f"pool covered {i}", _near(0, 0.25, rng)) for i in range(8)]
            + [(f"pool far {i}", _near(20, 0.25, rng)) for i in range(6)]
            + [(f"pool loose {i}", _near(3, 1.6, rng)) for i in range(4)])
    for name, rows in (("evalset", ev), ("train", train), ("cands", pool)):
        _save(store, tmp_path, name, rows, fc)
    return fc, {f"pool in {i}" for i in range(8)}


def no_model(monkeypatch):
    """The loop's model calls replaced: features are read from the store (all planted), no quality screen, fake
    text embeddings."""
    from types import SimpleNamespace

    import core.features.compute as compute
    import core.features.embeddings as embeddings
    import core.features.gradients as gradients
    from core.synthesis import loop

    monkeypatch.setattr(compute, "compute_features", lambda *a, **k: None)
    monkeypatch.setattr(gradients, "featurizer_for", lambda config, device="auto", loaded=None:
                        (SimpleNamespace(config=config), None))
    monkeypatch.setattr(loop, "screen", lambda store_, featurizer, rows, reference: np.zeros(len(rows), bool))
    rng = np.random.default_rng(0)
    monkeypatch.setattr(embeddings, "embed_cached", lambda store_, pairs: {h: rng.normal(size=16) for h in pairs})


CONFIG = SynthesisConfig(source="pool", pool="cands", pool_batch=40, k=3, rule="paper", toward="evalset")


def test_a_pool_run_toward_an_eval_set_accepts_exactly_the_rows_in_uncovered_clusters(store, tmp_path, monkeypatch):
    from core.analysis.coverage import coverage
    from core.jobs import JobRunner
    from core.synthesis.launch import launch

    fc, expected = planted(store, tmp_path)
    no_model(monkeypatch)
    from core.synthesis.toward import eval_features

    E, T = eval_features(store, "evalset", fc), eval_features(store, "train", fc)  # in the store's row order
    groups = np.array([int(s.prompt.split()[1].split("-")[0]) for s in store.samples("evalset")])
    cov = coverage(T, E)  # the planted case is what the docstring says: 4 clusters, groups 2 and 3 uncovered
    assert [len(set(cov.labels[groups == g])) for g in range(4)] == [1, 1, 1, 1]
    assert len(set(cov.labels)) == 4
    assert sorted(cov.uncovered_clusters) == sorted({int(cov.labels[groups == 2][0]),
                                                     int(cov.labels[groups == 3][0])})

    summary = launch(store, JobRunner(store), "train", CONFIG, None, fc).wait(timeout=120)
    assert summary["status"] == "done", summary
    frame = store.candidates_frame(summary["run_id"])
    accepted = set(frame.loc[frame["reason"] == "accepted", "problem"])
    assert accepted == expected
    assert set(frame["reason"]) == {"accepted", "off target"}
    t = summary["toward"]
    assert t["eval"] == "evalset"
    assert t["coverage_after"] > t["coverage_before"]  # group 2 is now covered, in part at least
    assert t["coverage_after"] >= t["coverage_control"]
    assert summary["control_accepted"] == summary["accepted"] == 8  # the control arm, as many rows, at random
    assert int(frame["control"].fillna(False).sum()) == 8


def test_the_run_id_follows_the_eval_sets_content_and_plain_runs_keep_theirs(store, tmp_path):
    import dataclasses

    from core.config import stable_hash
    from core.synthesis.plan import run_id_for
    from core.synthesis.runs import start_run

    fc, _ = planted(store, tmp_path)
    first = start_run(store, "train", CONFIG, "pool:cands", fc)
    store.mark("evalset", [store.samples("evalset")[0].id], "exclude")  # the eval set's kept rows change
    second = start_run(store, "train", CONFIG, "pool:cands", fc)
    assert first != second
    assert start_run(store, "train", CONFIG, "pool:cands", fc) == second  # same content: same (resumed) run
    plain = SynthesisConfig(source="pool", pool="cands")
    old = {k: v for k, v in dataclasses.asdict(plain).items() if k != "toward"}  # the id before --toward existed
    assert run_id_for("train", plain, "pool:cands", fc.key()) == stable_hash(
        {"dataset": "train", "config": old, "generator": "pool:cands", "features": fc.key()}, length=12)


def test_growth_toward_an_eval_set_in_another_feature_space_is_refused(store, tmp_path):
    from core.jobs import JobRunner
    from core.synthesis.launch import launch

    fc, _ = planted(store, tmp_path)
    with pytest.raises(ValueError, match="dim"):
        launch(store, JobRunner(store), "train", CONFIG, None, fc, eval_feature_config=light_config(dim=32))
    with pytest.raises(ValueError, match="No eval dataset"):
        launch(store, JobRunner(store), "train", SynthesisConfig(source="pool", pool="cands", toward="nope"), None, fc)
    assert store.query("SELECT count(*) FROM synth_runs")[0][0] == 0  # refused before anything started


def test_a_generator_run_toward_an_eval_set_writes_from_the_training_rows_nearest_its_uncovered_rows(
        store, tmp_path, monkeypatch):
    """Few-shots are training rows, each the nearest training row of an uncovered eval row of an uncovered
    cluster; never eval text."""
    from core.analysis.coverage import coverage
    from core.synthesis.loop import run_synthesis
    from core.synthesis.toward import eval_features
    from tests.synthesis.fakes import RecordingGenerator
    from tests.synthesis.fakes import no_model as fake_loop

    fc, _ = planted(store, tmp_path)
    fake_loop(monkeypatch, store, "train", fc)
    E, T = eval_features(store, "evalset", fc), eval_features(store, "train", fc)
    cov = coverage(T, E)
    train_prompts = [s.prompt for s in store.samples("train")]
    allowed = {train_prompts[int(cov.nearest[j])] for j in np.flatnonzero(~cov.covered)
               if int(cov.labels[j]) in cov.uncovered_clusters}
    generator = RecordingGenerator()
    config = SynthesisConfig(requests_per_round=4, request_batch=2, problems_per_request=1, k=3, rule="paper",
                             toward="evalset", answer_mode="none", solutions_per_problem=1)
    summary = run_synthesis(store, "train", config, generator, fc)
    assert summary["status"] == "done" and "toward" in summary
    shots = [line.split(": ", 1)[1] for p in generator.problem_prompts for line in p.split("\n\n")
             if line.startswith("Example ")]
    assert len(generator.problem_prompts) == 4 and shots
    assert set(shots) <= allowed and not any(s.startswith("eval ") for s in shots)
    assert len(set(shots)) < len(train_prompts) // 2  # a few chosen rows, not the whole seed


def test_the_cli_refuses_growth_toward_a_missing_or_own_eval_set(workspace):
    from tests.helpers import DATA, run_cli

    assert run_cli(workspace, "ingest", str(DATA / "mixture_24.jsonl"), "--name", "train").returncode == 0
    assert run_cli(workspace, "ingest", str(DATA / "pool_16.jsonl"), "--name", "cands").returncode == 0
    base = ["synthesize", "train", "--source", "pool", "--pool", "cands"]
    res = run_cli(workspace, *base, "--toward", "nope", "--json", light=True)
    assert res.returncode == 2 and "No eval dataset named 'nope'" in res.stderr, res.stderr[-2000:]
    res = run_cli(workspace, *base, "--toward", "cands", "--json", light=True)
    assert res.returncode == 2 and "is the run's own pool" in res.stderr, res.stderr[-2000:]
    res = run_cli(workspace, *base, "--eval-features", "x", light=True)
    assert res.returncode == 2 and "--eval-features goes with --toward" in res.stderr, res.stderr[-2000:]
