"""Background jobs: an orphan is found whatever its PID, two tabs asking for the same work get one job, a cancel of
a dead job ends it, and a job's row says who runs it (issue 9)."""
import json
import os
import threading
import time

from core.jobs import PROCESS_TOKEN, JobRunner, list_jobs


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
    ids, barrier = [], threading.Barrier(6)

    def work(ctx):
        release.wait(10)
        return {"ok": True}

    def tab():
        barrier.wait()
        ids.append(runner.start("analyse", "d", {"mode": "fast", "k": None}, work))

    threads = [threading.Thread(target=tab) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    release.set()
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
