"""Background jobs persisted in DuckDB: progress, ETA, cancel. Workers never touch the UI; they write to the store.

A job runs in a daemon thread of the process that owns the workspace (DuckDB allows one writer process). Each process
has a random token; a job row records the token of the process running it, and a heartbeat thread refreshes
`updated_at` while it runs. A new process marks every active job of another token as 'interrupted': a PID would not
do, since a restarted server in a container often gets the same PID. Starting a job is atomic within the process
(one lock around find-then-insert), so two browser tabs asking for the same work get one job: the second joins it.
Committed work of an interrupted or cancelled job is kept; running the same work again resumes it.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
import traceback
import uuid
from typing import Any, Callable

from core.data.store import Store
from core.progress import Cancelled

ACTIVE = ("queued", "running")
PROCESS_TOKEN = uuid.uuid4().hex  # this process; never reused by another one, unlike a PID
# One start lock and one registry of worker threads for the whole process, not one per runner: with two runners
# over the same store (a second JobRunner(store) from another tab or thread) both would find no active job and
# insert one each, and one runner's cancel/wait would treat the other's live worker as an orphan.
_START_LOCK = threading.Lock()
_THREADS: dict[str, threading.Thread] = {}
HEARTBEAT_SECONDS = 5.0


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
    owner: str | None = None
    eta: float | None = None  # seconds left as estimated when progress was last written (JobContext.progress)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left, as estimated when progress was last written (EtaEstimator); None when not running or before
        there is a rate."""
        return self.eta if self.status == "running" else None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def cancelling(self) -> bool:
        """Cancel was asked for and the worker has not reached a point where it can stop yet."""
        return self.active and self.cancel_requested


class EtaEstimator:
    """Seconds left from an exponentially smoothed rate of finished units (each progress write's units over its
    time, weight SMOOTHING), clamped to be non-increasing while units finish: a slow batch lowers the rate, so the
    ETA stops falling, but it never climbs (issue 21: it rose from 27 s to 39 s while rows finished). While no unit
    finishes the estimate stands as it was (the heartbeat's updated_at never moves it)."""

    SMOOTHING = 0.3

    def __init__(self, started: float | None = None, done: int = 0):
        self.last_t, self.last_done = started, done
        self.rate: float | None = None
        self.eta: float | None = None

    def update(self, done: int, total: int, now: float) -> float | None:
        """The estimate after `done` of `total` units at `now` (None before there is a rate)."""
        if self.last_t is None:
            self.last_t, self.last_done = now, done
            return None
        if done <= self.last_done or now <= self.last_t:  # no unit finished: the estimate stands
            return self.eta
        rate = (done - self.last_done) / (now - self.last_t)
        self.rate = rate if self.rate is None else self.rate + self.SMOOTHING * (rate - self.rate)
        self.last_t, self.last_done = now, done
        estimate = max(0, total - done) / self.rate
        self.eta = estimate if self.eta is None else min(estimate, self.eta)
        return self.eta


class JobContext:
    """What a worker gets: report progress, and ask whether it should stop."""

    def __init__(self, store: Store, job_id: str, *, clock: Callable[[], float] = time.time):
        self.store, self.job_id = store, job_id
        self.clock = clock
        self._last_write, self._last_message = 0.0, ""
        self._lock = threading.Lock()  # a worker may report from several threads
        self.eta = EtaEstimator(started=clock())  # the context is made as the job starts

    THROTTLE = 0.2  # seconds between two writes that only move the counter

    def progress(self, done: int, total: int, stage: str | None = None, message: str = "") -> None:
        """Write the job's progress. A write that only moves the counter within THROTTLE of the previous one is
        dropped (the next one carries it); a new stage, a new message and completion always land, so a long step
        right after a quick one never shows as the quick one."""
        with self._lock:
            now = self.clock()
            if (stage is None and message == self._last_message and now - self._last_write < self.THROTTLE
                    and done < total):
                return
            self._last_write, self._last_message = now, message
            self._write(now, done, total, stage, message)

    def _write(self, now: float, done: int, total: int, stage: str | None, message: str) -> None:
        if stage is not None:  # a new stage restarts the ETA
            self.eta = EtaEstimator(started=now, done=done)
            self.store.query("UPDATE jobs SET stage = ?, started_at = ?, done = ?, total = ?, message = ?, "
                             "updated_at = ?, eta = NULL WHERE id = ?",
                             [stage, now, done, total, message, now, self.job_id])
        else:
            eta = self.eta.update(done, total, now)
            self.store.query("UPDATE jobs SET done = ?, total = ?, message = ?, updated_at = ?, eta = ? WHERE id = ?",
                             [done, total, message, now, eta, self.job_id])

    def cancelled(self) -> bool:
        rows = self.store.query("SELECT cancel_requested FROM jobs WHERE id = ?", [self.job_id])
        return bool(rows and rows[0][0])

    def check_cancel(self) -> None:
        if self.cancelled():
            raise Cancelled("cancelled")


