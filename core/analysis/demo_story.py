"""The demo's story, told from its analysis (issue 21: the intro promised the SVAMP minority while the default rule
flagged none of its SVAMP rows). What the map the demo opens on flags, per source, under its rule (the map's own
sparse rows: what its diamonds show) and under the other two rules (on the same clusters and per-sample scores, as
the Sparse rules tab computes them); and one paragraph that says it, with no claim the numbers do not carry.
"""
from __future__ import annotations

import dataclasses

import numpy as np

SOURCE_NAMES = {"gsm8k": "GSM8K", "svamp": "SVAMP"}


@dataclasses.dataclass(frozen=True)
class DemoStory:
    rule: str  # the map's rule
    total: dict[str, int]  # source -> rows on the map
    flagged: dict[str, int]  # source -> sparse rows under the map's rule
    other_rules: dict[str, dict[str, int]]  # another rule -> source -> rows it flags

    @property
    def minority(self) -> str:
        return min(self.total, key=lambda s: (self.total[s], s))

    def rate(self, source: str, counts: dict[str, int] | None = None) -> float:
        return (counts or self.flagged).get(source, 0) / self.total[source]


def story(gmap, sources: dict[str, str], *, density_quantile: float = 0.5, mass_fraction: float = 0.5) -> DemoStory:
    """What `gmap` flags per source (`sources`: row id -> its source label)."""
    from core.analysis.sparsity import rules_on_map

    labels = np.array([sources.get(i, "") for i in gmap.ids])
    names = sorted(set(labels.tolist()))

    def counts(rows: np.ndarray) -> dict[str, int]:
        return {s: int(np.sum(rows & (labels == s))) for s in names}

    others = {rule: counts(rows) for rule, (rows, _) in rules_on_map(gmap, quantile=density_quantile,
                                                                      mass_fraction=mass_fraction).items()
              if rule != gmap.rule}
    return DemoStory(gmap.rule, {s: int(np.sum(labels == s)) for s in names},
                     counts(np.asarray(gmap.sparse_rows, dtype=bool)), others)


def _name(source: str) -> str:
    return SOURCE_NAMES.get(source, source)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def story_text(s: DemoStory) -> str:
    """The paragraph the Data page shows under the demo's button: the counts, and what they mean."""
    small = s.minority
    rest = [src for src in s.total if src != small]
    counts = [f"{s.flagged.get(src, 0)} of the {s.total[src]} {_name(src)} rows" for src in [*rest, small]]
    head = f"Under the **{s.rule}** rule the demo's map flags {_join(counts)} as sparse. "
    others_rate = sum(s.flagged.get(r, 0) for r in rest) / max(1, sum(s.total[r] for r in rest))
    if s.flagged.get(small, 0) and s.rate(small) > others_rate:
        meaning = (f"{_name(small)}'s {s.total[small]} problems, a minority by count, are thin in the model's eyes "
                   "too: growth would aim at them.")
    elif not s.flagged.get(small, 0):
        meaning = (f"{_name(small)}'s {s.total[small]} problems are a minority by count but not thin under this rule "
                   "(rows alike support one another), so it finds its thin regions elsewhere.")
    else:
        meaning = (f"{_name(small)}'s {s.total[small]} problems are a minority by count, flagged no more often "
                   "than the rest.")
    others = [f"the {rule} rule{' flags' if not n else ''} {c.get(small, 0)}"
              for n, (rule, c) in enumerate(s.other_rules.items())]
    return (head + meaning + (f" Of the {_name(small)} rows, " + _join(others) + "." if others else "") +
            " The Sparse rules tab of Gradient space shows which rows each rule flags, and why the rules disagree.")
