"""Targeted growth (`synthesize --toward EVAL`): grow a dataset toward the part of an eval set it does not cover.

The accepting region is the eval set's *uncovered clusters* (core/analysis/coverage.py: the eval rows clustered by
spherical k-means, m/10; a cluster is uncovered when at least half its rows have no training row at the coverage
bar), measured against the filtered pool as it stands at the round's start (so a resumed round judges as before),
instead of the pool's own sparse clusters.

Rule: a candidate is accepted when (1) the eval cluster whose centroid is nearest its gradient feature (cosine) is
uncovered, (2) it lands inside that cluster: its cosine to the centroid is at least the lowest cosine of the
cluster's own eval rows to it (the cluster's radius; a row merely nearest to a far-away centroid is off target),
and (3) it is no copy of the pool (the duplicate test of the sparse filter). Otherwise its reason is "off target"
(a valid candidate the control arm may draw) or "duplicate".

Generator few-shots come from the *training* rows nearest the uncovered eval rows (each uncovered eval row's nearest
row of the pool, grouped by the eval row's cluster), never from the eval rows themselves: eval text must not leak
into the prompts of data meant to be trained on. The control arm is unchanged: as many valid candidates as were
accepted, drawn at random. The run's id includes the eval set's fingerprint (plan.run_id_for), and its summary the
eval set's coverage before the run and after it, for both arms.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.coverage import (CoverageConfig, check_same_identity, coverage_at, eval_clusters,
                                   within_eval_nearest)
from core.analysis.sparsity import unit
from core.data.store import Store

OFF_TARGET = "off target"


@dataclasses.dataclass(frozen=True)
class Target:
    """The eval set a run grows toward: its rows' unit features, clusters (labels, centroids, radii) and the
    coverage bar (threshold, from the eval set alone)."""

    name: str
    E: np.ndarray  # (m, d) unit
    labels: np.ndarray  # (m,)
    centroids: np.ndarray  # (k, d) unit
    radius: np.ndarray  # (k,) lowest cosine of a member to its centroid
    threshold: float


@dataclasses.dataclass(frozen=True)
class Goal:
    """One round's accepting region: which eval clusters are uncovered by the pool at the round's start, and the
    pool rows that serve as few-shot examples for each (label = eval cluster, -1: not an example)."""

    uncovered: np.ndarray  # (k,) bool
    pool_labels: np.ndarray  # (n,) eval cluster each pool row is an example for, or -1
    coverage: float


def make_target(name: str, E: np.ndarray, config: CoverageConfig = CoverageConfig()) -> Target:
    """The target from eval features E (any scale)."""
    if len(E) < 2:
        raise ValueError(f"--toward needs an eval set with at least 2 rows with features; {name!r} has {len(E)}")
    Eu = unit(np.asarray(E, np.float32))
    labels = eval_clusters(Eu, config)
    k = int(labels.max()) + 1
    centroids = unit(np.stack([Eu[labels == c].mean(axis=0) if (labels == c).any() else Eu[0] for c in range(k)]))
    radius = np.array([float((Eu[labels == c] @ centroids[c]).min()) if (labels == c).any() else 1.0
                       for c in range(k)], np.float32)
    within = within_eval_nearest(Eu)  # the bar depends on the eval set alone (coverage.py)
    threshold = float(np.median(within)) if config.threshold is None else float(config.threshold)
    return Target(name, Eu, labels, centroids, radius, threshold)


def eval_features(store: Store, name: str, feature_config) -> np.ndarray:
    """The eval set's rows' features under the run's config (computed by the loop before this is read)."""
    hashes = [s.content_hash for s in store.samples(name)]
    found = store.features_by_hash(feature_config.key(), feature_config.dim, hashes)
    return np.stack([found[h] for h in hashes if h in found]) if found else np.zeros((0, feature_config.dim))


def load_target(store: Store, name: str, feature_config) -> Target:
    return make_target(name, eval_features(store, name, feature_config))


def check_toward(train_config, eval_config, *, dataset: str, eval_name: str) -> None:
    """Refuse growth toward an eval set whose features are in another space (coverage.check_same_identity)."""
    check_same_identity(train_config, eval_config, train=dataset, evals=eval_name)


def goal(target: Target, pool_X: np.ndarray) -> Goal:
    """The round's uncovered clusters (coverage's rule: at least half of a cluster's rows below the bar) and the
    pool rows nearest the uncovered eval rows, as examples for their clusters."""
    Pu = unit(np.asarray(pool_X, np.float32))
    S = target.E @ Pu.T  # (m, n)
    best = S.max(axis=1)
    nearest = S.argmax(axis=1)
    covered = best >= target.threshold - 1e-6
    k = len(target.centroids)
    uncovered = np.array([(~covered[target.labels == c]).mean() >= 0.5 if (target.labels == c).any() else False
                          for c in range(k)], dtype=bool)
    pool_labels = np.full(len(Pu), -1, np.int64)
    for j in np.flatnonzero(~covered & uncovered[target.labels]):
        if pool_labels[nearest[j]] < 0:
            pool_labels[nearest[j]] = target.labels[j]
    return Goal(uncovered, pool_labels, float(covered.mean()))


def judge_toward(rows: list[dict], X: np.ndarray, pool_X: np.ndarray, known: set[str], target: Target,
                 round_goal: Goal, duplicate_cosine: float) -> np.ndarray:
    """Set each row's cluster (its nearest eval cluster) and reason (accepted / off target / duplicate) by the rule
    of the module's docstring; returns the accepted vectors (the pool grows by them as they are accepted, so a
    near-copy of this step's earlier acceptance is a duplicate)."""
    accepted, others = [], pool_X
    for row, v in zip(rows, X):
        u = v / max(float(np.linalg.norm(v)), 1e-12)
        sims = target.centroids @ u
        c = int(np.argmax(sims))
        row["cluster"] = c
        near = float(np.max(others @ v)) if len(others) else 0.0
        if row["content_hash"] in known or near >= duplicate_cosine:
            row["reason"] = "duplicate"
        elif round_goal.uncovered[c] and sims[c] >= target.radius[c] - 1e-6:
            row["reason"] = "accepted"
            accepted.append(v)
            others = np.concatenate([others, v[None]])
        else:
            row["reason"] = OFF_TARGET
        known.add(row["content_hash"])
    return np.stack(accepted) if accepted else np.zeros((0, X.shape[1] if X.ndim == 2 else 0), np.float32)


def coverage_report(target: Target, seed_X: np.ndarray, after_X: np.ndarray, control_X: np.ndarray) -> dict:
    """The eval set's coverage (one bar throughout) by the seed, by the filtered arm and by the control arm."""
    return {"eval": target.name, "threshold": round(target.threshold, 4),
            "coverage_before": round(coverage_at(seed_X, target.E, target.threshold), 4),
            "coverage_after": round(coverage_at(after_X, target.E, target.threshold), 4),
            "coverage_control": round(coverage_at(control_X, target.E, target.threshold), 4)}
