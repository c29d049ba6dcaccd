"""Prismatic Synthesis as a resumable job, with a control arm grown beside it from the same candidates.

One round: cluster the filtered pool (spherical k-means, k = n/10, sparse clusters by the configured rule) -> steps
of candidates from the source (a generator writing problems from sparse clusters' examples, or the next rows of a
candidate pool) -> each candidate's gradient feature -> accepted iff its nearest centroid is sparse and it is no
near-copy of the pool -> at the round's end the control arm draws as many of the round's valid candidates as the
filter accepted, at random -> both pools re-scored (G-Vendi, embedding Vendi, n; the control also re-clustered).

Toward an eval set (config.toward, toward.py) the accepting region is the eval set's clusters the pool leaves
uncovered at the round's start, a generator's few-shots are the pool rows nearest those uncovered eval rows, and the
summary adds the eval set's coverage before and after, for both arms ("toward").

So after every round there are two pools grown from the same seed by the same number of rows from the same stream:
the gain of the filter is G-Vendi(filtered) - G-Vendi(control), round by round. Everything is persisted as it
happens (through the store: core/data/synthesis_runs.py): kill the process at any point and run it again to continue
both arms without duplicates.
"""
from __future__ import annotations

import time

import numpy as np

from core.analysis.diversity import vendi_score
from core.config import stable_hash
from core.data.store import Store
from core.data.synthesis_runs import RoundClustering
from core.analysis.quality import read_quality
from core.progress import CancelFn, ProgressFn
from core.synthesis.acceptance import VALID, candidate_features, control_draw, judge, screen
from core.synthesis.arms import Arm, cluster_pool, load_arms, seed_suspects
from core.synthesis.config import SynthesisConfig
from core.synthesis.generators import Generator
from core.synthesis.plan import PoolClusters, planned_requests, steps
from core.synthesis.runs import (REASONS, candidates_frame, finish_round, round_failure, runs_for,
                                 start_run, summarize, write_candidates)
from core.synthesis.runs import close_run as close
from core.synthesis.sources import GeneratorSource, PoolSource
from core.synthesis.toward import coverage_report, goal, judge_toward, load_target
from core.synthesis.stages import (ACCEPTING, CLUSTERING, DRAWING, FEATURISING, FEATURISING_SEED, SCORING, Stage,
                                   StageFn)

__all__ = ["REASONS", "SynthesisConfig", "candidates_frame", "load_arms", "round_clustering", "run_synthesis",
           "runs_for", "start_run", "summarize"]


def round_clustering(store: Store, run_id: str, rnd: int, X: np.ndarray, config: SynthesisConfig,
                     suspect: np.ndarray | None = None) -> dict:
    """Cluster once per round (arms.cluster_pool) and persist it with the round's row in one transaction, so a
    resumed round targets and filters exactly as before, and a kill leaves either both or neither."""
    saved = store.round_clustering(run_id, rnd)
    if saved is not None and saved.pool_n == len(X):
        return {"labels": saved.labels, "centroids": saved.centroids, "sparse": saved.sparse}
    c = cluster_pool(X, config, rnd, suspect)
    store.save_round_clustering(run_id, rnd, RoundClustering(c.labels, c.centroids, c.sparse, len(X)), c.k)
    return {"labels": c.labels, "centroids": c.centroids, "sparse": c.sparse}


class Budget:
    def __init__(self, store: Store, run_id: str, config: SynthesisConfig):
        self.store, self.run_id, self.config = store, run_id, config
        self.started = time.perf_counter()

    def spent(self) -> bool:
        if self.config.max_seconds is not None and time.perf_counter() - self.started > self.config.max_seconds:
            return True
        if self.config.max_accepted is not None:
            return self.store.accepted_count(self.run_id) >= self.config.max_accepted
        return False


def run_synthesis(store: Store, dataset: str, config: SynthesisConfig, generator: Generator | None, feature_config,
                  *, progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
                  compute=None, stage: StageFn | None = None) -> dict:
    """Run (or resume) the whole loop; returns the summary (status done / stopped (budget) / failed). `progress`
    gets (done, total) requests (a pool: accepted rows) after each committed step; `stage` each stage change
    (stages.py), in the order the loop goes through them."""
    source = PoolSource(store, config) if config.source == "pool" else GeneratorSource(generator, config)
    try:
        return _run(store, dataset, config, source, feature_config, progress, should_cancel, compute,
                    stage or (lambda s: None))
    finally:
        getattr(generator, "close", lambda: None)()  # a local llama.cpp server stops with the run