class JobRunner:
    """Starts jobs in threads of this process; one runner per workspace process."""

    def __init__(self, store: Store):
        self.store = store
        # jobs left active by another process will never finish: say so
        store.query("UPDATE jobs SET status = 'interrupted', finished_at = ?, message = 'the process running it "
                    "stopped' WHERE status IN ('queued', 'running') AND coalesce(owner, '') <> ?",
                    [time.time(), PROCESS_TOKEN])
        self._threads = _THREADS
        self._start_lock = _START_LOCK
        self._heartbeat: threading.Thread | None = None

    def start(self, kind: str, dataset: str, params: dict, work: Callable[[JobContext], Any]) -> str:
        """Run work(ctx) in the background unless the same job is already active (then join it); returns its id."""
        with self._start_lock:  # find-then-insert is one step for every thread of this process
            existing = self.find_active(kind, dataset, params)
            if existing:
                return existing.id
            job_id = uuid.uuid4().hex[:12]
            now = time.time()
            self.store.query(
                "INSERT INTO jobs (id, kind, dataset, params, status, stage, done, total, message, error, result, "
                "cancel_requested, owner, created_at, started_at, updated_at, finished_at) "
                "VALUES (?, ?, ?, ?, 'queued', 'queued', 0, 0, '', NULL, NULL, false, ?, ?, NULL, ?, NULL)",
                [job_id, kind, dataset, json.dumps(params, sort_keys=True), PROCESS_TOKEN, now, now])
            thread = threading.Thread(target=self._run, args=(job_id, work), name=f"job-{kind}-{job_id}",
                                      daemon=True)
            self._threads[job_id] = thread
            thread.start()
            if self._heartbeat is None or not self._heartbeat.is_alive():
                self._heartbeat = threading.Thread(target=self._beat, name="jobs-heartbeat", daemon=True)
                self._heartbeat.start()
            return job_id

    def _run(self, job_id: str, work: Callable[[JobContext], Any]) -> None:
        ctx = JobContext(self.store, job_id)
        self.store.query("UPDATE jobs SET status = 'running', started_at = ?, updated_at = ? WHERE id = ?",
                         [time.time(), time.time(), job_id])
        try:
            result = work(ctx)
            status, error = "done", None
        except Cancelled:  # the one Cancelled (core/progress.py): the job's own check or the work's
            result, status, error = None, "cancelled", None
        except Exception as exc:  # the job's failure is data for the UI, not a crash of the server
            result, status, error = None, "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        self.store.query("UPDATE jobs SET status = ?, error = ?, result = ?, finished_at = ?, updated_at = ? "
                         "WHERE id = ?", [status, error, json.dumps(result, default=str), time.time(), time.time(),
                                          job_id])

    def _beat(self) -> None:
        """While any job of this runner runs, refresh its updated_at, so a reader can tell a live job from a stale
        row; the thread ends with the last job."""
        while True:
            alive = [j for j, t in list(self._threads.items()) if t.is_alive()]
            if not alive:
                return
            try:
                self.store.query("UPDATE jobs SET updated_at = ? WHERE status = 'running' AND owner = ? "
                                 "AND id IN (SELECT unnest(?))", [time.time(), PROCESS_TOKEN, alive])
            except Exception:  # the store was closed (tests, shutdown): nothing left to beat for
                return
            for _ in range(int(HEARTBEAT_SECONDS * 10)):
                if not any(t.is_alive() for t in list(self._threads.values())):
                    return
                time.sleep(0.1)

    def cancel(self, job_id: str) -> None:
        """Ask the job to stop at its next checkpoint; a job whose process is gone is ended at once."""
        job = self.get(job_id)
        if job is None or not job.active:
            return
        if job.owner != PROCESS_TOKEN or job_id not in self._threads or not self._threads[job_id].is_alive():
            self.store.query("UPDATE jobs SET status = 'cancelled', cancel_requested = true, finished_at = ? "
                             "WHERE id = ?", [time.time(), job_id])
            return
        self.store.query("UPDATE jobs SET cancel_requested = true WHERE id = ?", [job_id])

    def get(self, job_id: str) -> Job | None:
        return get_job(self.store, job_id)

    def find_active(self, kind: str, dataset: str, params: dict | None = None) -> Job | None:
        for job in list_jobs(self.store, dataset=dataset, limit=50):
            if job.kind == kind and job.active and (params is None or job.params == json.loads(
                    json.dumps(params, sort_keys=True))):
                return job
        return None

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        thread = self._threads.get(job_id)
        if thread:
            thread.join(timeout)
        return self.get(job_id)


COLUMNS = ("id, kind, dataset, params, status, stage, done, total, message, error, result, cancel_requested, "
           "created_at, started_at, updated_at, finished_at, owner, eta")


def _row_to_job(row) -> Job:
    (id_, kind, dataset, params, status, stage, done, total, message, error, result, cancel, created, started,
     updated, finished, owner, eta) = row
    return Job(id_, kind, dataset, json.loads(params) if params else {}, status, stage or "", done or 0, total or 0,
               message or "", error, json.loads(result) if result else None, bool(cancel), created, started, updated,
               finished, owner, eta)


def get_job(store: Store, job_id: str) -> Job | None:
    rows = store.query(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", [job_id])
    return _row_to_job(rows[0]) if rows else None


def list_jobs(store: Store, *, dataset: str | None = None, limit: int = 50) -> list[Job]:
    if dataset is None:
        rows = store.query(f"SELECT {COLUMNS} FROM jobs ORDER BY created_at DESC LIMIT ?", [limit])
    else:
        rows = store.query(f"SELECT {COLUMNS} FROM jobs WHERE dataset = ? ORDER BY created_at DESC LIMIT ?",
                           [dataset, limit])
    return [_row_to_job(r) for r in rows]
