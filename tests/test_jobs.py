"""Jobs: the same job started from two runners of one process at once is one job, and a second runner waits for
and cancels the live worker of a job it joined (one start lock and one thread registry per process)."""
import threading

from core.jobs import JobRunner


def test_two_runners_starting_the_same_job_at_once_get_one_job(store):
    release = threading.Event()

    def work(ctx):
        release.wait(10)
        return "ok"

    try:
        for trial in range(10):
            barrier = threading.Barrier(2)
            ids = [None, None]

            def start(i, trial=trial, barrier=barrier, ids=ids):
                runner = JobRunner(store)  # e.g. a second tab building its own runner over the shared store
                barrier.wait()
                ids[i] = runner.start("analyse", f"ds{trial}", {"mode": "fast", "trial": trial}, work)

            threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            assert ids[0] is not None and ids[0] == ids[1]
            assert store.query("SELECT count(*) FROM jobs WHERE dataset = ?", [f"ds{trial}"])[0][0] == 1
    finally:
        release.set()


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
