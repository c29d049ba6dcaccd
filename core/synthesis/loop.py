"""Prismatic Synthesis as a resumable job: generate problems from sparse clusters, majority-vote their solutions,
keep only candidates whose gradient lands in a sparse cluster. Every candidate is persisted with its reason.

One round: cluster the pool (spherical k-means, k = n/10, sparse = below median size) -> requests (a sparse cluster's
samples as few-shot examples) -> problems -> m solutions each -> majority answer -> gradient feature -> accept iff its
nearest centroid is sparse and it is no near-duplicate -> G-Vendi of the grown pool, and of a control that takes the
same number of valid candidates without the sparse filter.
"""
from __future__ import annotations

import dataclasses
import io
import json
import random
import time
from typing import Callable

import numpy as np

from core.analysis.clusters import ClusterConfig, cluster
from core.analysis.diversity import vendi_score
from core.config import stable_hash
from core.data.ingest import content_hash
from core.data.store import Store
from core.synthesis.answers import (PROBLEM_PROMPT, SOLVE_PROMPT, answer_text, extract_answer, majority,
                                    parse_problems)
from core.synthesis.generators import Generator, Request

REASONS = ("accepted", "dense cluster", "duplicate", "no majority", "no answer", "parse failure",
           "generation error", "solution error")

@dataclasses.dataclass(frozen=True)
class SynthesisConfig:
    rounds: int = 1
    requests_per_round: int = 8
    problems_per_request: int = 2
    few_shot: int = 5
    solutions_per_problem: int = 3
    problem_temperature: float = 1.0
    solution_temperature: float = 0.75
    top_p: float = 0.95
    max_problem_tokens: int = 384
    max_solution_tokens: int = 384
    answer_mode: str = "math"  # math (math-verify on \boxed{}), exact (normalised last line), none (no vote)
    max_accepted: int | None = None
    max_seconds: float | None = None
    duplicate_cosine: float = 0.98
    k: int | None = None
    seed: int = 0
    request_batch: int = 4  # requests generated together (one progress step each)


@dataclasses.dataclass
class Pool:
    ids: list[str]
    hashes: list[str]
    X: np.ndarray


def _load_pool(store: Store, dataset: str, feature_key: str, dim: int, run_id: str, before_round: int) -> Pool:
    ids, X = store.load_features(dataset, feature_key, dim)
    hashes = [s.content_hash for s in store.samples(dataset)]
    rows = store.query("SELECT content_hash FROM synth_candidates WHERE run_id = ? AND accepted AND round < ? "
                       "ORDER BY round, request_idx, problem_idx", [run_id, before_round])
    extra = [r[0] for r in rows]
    if extra:
        feats = store.features_by_hash(feature_key, dim, extra)
        X = np.concatenate([X, np.stack([feats[h] for h in extra])])
        ids = ids + [f"synthetic:{h[:12]}" for h in extra]
        hashes = hashes + extra
    return Pool(ids, hashes, X)


def start_run(store: Store, dataset: str, config: SynthesisConfig, generator_name: str, feature_config) -> str:
    """A new run, or the unfinished run of the same dataset, settings and generator (so a restart resumes it).

    Atomic: two launches of the same settings get the same run (the second joins it). Candidates that failed to
    generate in rounds not yet done are dropped, so a relaunch (after fixing a key, say) sends those requests again;
    final answers of the endpoint are in the request cache and cost nothing to replay."""
    params = dataclasses.asdict(config)
    run_id = stable_hash({"dataset": dataset, "config": params, "generator": generator_name,
                          "features": feature_config.key()}, length=12)
    now = time.time()
    with store.transaction() as cur:
        cur.execute("INSERT INTO synth_runs (run_id, dataset, config, generator, feature_key, status, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                    "status = 'running', updated_at = excluded.updated_at",
                    [run_id, dataset, json.dumps(params), generator_name, feature_config.key(), now, now])
        cur.execute("DELETE FROM synth_candidates WHERE run_id = ? AND reason IN ('generation error', "
                    "'solution error') AND round NOT IN (SELECT round FROM synth_rounds WHERE run_id = ? AND "
                    "status = 'done')", [run_id, run_id])
    return run_id


ProgressFn = Callable[[int, int], None]


