"""What a synthesis run will send, before it is launched, and what each of its requests sent, while it runs.

The loop draws each request's few-shot examples from its target cluster with a generator seeded by the run id and the
round; the run id is the hash of the dataset, the settings, the generator's name and the feature key. Replaying that
(GeneratorSource.plan with the same inputs) gives the exact prompts: before launch from the seed's clustering as
round 0 computes it, during and after a run from the clustering the round persisted.
"""
from __future__ import annotations

import dataclasses
import random

import numpy as np
import streamlit as st

from core.analysis.clusters import ClusterConfig, cluster
from core.config import stable_hash
from core.synthesis.config import SynthesisConfig
from core.synthesis.sources import GeneratorSource, problem_prompt
from ui.state import get_store, rows_in_view

CHARS_PER_TOKEN = 4  # a rough rule for English text; the estimate says so


@dataclasses.dataclass(frozen=True)
class SeedClusters:
    labels: np.ndarray
    sparse: np.ndarray  # (k,) bool
    words: dict[int, list[str]]  # distinctive words, when the same clustering has a cached map

    @property
    def k(self) -> int:
        return len(self.sparse)


@dataclasses.dataclass(frozen=True)
class _Named:
    name: str


def run_id_for(dataset: str, config: SynthesisConfig, generator_name: str, feature_key: str) -> str:
    """The run id the loop will use (core/synthesis/runs.py: start_run); test_app checks the preview against the
    prompts a stub endpoint receives, so a change there cannot pass unnoticed."""
    return stable_hash({"dataset": dataset, "config": dataclasses.asdict(config), "generator": generator_name,
                        "features": feature_key}, length=12)


def seed_clusters(dataset: str, config: SynthesisConfig, fc) -> SeedClusters | None:
    """Round 0's clustering of the seed (k, seed and rule of the run; the seed's rows in dataset order), or None when
    the seed has no features yet. The Gradient space map with the same settings is the same clustering: its cached
    copy (and its cluster words) is used when it exists."""
    store = get_store()
    if store.feature_coverage(dataset, fc.key(), fc.dim) < rows_in_view(dataset):
        return None
    return _seed_clusters(dataset, store.fingerprint(dataset), fc.key(), fc.dim, config.k, config.seed, config.rule)


@st.cache_resource(max_entries=8, show_spinner="Clustering the seed as round 0 will…")
def _seed_clusters(dataset, fp, feature_key, dim, k, seed, rule) -> SeedClusters:
    from core.analysis.gradient_map import MapConfig, find_cached_map
    from core.analysis.summaries import cached_summaries, guess_label_columns

    store = get_store()
    cc = ClusterConfig(k=k, seed=seed, rule=rule)
    gmap = find_cached_map(store, dataset, feature_key, dim, cc, MapConfig(seed=0))
    if gmap is not None:
        frame = store.samples_frame(dataset).set_index("id").loc[gmap.ids].reset_index()
        sums = cached_summaries(store, gmap, frame, guess_label_columns(frame))
        return SeedClusters(gmap.labels, gmap.sparse_clusters, {s.cluster: s.words for s in sums})
    _, X = store.load_features(dataset, feature_key, dim)
    c = cluster(X, cc)
    return SeedClusters(c.labels, c.sparse_clusters, {})


def planned_requests(run_id: str, config: SynthesisConfig, generator_name: str, clusters: SeedClusters,
                     texts: list[str], rnd: int = 0) -> list[tuple[int, int, list[str]]]:
    """Every (request index, target cluster, few-shot examples) of a round, as the loop plans them."""
    rng = random.Random(stable_hash([run_id, rnd], length=8))
    steps = GeneratorSource(_Named(generator_name), config).plan(rnd, clusters.labels, clusters.sparse, texts, rng,
                                                                set())
    return [request for step in steps for request in step]


def round_prompts(run_id: str) -> dict[tuple[int, int], tuple[int, str]]:
    """{(round, request): (target cluster, exact prompt)} for the rounds a run has clustered so far."""
    store = get_store()
    run = store.synth_run(run_id)
    if run is None:
        return {}
    dataset, generator = run["dataset"], run["generator"]
    config = SynthesisConfig(**run["config"])
    if config.source != "generator":
        return {}
    seed_texts = [s.prompt for s in store.samples(dataset)]
    out = {}
    for rnd, saved in store.round_clusterings(run_id).items():
        clusters = SeedClusters(saved.labels, saved.sparse, {})
        grown = [c.problem for c in store.arm_candidates(run_id, "filtered", before_round=rnd)]
        for q, target, shots in planned_requests(run_id, config, generator, clusters, seed_texts + grown, rnd):
            out[(rnd, q)] = (target, problem_prompt(shots, config.problems_per_request))
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
