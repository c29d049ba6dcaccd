"""The job ETA (core/jobs.py, issue 21): from an exponentially smoothed rate of finished units, never climbing
while units finish, counting down between writes, and not climbing while a stage stalls (the heartbeat refreshes
updated_at: the old elapsed/done ETA rose from 27 s to 39 s while progress sat at 29/33). A fake clock drives it."""
import threading

import pytest

from core.jobs import EtaEstimator, JobContext, JobRunner, get_job


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_steady_progress_gives_remaining_over_rate():
    est = EtaEstimator(started=0.0)
    assert est.update(10, 100, 10.0) == pytest.approx(90.0)  # 1 unit/s
    assert est.update(20, 100, 20.0) == pytest.approx(80.0)


def test_a_slow_stretch_never_makes_the_eta_climb_while_units_finish():
    est = EtaEstimator(started=0.0)
    t, done, shown = 0.0, 0, []
    for step in [1.0] * 10 + [6.0] * 8 + [1.0] * 10:  # seconds per unit: fast, a slow stretch, fast again
        t += step
        done += 1
        shown.append((t, est.update(done, 40, t)))
    values = [eta for _, eta in shown]
    assert all(b <= a + 1e-9 for a, b in zip(values, values[1:])), values
    naive = [(t / d) * (40 - d) for d, (t, _) in enumerate(shown, start=1)]  # elapsed / done * remaining
    assert max(b - a for a, b in zip(naive, naive[1:])) > 1  # the old formula climbs here


def test_the_stored_eta_never_climbs_through_a_stall_or_a_late_row(store):
    clock = Clock()
    release = threading.Event()
    runner = JobRunner(store)
    job_id = runner.start("analyse", "d", {}, lambda ctx: release.wait(10))
    try:
        ctx = JobContext(store, job_id, clock=clock)
        ctx.progress(0, 33, stage="gradient features")
        for done in range(1, 30):  # 29 of 33 rows, one every 3 s
            clock.t += 3
            ctx.progress(done, 33)
        job = get_job(store, job_id)
        assert job.done == 29 and job.eta_seconds == pytest.approx(12.0)  # 4 rows at 3 s
        for _ in range(18):  # 90 s at 29/33: the heartbeat and repeated progress reports move nothing
            clock.t += 5
            store.query("UPDATE jobs SET updated_at = ? WHERE id = ?", [clock.t, job_id])
            ctx.progress(29, 33, message="still on row 30")
            assert get_job(store, job_id).eta_seconds == pytest.approx(12.0)
        shown = []
        for done in (30, 31, 32):  # the slow row lands, then fast ones
            clock.t += 1 if done > 30 else 0
            ctx.progress(done, 33)
            shown.append(get_job(store, job_id).eta_seconds)
        assert all(b <= a for a, b in zip([12.0] + shown, shown)), shown
        ctx.progress(0, 10, stage="clusters and map")  # a new stage: a new estimate, none until a rate
        assert get_job(store, job_id).eta_seconds is None
    finally:
        release.set()
        runner.wait(job_id, timeout=10)
    assert get_job(store, job_id).eta_seconds is None  # done: no ETA
