"""Synthesis runs, their rounds and their candidates (synth_runs, synth_rounds, synth_candidates), and the generators'
request cache (llm_cache): the only code that reads or writes these tables.

core/synthesis decides what a run is (its id, its seed, its prompts, what is accepted); this module stores it and
answers questions about it. Every write that must land together is one store method and one transaction, so a kill
leaves all of it or none: a run's (re)opening with the drop of its failed candidates; a step's candidates; a round's
clustering with its row; a round's control draw with its scores and its 'done'. A round's clustering is stored as an
npz blob; only this module encodes and decodes it (RoundClustering). The two arms of a run are named as export names
them: 'filtered' (the candidates the filter accepted) and 'control' (the control's random draw).
"""
from __future__ import annotations

import dataclasses
import io
import json
import time

import numpy as np

CANDIDATE_COLUMNS = ("run_id", "round", "request_idx", "problem_idx", "target_cluster", "raw_output", "problem",
                     "solutions", "answers", "votes", "answer", "solution", "content_hash", "cluster", "accepted",
                     "reason", "created_at", "source_id", "control", "quality")
ROUND_FIELDS = ("round", "g_vendi_before", "g_vendi_after", "g_vendi_control", "embedding_vendi_after",
                "embedding_vendi_control", "n_after", "n_control", "accepted", "control_accepted", "candidates", "k",
                "pool_n", "control_k", "control_sparse")
# what finish_round may set on a round's row (its scores and counts)
ROUND_SCORES = frozenset(ROUND_FIELDS) - {"round", "k", "pool_n"}
ARM_COLUMNS = {"filtered": "accepted", "control": "control"}  # arm -> the candidates' flag that puts a row in it
FAILED = ("generation error", "solution error")  # a candidate that never got an answer (dropped on a relaunch)


@dataclasses.dataclass(frozen=True)
class RoundClustering:
    """A round's clustering of its filtered pool: each row's label (-1: a suspect row), the centroids, which clusters
    are sparse, and how many rows it clustered (pool_n)."""

    labels: np.ndarray
    centroids: np.ndarray
    sparse: np.ndarray
    pool_n: int


@dataclasses.dataclass(frozen=True)
class ArmCandidate:
    """A candidate one arm took, with what export writes of it."""

    round: int
    request_idx: int
    problem_idx: int
    target_cluster: int | None
    cluster: int | None
    votes: int | None
    answer: str | None
    problem: str | None
    solution: str | None
    content_hash: str | None
    source_id: str | None


def _encode_clustering(labels: np.ndarray, centroids: np.ndarray, sparse: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, labels=labels, centroids=centroids, sparse=sparse)
    return buf.getvalue()


def _decode_clustering(blob: bytes, pool_n: int) -> RoundClustering:
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return RoundClustering(data["labels"], data["centroids"], data["sparse"], pool_n)


