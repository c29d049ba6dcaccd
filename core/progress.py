"""One progress and cancel protocol for long work: features, the quality pass, analysis, synthesis and jobs.

- `ProgressFn`: progress(done, total), two ints, called as committed units land. A job's context
  (core/jobs.py JobContext.progress) is one, and takes a stage and a message on top.
- `CancelFn`: should_cancel(), polled by the work between committed units.
- `Cancelled`: what work raises when should_cancel() said yes (or a budget ran out); everything committed so far is
  kept and running the same work again resumes it. There is one such exception, so the job runner reports a job
  that raised it as 'cancelled', never 'failed'.
"""
from __future__ import annotations

from typing import Callable

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


class Cancelled(RuntimeError):
    """The caller asked the work to stop; everything committed so far is kept."""

