"""One training set against one eval set, as the Target page shows it: coverage (coverage.py), the eval rows left
uncovered, a coverage-against-budget curve (greedy facility location from the training rows, target_selection.py,
beside random rows of it), the contamination list (contamination.py), the variants (near-copies whose numbers or
answer differ: a new problem to the model, listed apart, never excluded) and the exclusion of the training copies
(one action each for the tag and the exclusion, both undoable). The CLI gives the same: `coverage NAME --eval EVAL
[--exclude-contaminated]` and `select NAME --budget K --toward EVAL` (its `curve`)."""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis.contamination import ContaminationConfig, find_contamination
from core.analysis.coverage import Coverage, CoverageConfig, check_same_identity, coverage, coverage_curve
from core.data.store import Store

CURVE_MAX = 400  # the curve's facility-location pick is greedy over the training rows: at most this budget


@dataclasses.dataclass(frozen=True)
class TargetReport:
    train: str
    eval: str
    train_ids: list[str]
    eval_ids: list[str]
    coverage: Coverage
    contaminated: list[dict]  # contamination.Contamination.to_json, with evidence
    curve: dict  # {"k": [...], "toward": [...], "random": [...]} coverage of the eval set by k training rows
    variants: list[dict] = dataclasses.field(default_factory=list)  # near-copies with other numbers: not contamination

    @property
    def uncovered_ids(self) -> list[str]:
        return [self.eval_ids[j] for j in np.flatnonzero(~self.coverage.covered)]

    def copies(self) -> list[str]:
        """The training rows that copy an eval row (what 'Exclude training copies' excludes)."""
        return sorted({h["train_id"] for h in self.contaminated})


def texts(store: Store, dataset: str, ids: list[str]) -> list[tuple[str, str]]:
    rows = store.rows_by_id(dataset, ids)
    return [(rows[i].prompt, rows[i].response) for i in ids]


def budget_curve(T: np.ndarray, E: np.ndarray, threshold: float, *, seed: int = 0) -> dict:
    """Coverage of E by the first k training rows chosen toward it (facility location) and by k random ones."""
    from core.analysis.target_selection import toward

    budget = min(len(T), CURVE_MAX)
    picked = toward(T, E, budget).indices
    rand = np.random.default_rng(seed).permutation(len(T))[:budget]
    a = coverage_curve(T[picked], E, threshold)
    return {"k": a["k"], "toward": a["coverage"], "random": coverage_curve(T[rand], E, threshold)["coverage"]}


def target_report(store: Store, train: str, eval_name: str, feature_config, eval_config=None,
                  contamination: ContaminationConfig = ContaminationConfig()) -> TargetReport:
    """The report from features already computed (the page asks to analyse a dataset first); the training set's
    kept rows only, so excluded copies no longer count."""
    eval_config = eval_config or feature_config
    check_same_identity(feature_config, eval_config, train=train, evals=eval_name)
    train_ids, T = store.load_features(train, feature_config.key(), feature_config.dim)
    eval_ids, E = store.load_features(eval_name, eval_config.key(), eval_config.dim)
    if len(T) == 0 or len(E) < 2:
        raise ValueError(f"{train} needs rows with features and {eval_name} at least 2: analyse them first")
    cov = coverage(T, E, CoverageConfig())
    eval_texts, train_texts = texts(store, eval_name, eval_ids), texts(store, train, train_ids)
    found = find_contamination(eval_texts, train_texts, E, T, contamination)
    hits = found.to_json(eval_ids, train_ids, eval_texts, train_texts)
    variants = found.to_json(eval_ids, train_ids, eval_texts, train_texts, variants=True)
    return TargetReport(train, eval_name, train_ids, eval_ids, cov, hits, budget_curve(T, E, cov.threshold), variants)


def exclude_copies(store: Store, train: str, eval_name: str, train_ids: list[str]) -> list[str]:
    """Tag the training copies 'contaminates:EVAL' and exclude them; returns the two action ids (undo_all)."""
    tagged = store.mark(train, train_ids, "tag", f"contaminates:{eval_name}")
    excluded = store.mark(train, train_ids, "exclude")
    return [tagged.action_id, excluded.action_id]


def undo_all(store: Store, train: str, action_ids: list[str]) -> None:
    """Undo the actions, last first."""
    for action_id in reversed(action_ids):
        store.undo(action_id, train)
