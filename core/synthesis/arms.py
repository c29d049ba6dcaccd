"""The two pools a run grows (the filtered arm and the control arm), read back from the store, and how a round
clusters the filtered one. The loop grows them; the plan (plan.py) reads the same pools to preview and replay
prompts, so both see the same rows in the same order."""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.clusters import ClusterConfig, Clustering, cluster
from core.data.store import Store
from core.synthesis.config import SynthesisConfig


@dataclasses.dataclass
class Arm:
    """A pool being grown: its rows' content hashes, (prompt, response) texts and features, in order."""

    hashes: list[str]
    pairs: list[tuple[str, str]]
    X: np.ndarray

    def suspect(self, suspect_hashes: set[str]) -> np.ndarray:
        """Rows the rules leave out: the seed's suspect rows (accepted candidates passed the screen)."""
        return np.array([h in suspect_hashes for h in self.hashes], dtype=bool)


def load_arms(store: Store, dataset: str, feature_config, run_id: str, before_round: int) -> tuple[Arm, Arm]:
    """(filtered, control): the seed (its kept rows with features) plus what each arm accepted in the rounds before
    `before_round`."""
    key, dim = feature_config.key(), feature_config.dim
    samples = store.samples(dataset)
    feats = store.features_by_hash(key, dim, [s.content_hash for s in samples])
    seed = [s for s in samples if s.content_hash in feats]
    arms = []
    for arm in ("filtered", "control"):
        rows = store.arm_candidates(run_id, arm, before_round=before_round)
        extra = store.features_by_hash(key, dim, [r.content_hash for r in rows])
        hashes = [s.content_hash for s in seed] + [r.content_hash for r in rows]
        X = np.stack([feats[s.content_hash] for s in seed] + [extra[r.content_hash] for r in rows])
        arms.append(Arm(hashes, [(s.prompt, s.response) for s in seed] + [(r.problem, r.solution) for r in rows], X))
    return arms[0], arms[1]


def seed_suspects(store: Store, dataset: str, feature_key: str) -> set[str]:
    """Content hashes of the seed's suspect rows (the quality read's): never sparse, never an example."""
    from core.analysis.quality import read_quality

    return set(store.hashes_of(dataset, read_quality(store, dataset, feature_key).suspect_ids()))


@dataclasses.dataclass(frozen=True)
class PoolClustering:
    """A round's clustering of its pool: labels (-1 for suspect rows), centroids, sparse flags, k."""

    labels: np.ndarray
    centroids: np.ndarray
    sparse: np.ndarray
    k: int


def cluster_pool(X: np.ndarray, config: SynthesisConfig, rnd: int, suspect: np.ndarray | None = None) -> PoolClustering:
    """How round `rnd` clusters its pool (k, seed + round, rule of the run); suspect rows take no part and are
    labelled -1, so they are never drawn as few-shot examples."""
    c: Clustering = cluster(X, ClusterConfig(k=config.k, seed=config.seed + rnd, rule=config.rule), suspect=suspect)
    labels = np.where(c.suspect, -1, c.labels) if c.suspect is not None else c.labels
    return PoolClustering(labels, c.centroids, c.sparse_clusters, c.k)


def pool_texts(store: Store, dataset: str, run_id: str, rnd: int, pool_n: int) -> list[str] | None:
    """The prompts of the filtered pool round `rnd` clustered (the seed's kept rows, then what the arm accepted
    before it), or None when they are not the `pool_n` rows it clustered (the seed's rows changed since)."""
    texts = [s.prompt for s in store.samples(dataset)]
    texts += [c.problem for c in store.arm_candidates(run_id, "filtered", before_round=rnd)]
    return texts if len(texts) == pool_n else None
