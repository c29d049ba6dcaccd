"""Reads of the samples table that synthesis, export and the UI need (samples.py writes the table and holds its main
reads; these are the small questions its other callers ask, so that none of them speaks SQL): a dataset's ids in file
order, rows by id in any view, the view's rows in ordinal chunks, how many rows a view holds, the mean prompt length.

Kept apart from samples.py only because that file was being changed by another hand when these moved out of the UI
and core/synthesis (issue 20); SampleReads is a mixin of Store like SampleTables, and folds into it unchanged.
"""
from __future__ import annotations

import json
from typing import Iterator

from core.data.ingest import Sample
from core.data.samples import in_view


class SampleReads:
    """Mixin of Store: reads of the samples table (self.query comes from Store)."""

    def sample_ids(self, dataset: str) -> list[str]:
        """Every row's id, in file order (any view)."""
        return [r[0] for r in self.query("SELECT sample_id FROM samples WHERE dataset = ? ORDER BY ordinal",
                                         [dataset])]

    def rows_by_id(self, dataset: str, ids: list[str]) -> dict[str, Sample]:
        """id -> its Sample, for the ids the dataset holds (any view: an excluded row still has its text)."""
        if not ids:
            return {}
        rows = self.query("SELECT sample_id, prompt, response, content_hash, meta FROM samples WHERE dataset = ? AND "
                          "sample_id IN (SELECT unnest(?))", [dataset, list(ids)])
        return {r[0]: Sample(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else {}) for r in rows}

    def sample_chunks(self, dataset: str, view: str = "kept", chunk: int = 10_000) -> Iterator[list[Sample]]:
        """The view's rows in file order, as one list per `chunk` ordinals (a list may be shorter, or empty when
        every row of its span is excluded): a dataset of any size in bounded memory."""
        top = self.query("SELECT coalesce(max(ordinal) + 1, 0) FROM samples WHERE dataset = ?", [dataset])[0][0]
        for start in range(0, top, chunk):
            rows = self.query("SELECT sample_id, prompt, response, content_hash, meta FROM samples s WHERE dataset = ? "
                              f"AND ordinal >= ? AND ordinal < ? AND {in_view(view)} ORDER BY ordinal",
                              [dataset, start, start + chunk])
            yield [Sample(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else {}) for r in rows]

    def count_rows(self, dataset: str, view: str = "kept") -> int:
        """How many of the dataset's rows the view holds."""
        return int(self.query(f"SELECT count(*) FROM samples s WHERE dataset = ? AND {in_view(view)}",
                              [dataset])[0][0])

    def mean_prompt_chars(self, dataset: str) -> float | None:
        """The mean length of the dataset's prompts in characters (every row), None without rows."""
        return self.query("SELECT avg(length(prompt)) FROM samples WHERE dataset = ?", [dataset])[0][0]
