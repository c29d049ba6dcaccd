"""The plan the app previews is the plan the loop runs (issue 20): the prompts previewed before launch and replayed
during a run equal, byte for byte, what a recording generator receives from the loop; the run id and the round's
draw are pinned (a changed hash would orphan every run in progress: a relaunch would start over instead of
resuming). No model: tests/synthesis/fakes.py."""
import dataclasses

from core.synthesis import plan
from core.synthesis.config import SynthesisConfig
from core.synthesis.loop import run_synthesis
from tests.synthesis.fakes import RecordingGenerator, no_model, seeded_store

CONFIG = SynthesisConfig(rounds=2, requests_per_round=3, request_batch=2, problems_per_request=1,
                         solutions_per_problem=1, few_shot=8, k=3, rule="density")


def test_the_previewed_and_replayed_prompts_are_what_the_loop_sends(store, monkeypatch):
    fc = seeded_store(store)
    no_model(monkeypatch, store, "mix", fc)
    generator = RecordingGenerator()
    seed = plan.seed_clusters(store, "mix", CONFIG, fc)
    previewed = plan.preview("mix", CONFIG, generator.name, fc.key(), seed)
    assert len(previewed) == 3 and all(r.round == 0 for r in previewed)

    summary = run_synthesis(store, "mix", CONFIG, generator, fc)
    assert summary["status"] == "done" and summary["rounds"] == 2
    assert summary["run_id"] == plan.run_id_for("mix", CONFIG, generator.name, fc.key())
    sent = generator.problem_prompts
    assert len(sent) == 6
    assert [r.prompt for r in previewed] == sent[:3]  # round 0, before launch
    replayed = plan.round_prompts(store, summary["run_id"])
    assert [replayed[(rnd, q)][1] for rnd in (0, 1) for q in range(3)] == sent  # both rounds, after the run
    assert any("[variant" in p for p in sent[3:])  # round 1 drew examples from the pool grown in round 0


def test_picked_target_clusters_are_what_round_0_writes_for(store, monkeypatch):
    fc = seeded_store(store)
    no_model(monkeypatch, store, "mix", fc)
    seed = plan.seed_clusters(store, "mix", CONFIG, fc)
    last = int(seed.sparse.nonzero()[0][-1])
    config = dataclasses.replace(CONFIG, rounds=1, target_clusters=(last,))
    previewed = plan.preview("mix", config, RecordingGenerator.name, fc.key(), seed)
    assert {r.target for r in previewed} == {last}
    members = {seed.texts[i] for i in (seed.labels == last).nonzero()[0]}
    assert all(set(r.shots) <= members for r in previewed)
    generator = RecordingGenerator()
    run_synthesis(store, "mix", config, generator, fc)
    assert [r.prompt for r in previewed] == generator.problem_prompts


def test_the_run_id_and_the_rounds_draw_are_pinned():
    """The run id and the round's draw are the ones every stored run was named and planned with (the values the code
    before plan.py computed: runs.start_run's hash and GeneratorSource.plan's draw)."""
    assert plan.run_id_for("mix", SynthesisConfig(), "openai:m", "fk") == "80918f37dbac"
    assert plan.round_rng("80918f37dbac", 1).random() == 0.030686733557634738
    import numpy as np

    pool = plan.PoolClusters([f"text {i}" for i in range(8)], np.array([0, 0, 0, 1, 1, 1, 2, 2]),
                             np.array([False, True, True]))
    requests = plan.planned_requests("80918f37dbac", SynthesisConfig(requests_per_round=3, few_shot=2), 1, pool)
    assert [(r.index, r.target, r.shots) for r in requests] == [
        (0, 1, ("text 3", "text 5")), (1, 2, ("text 7", "text 6")), (2, 1, ("text 3", "text 4"))]


def test_the_cost_estimate_counts_every_request():
    cost = plan.cost_estimate(SynthesisConfig(rounds=2, requests_per_round=8), "x" * 400, 200)
    assert cost["problem requests"] == 16 and cost["solve requests"] == 16 * 2 * 3
    assert cost["requests"] == 16 + 96 and cost["completion tokens (at most)"] == 16 * 384 + 96 * 384


def test_the_seed_clusters_take_their_words_from_the_same_clustering_s_map(store):
    """Round 0's clustering is the Gradient space map's when the settings match: its cluster words name the clusters
    to pick; under another rule there is no such map and no words (never another clustering's)."""
    from core.data.datasets import ingest
    from tests.app.fakes import fake_analyse
    from tests.helpers import DATA
    from ui.analysis import PageOptions

    ingest(store, DATA / "mixture_24.jsonl", name="m")
    options = PageOptions()
    fake_analyse(store, "m", options)
    fc = options.feature_config()
    same = plan.seed_clusters(store, "m", SynthesisConfig(rule=options.rule), fc)
    assert set(same.words) == set(range(same.k)) and all(same.words.values())
    other = plan.seed_clusters(store, "m", SynthesisConfig(rule="paper" if options.rule != "paper" else "mass"), fc)
    assert other.words == {}
