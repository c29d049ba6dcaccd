"""A synthesis run's settings: where candidates come from, how many, and the acceptance rule. Frozen: its hash (with
the dataset, the generator and the feature config) is the run's id, so the same settings resume the same run."""
from __future__ import annotations

import dataclasses

from core.analysis.sparsity import GROW_RULE

SOURCES = ("generator", "pool")


@dataclasses.dataclass(frozen=True)
class SynthesisConfig:
    source: str = "generator"  # "generator": write new problems; "pool": draw rows of another dataset
    pool: str | None = None  # the candidate pool's dataset name (source = pool)
    rounds: int = 1
    requests_per_round: int = 8  # generator: problem-writing requests per round
    problems_per_request: int = 2
    few_shot: int = 5
    solutions_per_problem: int = 3
    problem_temperature: float = 1.0
    solution_temperature: float = 0.75
    top_p: float = 0.95
    max_problem_tokens: int = 384
    max_solution_tokens: int = 384
    answer_mode: str = "math"  # math (math-verify on \boxed{}), exact (normalised last line), none (no vote)
    accept_per_round: int | None = None  # a round ends once this many are accepted (pools draw until then)
    pool_batch: int = 40  # pool rows drawn per step
    max_accepted: int | None = None
    max_seconds: float | None = None
    duplicate_cosine: float = 0.98
    k: int | None = None
    rule: str = GROW_RULE  # the sparse rule that decides acceptance (analysis/sparsity.py: why density)
    seed: int = 0
    request_batch: int = 4  # generator: requests generated together (one committed step each)
    # generator: the clusters to draw few-shot examples from, as ids of the seed's own clustering (round 0, what the
    # app shows before launch); None = every sparse cluster. Later rounds re-cluster the grown pool, where those ids
    # name other clusters, so they grow that round's sparse clusters as usual.
    target_clusters: tuple[int, ...] | None = None
    # targeted growth (toward.py): the eval dataset whose uncovered clusters are the accepting region, instead of the
    # pool's sparse clusters; None = grow the sparse clusters. The run id adds the eval set's fingerprint.
    toward: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {self.source!r}")
        if self.source == "pool" and not self.pool:
            raise ValueError("a pool-sourced run needs the pool's dataset name")
        if self.rounds < 1:
            raise ValueError("rounds must be at least 1")
        if self.toward is not None and not str(self.toward).strip():
            raise ValueError("toward must name an eval dataset, or be None")
        from core.analysis.sparsity import RULES

        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, not {self.rule!r}")
        if self.target_clusters is not None:
            targets = tuple(sorted({int(c) for c in self.target_clusters}))
            if not targets or targets[0] < 0:
                raise ValueError("target_clusters must be a non-empty set of cluster ids (>= 0), or None for all "
                                 "sparse clusters")
            object.__setattr__(self, "target_clusters", targets)  # one spelling per choice: the run id is its hash
