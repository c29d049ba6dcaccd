"""A synthesis run's records: its row (status, summary), its rounds, its candidates; and reading them back.

A run's id is the hash of its dataset, settings, candidate source and feature config: launching the same settings
again resumes (or joins) the same run. Every write that must land together is one transaction: a step's candidates;
a round's clustering with its row; a round's control draw with its scores and its 'done'.
"""
from __future__ import annotations

import dataclasses
import json
import time

from core.config import stable_hash
from core.data.store import Store
from core.synthesis.config import SynthesisConfig
from core.synthesis.credentials import redact

REASONS = ("accepted", "dense cluster", "duplicate", "suspect", "no majority", "no answer", "parse failure",
           "generation error", "solution error")  # suspect: the quality read's (acceptance.screen), with why
CANDIDATE_COLUMNS = ("run_id", "round", "request_idx", "problem_idx", "target_cluster", "raw_output", "problem",
                     "solutions", "answers", "votes", "answer", "solution", "content_hash", "cluster", "accepted",
                     "reason", "created_at", "source_id", "control", "quality")
ROUND_FIELDS = ("round", "g_vendi_before", "g_vendi_after", "g_vendi_control", "embedding_vendi_after",
                "embedding_vendi_control", "n_after", "n_control", "accepted", "control_accepted", "candidates", "k",
                "pool_n", "control_k", "control_sparse")


def start_run(store: Store, dataset: str, config: SynthesisConfig, source_name: str, feature_config) -> str:
    """A new run, or the unfinished run of the same dataset, settings and source (so a restart resumes it).

    Atomic: two launches of the same settings get the same run (the second joins it). Candidates that failed to
    generate in rounds not yet done are dropped, so a relaunch (after fixing a key, say) sends those requests again;
    final answers of the endpoint are in the request cache and cost nothing to replay."""
    params = dataclasses.asdict(config)
    run_id = stable_hash({"dataset": dataset, "config": params, "generator": source_name,
                          "features": feature_config.key()}, length=12)
    now = time.time()
    with store.transaction() as cur:
        cur.execute("INSERT INTO synth_runs (run_id, dataset, config, generator, feature_key, status, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                    "status = 'running', updated_at = excluded.updated_at",
                    [run_id, dataset, json.dumps(params), source_name, feature_config.key(), now, now])
        cur.execute("DELETE FROM synth_candidates WHERE run_id = ? AND reason IN ('generation error', "
                    "'solution error') AND round NOT IN (SELECT round FROM synth_rounds WHERE run_id = ? AND "
                    "status = 'done')", [run_id, run_id])
    return run_id


def write_candidates(store: Store, run_id: str, rows: list[dict]) -> None:
    """A step's candidates in one transaction: a kill leaves the whole step or none of it."""
    now = time.time()
    values = [[run_id, r["round"], r["request_idx"], r["problem_idx"], r.get("target_cluster"), r.get("raw_output"),
               r.get("problem"), json.dumps(r.get("solutions")), json.dumps(r.get("answers")), r.get("votes"),
               r.get("answer"), r.get("solution"), r.get("content_hash"), r.get("cluster"),
               r["reason"] == "accepted", r["reason"], now, r.get("source_id"), False,
               json.dumps(r["quality"]) if r.get("quality") else None] for r in rows]
    if not values:
        return
    with store.transaction() as cur:
        cur.executemany(f"INSERT INTO synth_candidates ({', '.join(CANDIDATE_COLUMNS)}) VALUES "
                        f"({', '.join('?' * len(CANDIDATE_COLUMNS))}) ON CONFLICT DO NOTHING", values)


def finish_round(store: Store, run_id: str, rnd: int, control: list[tuple], scores: dict) -> None:
    """The round's control draw, its scores and its 'done', in one transaction."""
    with store.transaction() as cur:
        cur.execute("UPDATE synth_candidates SET control = false WHERE run_id = ? AND round = ?", [run_id, rnd])
        if control:
            cur.executemany("UPDATE synth_candidates SET control = true WHERE run_id = ? AND round = ? AND "
                            "request_idx = ? AND problem_idx = ?", [[run_id, rnd, q, p] for q, p in control])
        sets = ", ".join(f"{k} = ?" for k in scores)
        cur.execute(f"UPDATE synth_rounds SET status = 'done', {sets} WHERE run_id = ? AND round = ?",
                    [*scores.values(), run_id, rnd])


