"""Launching a synthesis run, the one way the CLI and the app do it: check the settings (settings.check_settings),
build the generator (or the pool source), name the run and start it as a background job (core/jobs.py) whose
progress and stage (stages.py) land in the job's row. The app polls that row; the CLI waits for the job and echoes
its progress on stderr.

A run already going with the same settings is joined, not started twice (the job runner's find-then-insert).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Callable

from core.data.store import Store
from core.jobs import JobContext, JobRunner
from core.synthesis.config import SynthesisConfig
from core.synthesis.settings import GeneratorSettings, check_settings, generator_problems
from core.synthesis.stages import Stage

JOB_KIND = "synthesize"
JOB_STAGE = "synthesis"  # the job's one stage; the loop's own stages are its messages (stages.py says why)
Echo = Callable[[int, int, str], None]  # (done, total, the current stage in words): the CLI's progress printer


class RunFailed(RuntimeError):
    """The run ended 'failed' (every request of a round failed: a wrong key, say); the job fails with its reason,
    and `summary` is the run's summary."""

    def __init__(self, summary: dict):
        super().__init__(summary.get("error") or "the synthesis run failed")
        self.summary = summary


def make_source(store: Store, config: SynthesisConfig, generator: GeneratorSettings | None):
    """(generator or None, the source's name): the name is part of the run id (a generator's backend and model,
    or pool:NAME). Raises ValueError on settings check_settings refuses."""
    from core.synthesis.generators import make_generator
    from core.synthesis.sources import PoolSource

    if config.source == "pool":
        return None, PoolSource(store, config).name
    if generator is None:
        raise ValueError("No generator set: pick the embedded model or an OpenAI-compatible endpoint.")
    gen = make_generator(store, generator.kind, model=generator.model, base_url=generator.base_url,
                         api_key=generator.api_key, **generator.client_options())
    return gen, gen.name


def source_name(store: Store, config: SynthesisConfig, generator: GeneratorSettings | None) -> str | None:
    """The source's name without starting anything (a preview's run id); None while the settings are incomplete."""
    if config.source == "generator" and (generator is None or generator_problems(generator)):
        return None
    try:
        return make_source(store, config, generator)[1]
    except (ValueError, KeyError):
        return None


@dataclasses.dataclass
class Launched:
    """A launched (or joined) run: its job and run ids; `wait` blocks until the job ends."""

    job_id: str
    run_id: str
    source_name: str
    runner: JobRunner = dataclasses.field(repr=False)
    work: "_RunWork" = dataclasses.field(repr=False)
    joined: bool = False  # the same run's job was already going: this launch waits for that one

    def cancel(self) -> None:
        """Ask the run to stop after the step in progress (every committed step is kept)."""
        self.runner.cancel(self.job_id)

    def wait(self, timeout: float | None = None) -> dict:
        """The run's summary once its job ends; a failed run raises RunFailed (with the summary), any other error of
        the work is raised again here as it was raised in the job. Ctrl-C may interrupt it safely: it waits on an
        event, never on the job's thread (on Python 3.11 a Thread.join interrupted by Ctrl-C marks the live thread
        stopped, and the runner would then take the run for an orphan and close its row under it)."""
        if self.joined:
            job = self.runner.wait(self.job_id, timeout)
        else:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not self.work.finished.wait(0.2):
                if deadline is not None and time.monotonic() > deadline:
                    break
            job = self.runner.get(self.job_id)
            while job is not None and job.active and self.work.finished.is_set():  # its row's last write
                time.sleep(0.05)
                job = self.runner.get(self.job_id)
        if self.work.error is not None:
            raise self.work.error
        if self.work.summary is not None:
            return self.work.summary
        if job is not None and job.active:
            raise TimeoutError(f"the synthesis job {self.job_id} is still {job.status} after {timeout} s")
        if job is not None and job.status == "done" and isinstance(job.result, dict):
            return job.result  # a joined run: the other launch's summary
        raise RuntimeError(f"the synthesis job ended {job.status if job else 'unknown'}"
                           + (f": {job.error.splitlines()[0]}" if job and job.error else ""))


class JobRow:
    """The run's progress and current stage, written to its job's row. JobContext lands every new stage text at
    once (it throttles only writes that move the counter), so a long stage never shows as the quick one before it."""

    def __init__(self, ctx: JobContext):
        self.ctx, self.lock = ctx, threading.Lock()
        self.done, self.total, self.text = 0, 1, ""

    def progress(self, done: int, total: int) -> None:
        with self.lock:
            self.done, self.total = done, max(total, 1)
            self.ctx.progress(self.done, self.total, message=self.text)

    def stage(self, event: Stage) -> None:
        with self.lock:
            self.text = event.text()
            self.ctx.progress(self.done, self.total, message=self.text)


class _RunWork:
    """The job's work: the loop, its progress and stages written to the job's row (and echoed)."""

    def __init__(self, store, dataset, config, generator, feature_config, compute, echo: Echo | None):
        self.store, self.dataset, self.config, self.generator = store, dataset, config, generator
        self.feature_config, self.compute, self.echo = feature_config, compute, echo
        self.summary: dict | None = None
        self.error: BaseException | None = None
        self.finished = threading.Event()

    def __call__(self, ctx: JobContext) -> dict:
        try:
            summary = self._run(ctx)
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self.finished.set()
        return summary

    def _run(self, ctx: JobContext) -> dict:
        from core.synthesis.loop import run_synthesis

        ctx.progress(0, 1, stage=JOB_STAGE, message="starting")
        row = JobRow(ctx)

        def progress(done: int, total: int) -> None:
            row.progress(done, total)
            if self.echo:
                self.echo(done, total, row.text)

        summary = run_synthesis(self.store, self.dataset, self.config, self.generator, self.feature_config,
                                progress=progress, should_cancel=ctx.cancelled, compute=self.compute,
                                stage=row.stage)
        self.summary = summary
        if summary["status"] == "failed":  # every request failed (a wrong key, say): the job failed, with why
            raise RunFailed(summary)
        return summary


def launch(store: Store, runner: JobRunner, dataset: str, config: SynthesisConfig,
           generator: GeneratorSettings | None, feature_config, *, compute=None, echo: Echo | None = None,
           eval_feature_config=None) -> Launched:
    """Check the settings, build the source, name the run and start it as a job (or join the same run's job).
    Raises ValueError with every problem of the settings, in words, before anything starts. A run toward an eval
    set (config.toward) whose features would be another space (`eval_feature_config`, e.g. an imported set, against
    the run's) is refused, naming each field that differs (coverage.check_same_identity)."""
    from core.synthesis.runs import start_run
    from core.synthesis.toward import check_toward

    problems = check_settings(store, dataset, config, generator)
    if problems:
        raise ValueError(" ".join(problems))
    if config.toward is not None:
        check_toward(feature_config, eval_feature_config or feature_config, dataset=dataset, eval_name=config.toward)
    gen, name = make_source(store, config, generator)
    run_id = start_run(store, dataset, config, name, feature_config)
    work = _RunWork(store, dataset, config, gen, feature_config, compute, echo)
    params = {"run_id": run_id, "generator": name}  # never the key: a job's params are stored in DuckDB
    joined = runner.find_active(JOB_KIND, dataset, params) is not None
    job_id = runner.start(JOB_KIND, dataset, params, work)
    return Launched(job_id, run_id, name, runner, work, joined)


__all__ = ["Echo", "JOB_KIND", "Launched", "RunFailed", "launch", "make_source", "source_name"]
