"""What a synthesis run is doing right now, as the loop reports it: a typed event per stage change, never inferred
from what is sent to the generator.

A run goes: featurising the seed -> per round: clustering -> per step: writing problems (a generator) or drawing
from the pool -> solving (a generator) -> featurising the step's candidates -> accepting them -> at the round's end,
scoring both arms. A job shows the event as its message under the job's single stage "synthesis" (core/jobs.py
restarts its ETA clock on every stage change, and the loop's stages alternate step by step).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

FEATURISING_SEED = "featurising the seed"
CLUSTERING = "clustering"
WRITING = "writing problems"
DRAWING = "drawing from the pool"
SOLVING = "solving"
FEATURISING = "featurising"
ACCEPTING = "accepting"
SCORING = "scoring"
STAGES = (FEATURISING_SEED, CLUSTERING, WRITING, DRAWING, SOLVING, FEATURISING, ACCEPTING, SCORING)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage change: its name (one of STAGES), the round (None before the first), and how many items it works
    on (requests, problem x sample solves, candidates; 0 when it does not count anything)."""

    name: str
    round: int | None = None
    count: int = 0
    rounds: int | None = None  # how many rounds the run has, for the text

    def __post_init__(self) -> None:
        if self.name not in STAGES:
            raise ValueError(f"unknown synthesis stage {self.name!r}: one of {STAGES}")

    def text(self) -> str:
        """The stage in words, e.g. 'round 1 of 2 · solving 12 (problem × sample)'."""
        what = {WRITING: f"{self.count} requests", SOLVING: f"{self.count} (problem × sample)",
                FEATURISING: f"{self.count} candidates", ACCEPTING: f"{self.count} candidates",
                DRAWING: f"{self.count} rows"}.get(self.name, "")
        where = "" if self.round is None else f"round {self.round + 1}" + (f" of {self.rounds}" if self.rounds else "")
        return " · ".join(p for p in (where, f"{self.name} {what}".strip()) if p)


StageFn = Callable[[Stage], None]
