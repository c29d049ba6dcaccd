"""What a synthesis run sends, in one place: the run's id, each round's random generator, the requests a round makes
(target cluster, few-shot examples, the exact prompt) and what they cost. The loop executes this plan; the app previews
it before launch (round 0, from the seed's clustering as the loop will compute it) and shows each request's prompt
while and after a run (from the clustering each round persisted).

A round's plan is a pure function of the run id, the settings, the round, the pool's clustering (labels and sparse
flags) and the pool's texts, so replaying it gives the prompts the loop sent, byte for byte.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Sequence

import numpy as np

from core.config import stable_hash
from core.data.store import Store
from core.synthesis.answers import PROBLEM_PROMPT
from core.synthesis.config import SynthesisConfig

CHARS_PER_TOKEN = 4  # a rough rule for English text; the estimate says so
UNNAMED_MODEL = "openai:(model)"  # the generator's name in a preview while the endpoint form names no model yet


def run_id_for(dataset: str, config: SynthesisConfig, source_name: str, feature_key: str,
               eval_fingerprint: str | None = None) -> str:
    """A run's id: the hash of its dataset, settings, candidate source (the generator's name, or pool:NAME) and
    feature config, and for a run toward an eval set (config.toward) that set's content fingerprint, so growing
    toward an eval set whose rows changed is another run. The same settings launched again resume (or join) the
    same run."""
    key = {"dataset": dataset, "config": dataclasses.asdict(config), "generator": source_name, "features": feature_key}
    if config.toward is not None:
        key["eval_fingerprint"] = eval_fingerprint
    elif "toward" in key["config"] and key["config"]["toward"] is None:
        del key["config"]["toward"]  # runs without a target keep the ids they had before targeted growth
    return stable_hash(key, length=12)


def round_rng(run_id: str, rnd: int) -> random.Random:
    """The random generator a round draws its fallback targets and few-shot examples with."""
    return random.Random(stable_hash([run_id, rnd], length=8))


def problem_prompt(shots: Sequence[str], count: int) -> str:
    """The exact prompt sent to write `count` new problems from a cluster's examples."""
    examples = "\n\n".join(f"Example {i + 1}: {text}" for i, text in enumerate(shots))
    return PROBLEM_PROMPT.format(examples=examples, count=count)


@dataclasses.dataclass(frozen=True)
class PoolClusters:
    """A pool as a round plans from it: each row's prompt and label (-1: a suspect row, never an example), sparse
    flags per cluster, and the clusters' distinctive words where a cached map of the same clustering has them."""

    texts: list[str]
    labels: np.ndarray
    sparse: np.ndarray  # (k,) bool
    words: dict = dataclasses.field(default_factory=dict)  # cluster -> list of words

    @property
    def k(self) -> int:
        return len(self.sparse)


@dataclasses.dataclass(frozen=True)
class PlannedRequest:
    """One problem-writing request of a round: its index, the cluster its examples come from, the examples and the
    exact prompt sent."""

    round: int
    index: int
    target: int
    shots: tuple[str, ...]
    prompt: str


def targets_of(config: SynthesisConfig, rnd: int, labels: np.ndarray, sparse: np.ndarray) -> np.ndarray:
    """The clusters a round writes for: the configured target clusters in round 0 (those that exist and have
    members), else every sparse cluster."""
    targets = np.flatnonzero(sparse)
    if config.target_clusters is not None and rnd == 0:
        present = set(np.unique(labels).tolist())
        picked = np.array([c for c in config.target_clusters if c in present], dtype=np.int64)
        targets = picked if len(picked) else targets
    return targets


def planned_requests(run_id: str, config: SynthesisConfig, rnd: int, pool: PoolClusters) -> list[PlannedRequest]:
    """Every request of the round, in order: targets round robin (a random cluster when none is sparse), examples
    drawn from the target's members with the round's generator."""
    rng = round_rng(run_id, rnd)
    labels, texts = pool.labels, pool.texts
    targets = targets_of(config, rnd, labels, pool.sparse)
    out = []
    for q in range(config.requests_per_round):
        target = int(targets[q % len(targets)]) if len(targets) else int(rng.randrange(int(labels.max()) + 1))
        members = list(np.flatnonzero(labels == target))
        shots = tuple(texts[i] for i in rng.sample(members, min(config.few_shot, len(members))))
        out.append(PlannedRequest(rnd, q, target, shots, problem_prompt(shots, config.problems_per_request)))
    return out


