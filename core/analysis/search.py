"""Finding rows: text search over prompt and response, and "more like this" in gradient space.

Text search runs in DuckDB (a case-insensitive substring, or a regular expression with RE2 syntax), so it stays a
single scan at a million rows. DuckDB's `fts` extension would rank by BM25, but it is downloaded on first use, and
the product works offline: a scan of 1M rows takes about a second, which is fast enough here.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.data.sample_search import TEXT_FIELDS
from core.data.store import Store

FIELDS = TEXT_FIELDS


@dataclasses.dataclass(frozen=True)
class Hit:
    id: str
    field: str  # where it matched first (prompt or response)
    start: int  # the match's character offset in that field (-1 when not located)


MAX_PATTERN = 1_000  # characters: a longer regular expression is refused (RE2 compiles it in bounded memory anyway)


def search(store: Store, dataset: str, pattern: str, *, regex: bool = False, fields: tuple[str, ...] = FIELDS,
           limit: int = 10_000, view: str = "kept") -> list[Hit]:
    """Rows whose prompt or response holds the pattern, in dataset order (at most `limit`).

    Everything runs in DuckDB (store.text_matches), the match's offset too: a regular expression is only ever run
    by RE2 (linear time), never by Python's backtracking `re`, where a pattern such as `(a|a)+c|!` takes exponential
    time on one short row."""
    if not pattern:
        return []
    if any(f not in FIELDS for f in fields):
        raise ValueError(f"fields must be among {FIELDS}")
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")
    if regex:
        if len(pattern) > MAX_PATTERN:
            raise ValueError(f"the regular expression is {len(pattern):,} characters long; at most {MAX_PATTERN:,} "
                             "are allowed")
        error = store.regex_error(pattern)
        if error is not None:
            raise ValueError(f"not a valid regular expression: {pattern!r} ({error})")
    rows = store.text_matches(dataset, pattern, regex=regex, fields=fields, limit=limit, view=view)
    return [Hit(sid, field, -1 if start is None else int(start)) for sid, field, start in rows]


def more_like_this(store: Store, dataset: str, sample_id: str, config_key: str, dim: int, *, k: int = 10,
                   view: str = "kept") -> list[tuple[str, float]]:
    """The row's nearest neighbours in gradient space as (id, cosine), the row itself first (at 1.0).
    Streams the features in chunks, so it holds one chunk at a time whatever n is."""
    from core.analysis.sparsity import unit

    chash = store.content_hashes(dataset, [sample_id]).get(sample_id)
    if chash is None:
        raise KeyError(f"no row {sample_id!r} in dataset {dataset!r}")
    found = store.features_by_hash(config_key, dim, [chash])
    if not found:
        raise KeyError(f"row {sample_id!r} has no features under {config_key}")
    q = unit(found[chash][None])[0]
    best: list[tuple[str, float]] = []
    for ids, X in store.iter_feature_chunks(dataset, config_key, dim, view=view, with_ids=True):
        sims = unit(X) @ q
        top = np.argsort(-sims, kind="stable")[:k + 1]
        best = sorted(best + [(ids[i], float(sims[i])) for i in top], key=lambda t: -t[1])[:k + 1]
    best.sort(key=lambda t: (t[0] != sample_id, -t[1]))  # the row itself first, even when a copy ties with it
    return best[:k]