def _run(store, dataset, config, source, feature_config, progress, should_cancel, compute, stage) -> dict:
    from core.features.compute import compute_features
    from core.progress import Cancelled
    from core.features.gradients import featurizer_for

    run_id = start_run(store, dataset, config, source.name, feature_config)

    target = None

    def close_run(status: str, error: str | None = None) -> dict:
        extra = None
        if target is not None:
            seed, _ = load_arms(store, dataset, feature_config, run_id, 0)
            after, control = load_arms(store, dataset, feature_config, run_id, config.rounds)
            extra = {"toward": coverage_report(target, seed.X, after.X, control.X)}
        return close(store, run_id, status, error, notices=getattr(source, "notices", []), extra=extra)

    budget = Budget(store, run_id, config)
    stage(Stage(FEATURISING_SEED))
    compute_features(store, dataset, feature_config, options=compute, quality=True)
    if config.toward:
        compute_features(store, config.toward, feature_config, options=compute)
        target = load_target(store, config.toward, feature_config)
    featurizer, _ = featurizer_for(feature_config, compute.device if compute else "auto")  # revision checked
    seed_quality = read_quality(store, dataset, feature_config.key())  # candidates are read against the seed's own
    suspect_hashes = seed_suspects(store, dataset, feature_config.key())  # the same (memoised) read: plan.py's too
    per_round = config.requests_per_round if config.source == "generator" else (config.accept_per_round or 1)
    total = config.rounds * per_round
    for rnd in range(config.rounds):
        if store.round_done(run_id, rnd):
            continue
        if budget.spent():
            return close_run("stopped (budget)")
        filtered, control = load_arms(store, dataset, feature_config, run_id, rnd)
        stage(Stage(CLUSTERING, rnd, 0, config.rounds))
        clustering = round_clustering(store, run_id, rnd, filtered.X, config, filtered.suspect(suspect_hashes))
        state = RoundState(store, run_id, rnd, filtered, clustering, config, feature_config.key())
        state.goal = goal(target, filtered.X) if target is not None else None  # the pool at the round's start
        for rows in _steps(source, state, stage):
            pending = [r for r in rows if r.get("content_hash") and not r.get("reason")]
            stage(Stage(FEATURISING, rnd, len(pending), config.rounds))
            X = candidate_features(store, featurizer, pending)
            ok = ~screen(store, featurizer, pending, seed_quality.reference)
            stage(Stage(ACCEPTING, rnd, int(ok.sum()), config.rounds))
            kept = [r for r, o in zip(pending, ok) if o]
            if target is not None:
                new = judge_toward(kept, X[ok], state.pool_X, state.known, target, state.goal,
                                   config.duplicate_cosine)
            else:
                new = judge(kept, X[ok], state.pool_X, state.known, clustering["centroids"], clustering["sparse"],
                            config.duplicate_cosine)
            state.pool_X = np.concatenate([state.pool_X, new])
            write_candidates(store, run_id, rows)
            state.accepted += sum(r["reason"] == "accepted" for r in rows)
            if progress:
                done = state.accepted if config.source == "pool" else state.requests_done()
                progress(rnd * per_round + min(done, per_round), total)
            if should_cancel and should_cancel():
                raise Cancelled("synthesis cancelled; every candidate so far is kept and a restart resumes")
            if budget.spent():
                return close_run("stopped (budget)")  # this round is not done: a rerun completes it
        failure = round_failure(store, run_id, rnd)
        if failure:
            store.fail_round(run_id, rnd, failure)
            return close_run("failed", failure)
        stage(Stage(SCORING, rnd, 0, config.rounds))
        _finish(store, run_id, rnd, filtered, control, feature_config, config, suspect_hashes)
    return close_run("done")