def run_synthesis(store: Store, dataset: str, config: SynthesisConfig, generator: Generator, feature_config, *,
                  progress: ProgressFn | None = None, should_cancel: Callable[[], bool] | None = None,
                  batch_size: int = 16) -> dict:
    """Run (or resume) the whole loop; returns the summary. Safe to kill at any point and call again."""
    from core.features.gradients import make_featurizer
    from core.features.models import load_model
    from core.features.compute import Cancelled, compute_features

    started = time.perf_counter()
    run_id = start_run(store, dataset, config, generator.name, feature_config)
    stopped_by_budget = False
    compute_features(store, dataset, feature_config, batch_size=batch_size)
    loaded = load_model(feature_config.model)
    featurizer = make_featurizer(loaded.model, feature_config, tokenizer=loaded.tokenizer)
    total_steps = config.rounds * config.requests_per_round
    for rnd in range(config.rounds):
        state = store.query("SELECT status FROM synth_rounds WHERE run_id = ? AND round = ?", [run_id, rnd])
        if state and state[0][0] == "done":
            continue
        if _budget_spent(store, run_id, config, started):
            stopped_by_budget = True
            break
        pool = _load_pool(store, dataset, feature_config.key(), feature_config.dim, run_id, rnd)
        clustering = _round_clustering(store, run_id, rnd, pool, config)
        sparse = np.flatnonzero(clustering["sparse"])
        labels, centroids = clustering["labels"], clustering["centroids"]
        samples = {s.content_hash: s for s in store.samples(dataset)}
        texts = _pool_texts(store, run_id, pool, samples)
        done_requests = {r[0] for r in store.query(
            "SELECT DISTINCT request_idx FROM synth_candidates WHERE run_id = ? AND round = ?", [run_id, rnd])}
        rng = random.Random(stable_hash([run_id, rnd], length=8))
        plan = []
        for q in range(config.requests_per_round):
            target = int(sparse[q % len(sparse)]) if len(sparse) else int(rng.randrange(len(centroids)))
            members = [i for i in np.flatnonzero(labels == target)]
            shots = rng.sample(members, min(config.few_shot, len(members)))
            plan.append((q, target, shots))
        todo = [p for p in plan if p[0] not in done_requests]
        for start in range(0, len(todo), config.request_batch):
            if _budget_spent(store, run_id, config, started):
                stopped_by_budget = True
                break
            chunk = todo[start:start + config.request_batch]
            _process_requests(store, run_id, rnd, chunk, texts, pool, centroids, clustering["sparse"], generator,
                              featurizer, config)
            if progress:
                progress(rnd * config.requests_per_round + len(done_requests) + start + len(chunk), total_steps)
            if should_cancel and should_cancel():
                raise Cancelled("synthesis cancelled; every candidate so far is kept and a restart resumes")
        if stopped_by_budget:
            break  # a round cut short by the budget is not done: a rerun with a larger budget completes it
        failure = _round_failure(store, run_id, rnd)
        if failure:
            store.query("UPDATE synth_rounds SET status = 'failed', error = ? WHERE run_id = ? AND round = ?",
                        [failure, run_id, rnd])
            return _close_run(store, run_id, "failed", failure)
        _finish_round(store, run_id, rnd, pool, feature_config, random.Random(stable_hash([run_id, rnd, 'control'])))
    return _close_run(store, run_id, "stopped (budget)" if stopped_by_budget else "done")


def _round_failure(store: Store, run_id: str, rnd: int) -> str | None:
    """Why a round produced nothing at all, when every request of it failed (e.g. a wrong key): never 'done'."""
    rows = store.query("SELECT reason, raw_output FROM synth_candidates WHERE run_id = ? AND round = ?",
                       [run_id, rnd])
    if rows and all(reason in ("generation error", "solution error") for reason, _ in rows):
        first = next((raw for _, raw in rows if raw), "no reply")
        return f"every request of round {rnd} failed ({len(rows)} candidates); first error: {first[:300]}"
    return None


def _close_run(store: Store, run_id: str, status: str, error: str | None = None) -> dict:
    summary = summarize(store, run_id) | {"status": status, "error": error}
    store.query("UPDATE synth_runs SET status = ?, updated_at = ?, summary = ? WHERE run_id = ?",
                [status, time.time(), json.dumps(summary), run_id])
    return summary


def _budget_spent(store: Store, run_id: str, config: SynthesisConfig, started: float) -> bool:
    if config.max_seconds is not None and time.perf_counter() - started > config.max_seconds:
        return True
    if config.max_accepted is not None:
        n = store.query("SELECT count(*) FROM synth_candidates WHERE run_id = ? AND accepted", [run_id])[0][0]
        return n >= config.max_accepted
    return False