def steps(requests: list[PlannedRequest], done: set[int], batch: int) -> list[list[PlannedRequest]]:
    """The requests not answered yet, in steps of `batch` (one committed step each)."""
    todo = [r for r in requests if r.index not in done]
    return [todo[i:i + batch] for i in range(0, len(todo), batch)]


def seed_clusters(store: Store, dataset: str, config: SynthesisConfig, feature_config) -> PoolClusters | None:
    """Round 0's pool and clustering, computed as the loop will (the seed's kept rows, its suspect rows left out,
    the run's k, seed and rule), or None while the seed's features do not cover it. Cluster words come from the
    Gradient space map's cached summaries when that map is the same clustering."""
    from core.synthesis.arms import cluster_pool, load_arms, seed_suspects

    key, dim = feature_config.key(), feature_config.dim
    if store.feature_coverage(dataset, key, dim) < store.count_rows(dataset):
        return None
    filtered, _ = load_arms(store, dataset, feature_config, run_id="", before_round=0)
    c = cluster_pool(filtered.X, config, 0, filtered.suspect(seed_suspects(store, dataset, key)))
    return PoolClusters([p for p, _ in filtered.pairs], c.labels, c.sparse,
                        _map_words(store, dataset, feature_config, config, c.labels))


def _map_words(store: Store, dataset: str, feature_config, config: SynthesisConfig, labels: np.ndarray) -> dict:
    from core.analysis.clusters import ClusterConfig
    from core.analysis.cache import find_cached_map
    from core.analysis.layout import MapConfig
    from core.analysis.summaries import cached_summaries, guess_label_columns

    cc = ClusterConfig(k=config.k, seed=config.seed, rule=config.rule)
    gmap = find_cached_map(store, dataset, feature_config.key(), feature_config.dim, cc, MapConfig(seed=0))
    if gmap is None or len(gmap.labels) != len(labels):
        return {}
    kept = labels >= 0
    if not np.array_equal(np.asarray(gmap.labels)[kept], labels[kept]):
        return {}  # another clustering (other rows): its words would name other clusters
    frame = store.samples_frame(dataset).set_index("id").loc[gmap.ids].reset_index()
    return {s.cluster: s.words for s in cached_summaries(store, gmap, frame, guess_label_columns(frame))}


def preview(dataset: str, config: SynthesisConfig, source_name: str, feature_key: str,
            seed: PoolClusters) -> list[PlannedRequest]:
    """Round 0's requests of the run these settings launch, from the seed's clustering (seed_clusters)."""
    return planned_requests(run_id_for(dataset, config, source_name, feature_key), config, 0, seed)


def round_prompts(store: Store, run_id: str) -> dict[tuple[int, int], tuple[int, str]]:
    """{(round, request): (target cluster, exact prompt)} for the rounds a run has clustered so far; {} for a pool
    run, a run toward an eval set or an unknown id. A round whose pool can no longer be read back as it was (the
    seed's rows changed) is left out rather than shown wrong."""
    from core.synthesis.arms import pool_texts

    run = store.synth_run(run_id)
    if run is None:
        return {}
    config = SynthesisConfig(**run["config"])
    if config.source != "generator" or config.toward:
        return {}  # a pool run sends no prompts; a run toward an eval set plans from its goal (toward.py), not here
    out = {}
    for rnd, saved in store.round_clusterings(run_id).items():
        texts = pool_texts(store, run["dataset"], run_id, rnd, saved.pool_n)
        if texts is None:
            continue
        for r in planned_requests(run_id, config, rnd, PoolClusters(texts, saved.labels, saved.sparse)):
            out[(rnd, r.index)] = (r.target, r.prompt)
    return out


def cost_estimate(config: SynthesisConfig, sample_prompt: str, problem_chars: float) -> dict:
    """Requests and tokens of a generator run at most (every request answered in full), from the settings, the
    length of a real prompt and of the seed's problems."""
    r = config.rounds * config.requests_per_round
    problems = r * config.problems_per_request
    solves = problems * config.solutions_per_problem
    prompt_tokens = (r * len(sample_prompt) + solves * (problem_chars + 90)) / CHARS_PER_TOKEN
    completion = r * config.max_problem_tokens + solves * config.max_solution_tokens
    return {"requests": r + solves, "problem requests": r, "solve requests": solves,
            "prompt tokens (≈)": int(prompt_tokens), "completion tokens (at most)": int(completion)}