class RoundState:
    """What the steps of one round share: the filtered pool as it grows, its hashes, and what is done already."""

    def __init__(self, store: Store, run_id: str, rnd: int, filtered: Arm, clustering: dict,
                 config: SynthesisConfig, feature_key: str):
        self.store, self.run_id, self.rnd, self.config = store, run_id, rnd, config
        self.filtered, self.clustering = filtered, clustering
        done = store.accepted_hashes(run_id, rnd)
        extra = store.features_by_hash(feature_key, filtered.X.shape[1], done)
        self.pool_X = np.concatenate([filtered.X] + [extra[h][None] for h in done])
        self.known = set(filtered.hashes) | store.candidate_hashes(run_id)
        self.accepted = len(done)
        self.goal = None  # toward an eval set: the round's uncovered eval clusters (toward.Goal)

    def requests_done(self) -> int:
        return len(self.store.requests_done(self.run_id, self.rnd))


def _steps(source, state: RoundState, stage: StageFn):
    """The round's remaining steps, as candidate rows (resumed rounds skip what is already recorded). A generator's
    requests are the round's plan (plan.py), the one the app previews."""
    config, store, run_id, rnd = state.config, state.store, state.run_id, state.rnd
    if isinstance(source, GeneratorSource):
        if state.goal is not None:  # toward: examples are the pool rows nearest the uncovered eval rows
            if not state.goal.uncovered.any():
                return  # the eval set is covered: nothing to write for
            pool = PoolClusters([p for p, _ in state.filtered.pairs], state.goal.pool_labels, state.goal.uncovered)
        else:
            pool = PoolClusters([p for p, _ in state.filtered.pairs], state.clustering["labels"],
                                state.clustering["sparse"])
        planned = planned_requests(run_id, config, rnd, pool)
        for step in steps(planned, store.requests_done(run_id, rnd), config.request_batch):
            yield source.run(rnd, step, stage)
        return
    while config.accept_per_round is None or state.accepted < config.accept_per_round:
        used = store.used_source_ids(run_id)
        todo = source.plan(used)[:config.pool_batch]
        if not todo:
            return  # the pool is used up
        stage(Stage(DRAWING, rnd, len(todo), config.rounds))
        yield source.run(rnd, todo, first_index=len(used))
        if config.accept_per_round is None:
            return  # without a target, a round is one step


def _finish(store: Store, run_id: str, rnd: int, filtered: Arm, control: Arm, feature_config,
            config: SynthesisConfig, suspect_hashes: set[str] = frozenset()) -> None:
    """Draw the control arm's share, re-score both arms, and mark the round done (one transaction)."""
    from core.features.embeddings import embed_cached

    rows = store.round_candidates(run_id, rnd)
    accepted = [r for r in rows if r[5] == "accepted"]
    valid = [(r[0], r[1]) for r in rows if r[5] in VALID]
    picks = set(control_draw(valid, len(accepted), stable_hash([run_id, rnd, "control"])))
    drawn = [r for r in rows if (r[0], r[1]) in picks]
    feats = store.features_by_hash(feature_config.key(), feature_config.dim, [r[2] for r in rows if r[2]])
    grown = {}
    for name, arm, new in (("after", filtered, accepted), ("control", control, drawn)):
        X = np.concatenate([arm.X] + [feats[r[2]][None] for r in new])
        pairs = {h: p for h, p in zip(arm.hashes, arm.pairs)} | {r[2]: (r[3], r[4]) for r in new}
        emb = embed_cached(store, pairs)
        grown[name] = (X, vendi_score(X), vendi_score(np.stack([emb[h] for h in pairs])))
    c = cluster_pool(grown["control"][0], config, rnd,
                     np.concatenate([control.suspect(suspect_hashes), np.zeros(len(drawn), dtype=bool)]))
    finish_round(store, run_id, rnd, sorted(picks), {
        "g_vendi_before": vendi_score(filtered.X), "g_vendi_after": grown["after"][1],
        "g_vendi_control": grown["control"][1], "embedding_vendi_after": grown["after"][2],
        "embedding_vendi_control": grown["control"][2], "n_after": len(grown["after"][0]),
        "n_control": len(grown["control"][0]), "accepted": len(accepted), "control_accepted": len(drawn),
        "candidates": len(rows), "control_k": c.k, "control_sparse": int(c.sparse.sum())})