class SynthesisTables:
    """Mixin of Store: synth_runs, synth_rounds, synth_candidates and llm_cache (self.query / self.transaction /
    self.cursor come from Store)."""

    # ---- runs ---------------------------------------------------------------------------------------------------

    def open_synth_run(self, run_id: str, dataset: str, config: dict, generator: str, feature_key: str) -> None:
        """Insert the run, or mark the existing one running again (two launches of one id join one run); drop the
        candidates that failed to generate in its rounds not yet done, so a relaunch sends those requests again.
        One transaction."""
        now = time.time()
        with self.transaction() as cur:
            cur.execute("INSERT INTO synth_runs (run_id, dataset, config, generator, feature_key, status, created_at, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, 'running', ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                        "status = 'running', updated_at = excluded.updated_at",
                        [run_id, dataset, json.dumps(config), generator, feature_key, now, now])
            cur.execute("DELETE FROM synth_candidates WHERE run_id = ? AND reason IN (?, ?) AND round NOT IN "
                        "(SELECT round FROM synth_rounds WHERE run_id = ? AND status = 'done')",
                        [run_id, *FAILED, run_id])

    def close_synth_run(self, run_id: str, status: str, summary: dict) -> None:
        """The run's final status and summary (the caller redacts what it holds)."""
        self.query("UPDATE synth_runs SET status = ?, updated_at = ?, summary = ? WHERE run_id = ?",
                   [status, time.time(), json.dumps(summary), run_id])

    def synth_run(self, run_id: str) -> dict | None:
        """The run's row (config and summary parsed; summary {} before it closes), or None."""
        rows = self.query("SELECT run_id, dataset, config, generator, feature_key, status, created_at, summary "
                          "FROM synth_runs WHERE run_id = ?", [run_id])
        if not rows:
            return None
        r = rows[0]
        return {"run_id": r[0], "dataset": r[1], "config": json.loads(r[2]) if r[2] else {}, "generator": r[3],
                "feature_key": r[4], "status": r[5], "created_at": r[6], "summary": json.loads(r[7]) if r[7] else {}}

    def synth_runs_of(self, dataset: str) -> list[dict]:
        """The dataset's runs, newest first: run_id, status, generator, config, created_at."""
        rows = self.query("SELECT run_id, status, generator, config, created_at FROM synth_runs WHERE dataset = ? "
                          "ORDER BY created_at DESC", [dataset])
        return [{"run_id": r[0], "status": r[1], "generator": r[2], "config": json.loads(r[3]), "created_at": r[4]}
                for r in rows]

    # ---- rounds -------------------------------------------------------------------------------------------------

    def save_round_clustering(self, run_id: str, rnd: int, clustering: RoundClustering, k: int) -> None:
        """The round's row (status running, nothing accepted yet) with its clustering, replacing any earlier row of
        the round, in one transaction: a kill leaves both or neither."""
        sparse_ids = json.dumps([int(i) for i in np.flatnonzero(clustering.sparse)])
        blob = _encode_clustering(clustering.labels, clustering.centroids, clustering.sparse)
        with self.transaction() as cur:
            cur.execute("DELETE FROM synth_rounds WHERE run_id = ? AND round = ?", [run_id, rnd])
            cur.execute("INSERT INTO synth_rounds (run_id, round, status, k, sparse_clusters, pool_n, accepted, "
                        "candidates, clustering) VALUES (?, ?, 'running', ?, ?, ?, 0, 0, ?)",
                        [run_id, rnd, k, sparse_ids, clustering.pool_n, blob])

    def round_clustering(self, run_id: str, rnd: int) -> RoundClustering | None:
        """The round's stored clustering, or None (no row, or a row without one)."""
        rows = self.query("SELECT clustering, pool_n FROM synth_rounds WHERE run_id = ? AND round = ?", [run_id, rnd])
        if not rows or rows[0][0] is None:
            return None
        return _decode_clustering(rows[0][0], rows[0][1])

    def round_clusterings(self, run_id: str) -> dict[int, RoundClustering]:
        """Every clustered round's clustering, by round (in round order)."""
        rows = self.query("SELECT round, clustering, pool_n FROM synth_rounds WHERE run_id = ? AND clustering IS NOT "
                          "NULL ORDER BY round", [run_id])
        return {rnd: _decode_clustering(blob, pool_n) for rnd, blob, pool_n in rows}

    def clustered_rounds(self, run_id: str) -> int:
        """How many of the run's rounds have been clustered (a round's prompts are known from then on)."""
        return self.query("SELECT count(*) FROM synth_rounds WHERE run_id = ? AND clustering IS NOT NULL",
                          [run_id])[0][0]

    def round_done(self, run_id: str, rnd: int) -> bool:
        return bool(self.query("SELECT 1 FROM synth_rounds WHERE run_id = ? AND round = ? AND status = 'done'",
                               [run_id, rnd]))

    def fail_round(self, run_id: str, rnd: int, error: str) -> None:
        self.query("UPDATE synth_rounds SET status = 'failed', error = ? WHERE run_id = ? AND round = ?",
                   [error, run_id, rnd])

    def finish_round(self, run_id: str, rnd: int, control: list[tuple[int, int]], scores: dict) -> None:
        """The round's control draw ((request_idx, problem_idx) of the candidates drawn; the rest of the round's
        candidates are not), its scores (columns of ROUND_SCORES) and its 'done', in one transaction."""
        unknown = set(scores) - ROUND_SCORES
        if unknown:
            raise ValueError(f"not a round score: {', '.join(sorted(unknown))}")
        with self.transaction() as cur:
            cur.execute("UPDATE synth_candidates SET control = false WHERE run_id = ? AND round = ?", [run_id, rnd])
            if control:
                cur.executemany("UPDATE synth_candidates SET control = true WHERE run_id = ? AND round = ? AND "
                                "request_idx = ? AND problem_idx = ?", [[run_id, rnd, q, p] for q, p in control])
            sets = ", ".join(f"{k} = ?" for k in scores)
            cur.execute(f"UPDATE synth_rounds SET status = 'done', {sets} WHERE run_id = ? AND round = ?",
                        [*scores.values(), run_id, rnd])

    def done_rounds(self, run_id: str) -> list[dict]:
        """The run's done rounds in order, each as {ROUND_FIELDS: value}."""
        rows = self.query(f"SELECT {', '.join(ROUND_FIELDS)} FROM synth_rounds WHERE run_id = ? AND status = 'done' "
                          "ORDER BY round", [run_id])
        return [dict(zip(ROUND_FIELDS, r)) for r in rows]

    # ---- candidates ---------------------------------------------------------------------------------------------

    def add_candidates(self, run_id: str, rows: list[dict]) -> None:
        """A step's candidates in one transaction (a kill leaves the whole step or none of it); a candidate already
        stored (same round, request, problem) is kept as it was. Each row holds round, request_idx, problem_idx and
        reason (accepted iff reason == 'accepted'), and optionally the other CANDIDATE_COLUMNS; quality is a list."""
        now = time.time()
        values = [[run_id, r["round"], r["request_idx"], r["problem_idx"], r.get("target_cluster"),
                   r.get("raw_output"), r.get("problem"), json.dumps(r.get("solutions")), json.dumps(r.get("answers")),
                   r.get("votes"), r.get("answer"), r.get("solution"), r.get("content_hash"), r.get("cluster"),
                   r["reason"] == "accepted", r["reason"], now, r.get("source_id"), False,
                   json.dumps(r["quality"]) if r.get("quality") else None] for r in rows]
        if not values:
            return
        with self.transaction() as cur:
            cur.executemany(f"INSERT INTO synth_candidates ({', '.join(CANDIDATE_COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(CANDIDATE_COLUMNS))}) ON CONFLICT DO NOTHING", values)

    def arm_candidates(self, run_id: str, arm: str = "filtered", before_round: int | None = None) -> list[ArmCandidate]:
        """The candidates the arm took (of the rounds before `before_round`, if given), in round, request and problem
        order: what the arm adds to the seed."""
        if arm not in ARM_COLUMNS:
            raise ValueError(f"arm must be one of {tuple(ARM_COLUMNS)}, not {arm!r}")
        bound, params = ("AND round < ?", [run_id, before_round]) if before_round is not None else ("", [run_id])
        rows = self.query("SELECT round, request_idx, problem_idx, target_cluster, cluster, votes, answer, problem, "
                          f"solution, content_hash, source_id FROM synth_candidates WHERE run_id = ? AND "
                          f"{ARM_COLUMNS[arm]} {bound} ORDER BY round, request_idx, problem_idx", params)
        return [ArmCandidate(*r) for r in rows]

    def accepted_count(self, run_id: str) -> int:
        return self.query("SELECT count(*) FROM synth_candidates WHERE run_id = ? AND accepted", [run_id])[0][0]

    def accepted_hashes(self, run_id: str, rnd: int) -> list[str]:
        """Content hashes of the round's accepted candidates, in request and problem order."""
        return [r[0] for r in self.query("SELECT content_hash FROM synth_candidates WHERE run_id = ? AND round = ? AND "
                                         "accepted ORDER BY request_idx, problem_idx", [run_id, rnd])]

    def candidate_hashes(self, run_id: str) -> set[str]:
        """Content hashes of every candidate of the run that has one (what a new candidate must not repeat)."""
        return {r[0] for r in self.query("SELECT content_hash FROM synth_candidates WHERE run_id = ? AND content_hash "
                                         "IS NOT NULL", [run_id])}

    def requests_done(self, run_id: str, rnd: int) -> set[int]:
        """The request indices of the round that have candidates recorded."""
        return {r[0] for r in self.query("SELECT DISTINCT request_idx FROM synth_candidates WHERE run_id = ? AND "
                                         "round = ?", [run_id, rnd])}

    def used_source_ids(self, run_id: str) -> set[str | None]:
        """The source ids of the run's candidates (a pool run's rows drawn so far; a generator's candidates have
        None)."""
        return {r[0] for r in self.query("SELECT source_id FROM synth_candidates WHERE run_id = ?", [run_id])}

    def round_candidates(self, run_id: str, rnd: int) -> list[tuple]:
        """(request_idx, problem_idx, content_hash, problem, solution, reason) of the round's candidates, in request
        and problem order."""
        return self.query("SELECT request_idx, problem_idx, content_hash, problem, solution, reason FROM "
                          "synth_candidates WHERE run_id = ? AND round = ? ORDER BY request_idx, problem_idx",
                          [run_id, rnd])

    def round_errors(self, run_id: str, rnd: int) -> list[tuple[str, str | None]]:
        """(reason, raw_output) of each of the round's candidates (what tells a round that produced nothing)."""
        return self.query("SELECT reason, raw_output FROM synth_candidates WHERE run_id = ? AND round = ?",
                          [run_id, rnd])

    def reason_counts(self, run_id: str) -> dict[str, int]:
        """How many of the run's candidates each reason holds ('accepted' included)."""
        return dict(self.query("SELECT reason, count(*) FROM synth_candidates WHERE run_id = ? GROUP BY reason",
                               [run_id]))

    def candidates_frame(self, run_id: str):
        """Every candidate of the run as a pandas DataFrame, in round, request and problem order."""
        cur = self.cursor()
        try:
            return cur.execute("SELECT round, request_idx, problem_idx, target_cluster, cluster, reason, accepted, "
                               "control, votes, answer, problem, solution, solutions, answers, raw_output, source_id, "
                               "quality FROM synth_candidates WHERE run_id = ? ORDER BY round, request_idx, "
                               "problem_idx", [run_id]).df()
        finally:
            cur.close()

    # ---- the generators' request cache --------------------------------------------------------------------------

    def llm_cached(self, keys: list[str]) -> dict[str, tuple[str | None, str | None]]:
        """key -> (text, error) of the cached replies among these keys."""
        if not keys:
            return {}
        rows = self.query("SELECT key, text, error FROM llm_cache WHERE key IN (SELECT unnest(?))", [list(keys)])
        return {k: (t, e) for k, t, e in rows}

    def llm_cache_put(self, entries: list[tuple[str, str | None, str | None]]) -> None:
        """(key, text, error) entries in one transaction (a commit per reply would cap a fast endpoint at the disk's
        fsync rate): insert, or replace a cached error; a cached good reply always stays (two racing writers)."""
        if not entries:
            return
        now = time.time()
        with self.transaction() as cur:
            cur.executemany("INSERT INTO llm_cache VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                            "text = excluded.text, error = excluded.error, created_at = excluded.created_at "
                            "WHERE llm_cache.text IS NULL", [[k, t, e, now] for k, t, e in entries])
