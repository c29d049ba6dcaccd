"""Background jobs persisted in DuckDB: progress, ETA, cancel. Workers never touch the UI; they write to the store.

A job runs in a daemon thread of the process that owns the workspace. A browser refresh finds it by id; a server
restart marks jobs it finds 'running' from an earlier process as 'interrupted' (their committed work is kept, and
running the same work again resumes it).
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import traceback
import uuid
from typing import Any, Callable

from core.data.store import Store

JOBS_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id VARCHAR PRIMARY KEY,
    kind VARCHAR,
    dataset VARCHAR,
    params JSON,
    status VARCHAR,          -- queued | running | done | failed | cancelled | interrupted
    stage VARCHAR,
    done BIGINT,
    total BIGINT,
    message VARCHAR,
    error VARCHAR,
    result JSON,
    cancel_requested BOOLEAN,
    pid INTEGER,
    created_at DOUBLE,
    started_at DOUBLE,
    updated_at DOUBLE,
    finished_at DOUBLE
);
"""
ACTIVE = ("queued", "running")


class JobCancelled(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Job:
    id: str
    kind: str
    dataset: str
    params: dict
    status: str
    stage: str
    done: int
    total: int
    message: str
    error: str | None
    result: Any
    cancel_requested: bool
    created_at: float
    started_at: float | None
    updated_at: float | None
    finished_at: float | None

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Remaining time from the rate so far in the current stage; None before there is a rate."""
        if self.status != "running" or not self.started_at or not self.done or not self.total:
            return None
        elapsed = (self.updated_at or time.time()) - self.started_at
        return elapsed / self.done * max(0, self.total - self.done)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


class JobContext:
    """What a worker gets: report progress, and ask whether it should stop."""

    def __init__(self, store: Store, job_id: str):
        self.store, self.job_id = store, job_id
        self._last_write = 0.0

    def progress(self, done: int, total: int, stage: str | None = None, message: str = "") -> None:
        now = time.time()
        if stage is None and now - self._last_write < 0.2 and done < total:
            return  # throttle writes; stage changes and completion always land
        self._last_write = now
        if stage is not None:  # a new stage restarts the ETA clock
            self.store.query("UPDATE jobs SET stage = ?, started_at = ? WHERE id = ?", [stage, now, self.job_id])
        self.store.query("UPDATE jobs SET done = ?, total = ?, message = ?, updated_at = ? WHERE id = ?",
                         [done, total, message, now, self.job_id])

    def cancelled(self) -> bool:
        rows = self.store.query("SELECT cancel_requested FROM jobs WHERE id = ?", [self.job_id])
        return bool(rows and rows[0][0])

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled("cancelled")


class JobRunner:
    """Starts jobs in threads of this process; one runner per workspace process."""

    def __init__(self, store: Store):
        self.store = store
        store.query(JOBS_SCHEMA)
        # jobs left 'running' by a dead process will never finish: say so
        store.query("UPDATE jobs SET status = 'interrupted', finished_at = ? WHERE status IN ('queued', 'running') "
                    "AND pid <> ?", [time.time(), os.getpid()])
        self._threads: dict[str, threading.Thread] = {}

    def start(self, kind: str, dataset: str, params: dict, work: Callable[[JobContext], Any]) -> str:
        """Run work(ctx) in the background unless the same job is already active; returns the job id."""
        existing = self.find_active(kind, dataset, params)
        if existing:
            return existing.id
        job_id = uuid.uuid4().hex[:12]
        now = time.time()
        self.store.query("INSERT INTO jobs VALUES (?, ?, ?, ?, 'queued', 'queued', 0, 0, '', NULL, NULL, false, ?, "
                         "?, NULL, ?, NULL)", [job_id, kind, dataset, json.dumps(params), os.getpid(), now, now])
        thread = threading.Thread(target=self._run, args=(job_id, work), name=f"job-{kind}-{job_id}", daemon=True)
        self._threads[job_id] = thread
        thread.start()
        return job_id

    def _run(self, job_id: str, work: Callable[[JobContext], Any]) -> None:
        ctx = JobContext(self.store, job_id)
        self.store.query("UPDATE jobs SET status = 'running', started_at = ?, updated_at = ? WHERE id = ?",
                         [time.time(), time.time(), job_id])
        try:
            result = work(ctx)
            status, error = "done", None
        except JobCancelled:
            result, status, error = None, "cancelled", None
        except Exception as exc:  # the job's failure is data for the UI, not a crash of the server
            result, status, error = None, "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        if status == "failed" and ctx.cancelled():
            status = "cancelled"
        self.store.query("UPDATE jobs SET status = ?, error = ?, result = ?, finished_at = ?, updated_at = ? "
                         "WHERE id = ?", [status, error, json.dumps(result, default=str), time.time(), time.time(),
                                          job_id])

    def cancel(self, job_id: str) -> None:
        self.store.query("UPDATE jobs SET cancel_requested = true WHERE id = ?", [job_id])

    def get(self, job_id: str) -> Job | None:
        return get_job(self.store, job_id)

    def find_active(self, kind: str, dataset: str, params: dict | None = None) -> Job | None:
        for job in list_jobs(self.store, dataset=dataset, limit=20):
            if job.kind == kind and job.active and (params is None or job.params == params):
                return job
        return None

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        thread = self._threads.get(job_id)
        if thread:
            thread.join(timeout)
        return self.get(job_id)


def _row_to_job(row) -> Job:
    (id_, kind, dataset, params, status, stage, done, total, message, error, result, cancel, _pid, created, started,
     updated, finished) = row
    return Job(id_, kind, dataset, json.loads(params) if params else {}, status, stage or "", done or 0, total or 0,
               message or "", error, json.loads(result) if result else None, bool(cancel), created, started, updated,
               finished)


def get_job(store: Store, job_id: str) -> Job | None:
    store.query(JOBS_SCHEMA)
    rows = store.query("SELECT * FROM jobs WHERE id = ?", [job_id])
    return _row_to_job(rows[0]) if rows else None


def list_jobs(store: Store, *, dataset: str | None = None, limit: int = 50) -> list[Job]:
    store.query(JOBS_SCHEMA)
    if dataset is None:
        rows = store.query("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", [limit])
    else:
        rows = store.query("SELECT * FROM jobs WHERE dataset = ? ORDER BY created_at DESC LIMIT ?", [dataset, limit])
    return [_row_to_job(r) for r in rows]
