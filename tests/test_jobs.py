"""Background jobs: an orphan is found whatever its PID, two tabs asking for the same work get one job (also through
two runners of one process: one start lock and one thread registry per process), a cancel of a dead job ends it,
and a job's row says who runs it (issue 9)."""
import json
import os
import threading
import time

from core.jobs import PROCESS_TOKEN, JobRunner, list_jobs
from tests.helpers import hammer


def insert_job(store, job_id, *, status="running", owner="a-previous-process", params=None):
    store.query("INSERT INTO jobs (id, kind, dataset, params, status, stage, done, total, message, cancel_requested, "
                "pid, owner, created_at, started_at, updated_at) VALUES (?, 'analyse', 'd', ?, ?, 'gradient "
                "features', 3, 10, '', false, ?, ?, ?, ?, ?)",
                [job_id, json.dumps(params or {}), status, os.getpid(), owner, time.time(), time.time(), time.time()])


def test_a_job_left_running_by_a_restarted_server_with_the_same_pid_is_interrupted(store):
    """In a container a restarted server often has the same PID: the PID check kept such a job 'running' forever,
    blocking new analyses. The process token tells them apart."""
    insert_job(store, "orphan")
    JobRunner(store)
    job = list_jobs(store)[0]
    assert job.status == "interrupted" and not job.active


def test_two_tabs_starting_the_same_work_get_one_job(store):
    runner = JobRunner(store)
    release = threading.Event()
    ids = []

    def work(ctx):
        release.wait(10)
        return {"ok": True}

    errors = hammer(lambda i: ids.append(runner.start("analyse", "d", {"mode": "fast", "k": None}, work)),
                    n_threads=6, repeats=1)  # six tabs at once
    release.set()
    assert not errors, errors
    assert len(set(ids)) == 1
    assert store.query("SELECT count(*) FROM jobs")[0][0] == 1
    assert runner.wait(ids[0], timeout=10).status == "done"
    assert runner.get(ids[0]).owner == PROCESS_TOKEN


def test_cancel_of_a_job_whose_process_is_gone_ends_it(store):
    runner = JobRunner(store)
    insert_job(store, "ghost", owner=PROCESS_TOKEN)  # ours by token, but no thread runs it
    runner.cancel("ghost")
    assert runner.get("ghost").status == "cancelled"


def test_a_running_job_shows_cancelling_until_its_worker_stops(store):
    runner = JobRunner(store)
    started, stop = threading.Event(), threading.Event()

    def work(ctx):
        started.set()
        while not ctx.cancelled():
            time.sleep(0.05)
        stop.wait(5)
        ctx.check_cancel()

    job_id = runner.start("analyse", "d", {}, work)
    started.wait(5)
    runner.cancel(job_id)
    assert runner.get(job_id).cancelling
    stop.set()
    assert runner.wait(job_id, timeout=10).status == "cancelled"


def test_two_runners_starting_the_same_job_at_once_get_one_job(store):
    release = threading.Event()

    def work(ctx):
        release.wait(10)
        return "ok"

    try:
        for trial in range(10):
            ids = [None, None]

            def start(i, trial=trial, ids=ids):
                runner = JobRunner(store)  # e.g. a second tab building its own runner over the shared store
                ids[i] = runner.start("analyse", f"ds{trial}", {"mode": "fast", "trial": trial}, work)

            assert not hammer(start, n_threads=2, repeats=1)
            assert ids[0] is not None and ids[0] == ids[1]
            assert store.query("SELECT count(*) FROM jobs WHERE dataset = ?", [f"ds{trial}"])[0][0] == 1
    finally:
        release.set()
        waiter = JobRunner(store)
        for (job_id,) in store.query("SELECT id FROM jobs"):
            waiter.wait(job_id, timeout=30)  # the workers finish before the fixture closes the store


def test_another_runner_waits_for_and_cancels_the_live_worker(store):
    started, release = threading.Event(), threading.Event()

    def work(ctx):
        started.set()
        release.wait(10)
        ctx.check_cancel()
        return "finished"

    job_id = JobRunner(store).start("analyse", "d", {}, work)
    assert started.wait(10)
    other = JobRunner(store)
    other.cancel(job_id)
    # asked to stop, not marked stopped: its worker is alive in this process and will stop at its checkpoint
    assert other.get(job_id).cancelling
    release.set()
    assert other.wait(job_id, timeout=10).status == "cancelled"


def test_work_that_stops_itself_is_cancelled_not_failed_and_a_crash_after_a_cancel_request_is_failed(store):
    """One Cancelled (core/progress.py): the feature pass, the quality pass and the loop raise the one the runner
    catches. With two classes the runner reported the work's own Cancelled as 'failed' and patched it back to
    'cancelled' whenever a cancel had been requested, which also hid a real crash behind 'cancelled'."""
    from core.features.compute import Cancelled as FeaturesCancelled
    from core.progress import Cancelled

    assert FeaturesCancelled is Cancelled
    runner = JobRunner(store)

    def stops_itself(ctx):  # a time budget spent, say: no cancel request, the work raises Cancelled itself
        raise FeaturesCancelled("cancelled after 3 of 10 feature rows (kept)")

    job = runner.wait(runner.start("analyse", "d", {"case": "stops"}, stops_itself), timeout=30)
    assert (job.status, job.error) == ("cancelled", None)

    def crashes_after_a_request(ctx):
        store.query("UPDATE jobs SET cancel_requested = true WHERE id = ?", [ctx.job_id])
        raise ValueError("a real bug")

    job = runner.wait(runner.start("analyse", "d", {"case": "crash"}, crashes_after_a_request), timeout=30)
    assert job.status == "failed" and "a real bug" in job.error


def test_the_progress_throttle_drops_only_counter_moves_and_every_new_message_lands(store):
    """JobContext.progress: within THROTTLE of the last write, a write that only moves the counter is dropped; a new
    message (a synthesis stage right after a quick one), a stage and completion land at once."""
    from core.jobs import JobContext

    insert_job(store, "j1")
    now = [100.0]
    ctx = JobContext(store, "j1", clock=lambda: now[0])

    def row():
        return store.query("SELECT done, total, message, stage FROM jobs WHERE id = 'j1'")[0]

    ctx.progress(1, 10, message="writing")
    assert row()[:3] == (1, 10, "writing")
    now[0] += 0.05
    ctx.progress(2, 10, message="writing")  # counter only, inside the window: dropped
    assert row()[:3] == (1, 10, "writing")
    ctx.progress(2, 10, message="solving")  # a new message, inside the window: lands
    assert row()[:3] == (2, 10, "solving")
    now[0] += 0.01
    ctx.progress(3, 10, stage="scoring")  # a stage: lands
    assert row() == (3, 10, "", "scoring")
    now[0] += 0.01
    ctx.progress(10, 10)  # completion: lands
    assert row()[:2] == (10, 10)
    now[0] += ctx.THROTTLE + 0.01
    ctx.progress(4, 10)  # past the window: lands
    assert row()[:2] == (4, 10)