def close_run(store: Store, run_id: str, status: str, error: str | None = None, notices: list[str] = ()) -> dict:
    """The run's final status and summary; `notices` are what the user must know about how it ran (e.g. the
    embedded generator fell back from llama.cpp to transformers, and why)."""
    summary = summarize(store, run_id) | {"status": status, "error": redact(error), "notices": list(notices)}
    store.query("UPDATE synth_runs SET status = ?, updated_at = ?, summary = ? WHERE run_id = ?",
                [status, time.time(), json.dumps(summary), run_id])
    return summary


def round_failure(store: Store, run_id: str, rnd: int) -> str | None:
    """Why a round produced nothing at all, when every request of it failed (e.g. a wrong key): never 'done'."""
    rows = store.query("SELECT reason, raw_output FROM synth_candidates WHERE run_id = ? AND round = ?",
                       [run_id, rnd])
    if rows and all(reason in ("generation error", "solution error") for reason, _ in rows):
        first = next((raw for _, raw in rows if raw), "no reply")
        return redact(f"every request of round {rnd} failed ({len(rows)} candidates); first error: {first[:300]}")
    return None


def summarize(store: Store, run_id: str) -> dict:
    run = store.query("SELECT dataset, generator, status, summary, config FROM synth_runs WHERE run_id = ?", [run_id])
    if not run:
        raise KeyError(f"no synthesis run {run_id!r}")
    stored = json.loads(run[0][3]) if run[0][3] else {}
    reasons = dict(store.query("SELECT reason, count(*) FROM synth_candidates WHERE run_id = ? GROUP BY reason",
                               [run_id]))
    rounds = store.query(f"SELECT {', '.join(ROUND_FIELDS)} FROM synth_rounds WHERE run_id = ? AND status = 'done' "
                         "ORDER BY round", [run_id])
    per_round = [dict(zip(ROUND_FIELDS, r)) for r in rounds]
    last = per_round[-1] if per_round else {}
    return {"run_id": run_id, "dataset": run[0][0], "generator": run[0][1], "status": run[0][2],
            "error": redact(stored.get("error")), "notices": stored.get("notices", []), "source": json.loads(run[0][4]).get("source", "generator"),
            "rounds": len(per_round), "accepted": reasons.get("accepted", 0),
            "control_accepted": sum(r["control_accepted"] or 0 for r in per_round),
            "rejected": {k: v for k, v in reasons.items() if k != "accepted"},
            "g_vendi_before": per_round[0]["g_vendi_before"] if per_round else None,
            "g_vendi_after": last.get("g_vendi_after"), "g_vendi_control": last.get("g_vendi_control"),
            "embedding_vendi_after": last.get("embedding_vendi_after"),
            "embedding_vendi_control": last.get("embedding_vendi_control"),
            "per_round": per_round}


def candidates_frame(store: Store, run_id: str):
    cur = store.cursor()
    try:
        return cur.execute("SELECT round, request_idx, problem_idx, target_cluster, cluster, reason, accepted, control, "
                           "votes, answer, problem, solution, solutions, answers, raw_output, source_id, quality "
                           "FROM synth_candidates WHERE run_id = ? ORDER BY round, request_idx, problem_idx",
                           [run_id]).df()
    finally:
        cur.close()


def runs_for(store: Store, dataset: str) -> list[dict]:
    rows = store.query("SELECT run_id, status, generator, config, created_at FROM synth_runs WHERE dataset = ? "
                       "ORDER BY created_at DESC", [dataset])
    return [{"run_id": r[0], "status": r[1], "generator": r[2], "config": json.loads(r[3]), "created_at": r[4]}
            for r in rows]