def _round_clustering(store: Store, run_id: str, rnd: int, pool: Pool, config: SynthesisConfig) -> dict:
    """Cluster once per round and persist it with the round's row in one transaction, so a resumed round targets and
    filters exactly as before, and a kill leaves either both or neither."""
    saved = store.query("SELECT clustering, pool_n FROM synth_rounds WHERE run_id = ? AND round = ?", [run_id, rnd])
    if saved and saved[0][0] is not None and saved[0][1] == len(pool.ids):
        data = np.load(io.BytesIO(saved[0][0]))
        return {"labels": data["labels"], "centroids": data["centroids"], "sparse": data["sparse"]}
    c = cluster(pool.X, ClusterConfig(k=config.k, seed=config.seed + rnd))
    buf = io.BytesIO()
    np.savez(buf, labels=c.labels, centroids=c.centroids, sparse=c.sparse_clusters)
    with store.transaction() as cur:
        cur.execute("DELETE FROM synth_rounds WHERE run_id = ? AND round = ?", [run_id, rnd])
        cur.execute("INSERT INTO synth_rounds (run_id, round, status, k, sparse_clusters, pool_n, accepted, "
                    "candidates, clustering) VALUES (?, ?, 'running', ?, ?, ?, 0, 0, ?)",
                    [run_id, rnd, c.k, json.dumps([int(i) for i in np.flatnonzero(c.sparse_clusters)]),
                     len(pool.ids), buf.getvalue()])
    return {"labels": c.labels, "centroids": c.centroids, "sparse": c.sparse_clusters}


def _pool_texts(store: Store, run_id: str, pool: Pool, samples: dict) -> list[str]:
    synth = {r[0]: r[1] for r in store.query("SELECT content_hash, problem FROM synth_candidates WHERE run_id = ? "
                                             "AND accepted", [run_id])}
    return [samples[h].prompt if h in samples else synth.get(h, "") for h in pool.hashes]


def _process_requests(store, run_id, rnd, chunk, texts, pool, centroids, sparse_flags, generator, featurizer,
                      config: SynthesisConfig) -> None:
    from core.features.gradients import featurize_pairs

    requests = []
    for q, target, shots in chunk:
        examples = "\n\n".join(f"Example {i + 1}: {texts[j]}" for i, j in enumerate(shots))
        prompt = PROBLEM_PROMPT.format(examples=examples, count=config.problems_per_request)
        requests.append(Request((("user", prompt),), config.problem_temperature, config.top_p,
                                config.max_problem_tokens, sample=0))
    replies = generator.generate(requests)
    rows: list[dict] = []
    problems = []  # (row index, problem)
    for (q, target, _), reply in zip(chunk, replies):
        base = {"round": rnd, "request_idx": q, "target_cluster": target, "raw_output": reply.text or ""}
        if reply.text is None:
            rows.append(base | {"problem_idx": -1, "reason": "generation error", "problem": None,
                                "raw_output": reply.error or ""})
            continue
        found = parse_problems(reply.text, config.problems_per_request)
        if not found:
            rows.append(base | {"problem_idx": -1, "reason": "parse failure", "problem": None})
        for p_idx, problem in enumerate(found):
            rows.append(base | {"problem_idx": p_idx, "problem": problem, "reason": None})
            problems.append((len(rows) - 1, problem))
    solve = [Request((("user", SOLVE_PROMPT.format(problem=p)),), config.solution_temperature, config.top_p,
                     config.max_solution_tokens, sample=s)
             for _, p in problems for s in range(config.solutions_per_problem)]
    solutions = generator.generate(solve) if solve else []
    m = config.solutions_per_problem
    pending = []
    for n, (row_idx, problem) in enumerate(problems):
        row = rows[row_idx]
        outs = solutions[n * m:(n + 1) * m]
        texts_ = [o.text for o in outs]
        row["solutions"] = texts_
        if all(t is None for t in texts_):
            row["reason"] = "solution error"
            continue
        answers = [extract_answer(t, config.answer_mode) if t else None for t in texts_]
        row["answers"] = [answer_text(a, config.answer_mode) for a in answers]
        winner, votes = majority(answers, config.answer_mode)
        row["votes"] = votes
        if all(a is None for a in answers):
            row["reason"] = "no answer"
            continue
        if winner is None:
            row["reason"] = "no majority"
            continue
        row["answer"] = row["answers"][winner]
        row["solution"] = texts_[winner]
        row["content_hash"] = content_hash(problem, texts_[winner])
        pending.append(row)
    if pending:
        vecs, _ = featurize_pairs(featurizer, [(r["problem"], r["solution"]) for r in pending])
        store.write_features(featurizer.config, [r["content_hash"] for r in pending], vecs)
        accepted_vecs = _accepted_vectors(store, run_id, featurizer.config)
        known = set(pool.hashes)
        for row, v in zip(pending, vecs):
            row["cluster"] = int(np.argmax(centroids @ v))
            others = np.concatenate([pool.X, accepted_vecs]) if len(accepted_vecs) else pool.X
            near = float(np.max(others @ v)) if len(others) else 0.0
            if row["content_hash"] in known or near >= config.duplicate_cosine:
                row["reason"] = "duplicate"
            elif sparse_flags[row["cluster"]]:
                row["reason"] = "accepted"
                accepted_vecs = np.concatenate([accepted_vecs, v[None]]) if len(accepted_vecs) else v[None]
            else:
                row["reason"] = "dense cluster"
            known.add(row["content_hash"])
    _write_candidates(store, run_id, rows)


def _accepted_vectors(store: Store, run_id: str, feature_config) -> np.ndarray:
    hashes = [r[0] for r in store.query("SELECT content_hash FROM synth_candidates WHERE run_id = ? AND accepted",
                                        [run_id])]
    feats = store.features_by_hash(feature_config.key(), feature_config.dim, hashes)
    return np.stack([feats[h] for h in hashes]) if hashes else np.zeros((0, feature_config.dim), np.float32)


def _write_candidates(store: Store, run_id: str, rows: list[dict]) -> None:
    """All candidates of a batch of requests in one transaction: a kill leaves the whole batch or none of it."""
    with store.transaction() as cur:
        for r in rows:
            cur.execute("INSERT INTO synth_candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        [run_id, r["round"], r["request_idx"], r["problem_idx"], r["target_cluster"],
                         r.get("raw_output"), r.get("problem"), json.dumps(r.get("solutions")),
                         json.dumps(r.get("answers")), r.get("votes"), r.get("answer"), r.get("solution"),
                         r.get("content_hash"), r.get("cluster"), r["reason"] == "accepted", r["reason"],
                         time.time()])


def _finish_round(store: Store, run_id: str, rnd: int, pool: Pool, feature_config, rng: random.Random) -> None:
    rows = store.query("SELECT content_hash, reason FROM synth_candidates WHERE run_id = ? AND round = ? "
                       "ORDER BY request_idx, problem_idx", [run_id, rnd])
    accepted = [h for h, reason in rows if reason == "accepted"]
    valid = [h for h, reason in rows if reason in ("accepted", "dense cluster")]
    feats = store.features_by_hash(feature_config.key(), feature_config.dim, valid)
    before = vendi_score(pool.X)
    after = vendi_score(np.concatenate([pool.X] + [feats[h][None] for h in accepted])) if accepted else before
    control_pick = rng.sample(valid, len(accepted)) if accepted else []
    control = (vendi_score(np.concatenate([pool.X] + [feats[h][None] for h in control_pick]))
               if control_pick else before)
    store.query("UPDATE synth_rounds SET status = 'done', g_vendi_before = ?, g_vendi_after = ?, "
                "g_vendi_control = ?, accepted = ?, candidates = ? WHERE run_id = ? AND round = ?",
                [before, after, control, len(accepted), len(rows), run_id, rnd])


def summarize(store: Store, run_id: str) -> dict:
    run = store.query("SELECT dataset, generator, status, summary FROM synth_runs WHERE run_id = ?", [run_id])
    if not run:
        raise KeyError(f"no synthesis run {run_id!r}")
    stored = json.loads(run[0][3]) if run[0][3] else {}
    reasons = dict(store.query("SELECT reason, count(*) FROM synth_candidates WHERE run_id = ? GROUP BY reason",
                               [run_id]))
    rounds = store.query("SELECT round, g_vendi_before, g_vendi_after, g_vendi_control, accepted, candidates, k, "
                         "pool_n FROM synth_rounds WHERE run_id = ? AND status = 'done' ORDER BY round", [run_id])
    per_round = [dict(zip(("round", "g_vendi_before", "g_vendi_after", "g_vendi_control", "accepted", "candidates",
                           "k", "pool_n"), r)) for r in rounds]
    return {"run_id": run_id, "dataset": run[0][0], "generator": run[0][1], "status": run[0][2],
            "error": stored.get("error"), "rounds": len(per_round),
            "accepted": reasons.get("accepted", 0),
            "rejected": {k: v for k, v in reasons.items() if k != "accepted"},
            "g_vendi_before": per_round[0]["g_vendi_before"] if per_round else None,
            "g_vendi_after": per_round[-1]["g_vendi_after"] if per_round else None,
            "g_vendi_control": per_round[-1]["g_vendi_control"] if per_round else None,
            "per_round": per_round}


def candidates_frame(store: Store, run_id: str):
    cur = store.cursor()
    try:
        return cur.execute("SELECT round, request_idx, problem_idx, target_cluster, cluster, reason, accepted, votes, "
                           "answer, problem, solution, raw_output FROM synth_candidates WHERE run_id = ? "
                           "ORDER BY round, request_idx, problem_idx", [run_id]).df()
    finally:
        cur.close()


def runs_for(store: Store, dataset: str) -> list[dict]:
    rows = store.query("SELECT run_id, status, generator, config, created_at FROM synth_runs WHERE dataset = ? "
                       "ORDER BY created_at DESC", [dataset])
    return [{"run_id": r[0], "status": r[1], "generator": r[2], "config": json.loads(r[3]), "created_at": r[4]}
            for r in rows]
