"""One row, opened: its full text, tags, cluster, why it is sparse or suspect, and its nearest rows in gradient space
(what the app's row inspector shows and `python -m core row NAME ID` prints); and a selection read against the rest
of the dataset (G-Vendi and counts of both: the map's "compare with the rest").

Rows are named by their line in the source file (stored at ingest: a JSONL's line counts the blank and bad lines
before it; a CSV's line counts its header; a Parquet file's row number) and the first words of their prompt, never by
a bare hash id. Rows stored without a line (older workspaces, rows made by code) are named by their position.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from core.data.store import Store

NEIGHBOURS = 5
NAME_WORDS = 8
QUALITY_ROWS = 20_000  # past this many kept rows the quality read (~1 ms a row) is left to the map's stored flags


def row_name(line: int | None, prompt: str, words: int = NAME_WORDS) -> str:
    """'row 12 · Tom has 3 apples and buys…': the row's source line (store.source_lines) and the first words of its
    prompt."""
    parts = " ".join(str(prompt).split()).split(" ")
    head = " ".join(parts[:words]) + ("…" if len(parts) > words else "")
    return (f"row {line}" if line is not None else "row ?") + (f" · {head}" if head else "")


@dataclasses.dataclass(frozen=True)
class Neighbour:
    id: str
    name: str
    similarity: float  # cosine of the two gradient features
    cluster: int | None


@dataclasses.dataclass(frozen=True)
class RowDetail:
    dataset: str
    id: str
    position: int  # 1-based, file order (the kept and bad rows' order as ingested)
    line: int  # the row's line in its source file (store.source_lines): what its name says
    name: str
    prompt: str
    response: str
    meta: dict
    tags: list[str]
    excluded: bool
    cluster: int | None  # None: not on the map (excluded, or no map of these features yet)
    cluster_size: int | None
    sparse: bool | None
    sparse_reasons: list[str]
    suspect: bool
    quality_reasons: list[str]
    neighbours: list[Neighbour]

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["neighbours"] = [dataclasses.asdict(n) for n in self.neighbours]
        return out


def _map_row(gmap, sample_id: str) -> int | None:
    if gmap is None:
        return None
    try:
        return gmap.ids.index(sample_id)
    except ValueError:
        return None


def sparse_reasons(gmap, row: int) -> list[str]:
    """Why the map calls this row sparse (or not), in words with its numbers."""
    from core.analysis.sparsity import RULE_HELP, relative_mass

    c = int(gmap.labels[row])
    size, median = int(gmap.sizes[c]), float(np.median(gmap.sizes))
    facts = [f"cluster {c}: {size} rows (median cluster {median:g})",
             f"density {float(gmap.density[row]):.3f} (mean cosine to its 10 nearest rows; median "
             f"{float(np.median(gmap.density)):.3f})"]
    if gmap.mass is not None:
        facts.append(f"relative mass {float(relative_mass(gmap.mass)[row]):.2f} (1 = a typical row; low = a rare kind)")
    if bool(gmap.sparse_rows[row]):
        head = f"sparse under the {gmap.rule} rule: {RULE_HELP[gmap.rule].split(':')[0]}"
    else:
        head = f"not sparse under the {gmap.rule} rule"
    return [head, *facts]


def _quality(store: Store, dataset: str, sample_id: str, config_key: str | None) -> tuple[bool, list[str]]:
    from core.analysis.quality import read_quality

    view = "kept" if sample_id not in set(store.excluded(dataset)) else "all"
    if store.count_rows(dataset, view) > QUALITY_ROWS:
        return False, []
    q = read_quality(store, dataset, config_key, view=view)
    try:
        j = q.ids.index(sample_id)
    except ValueError:
        return False, []
    return bool(q.suspect[j]), [text for _, text in q.reasons[j]]


def row_detail(store: Store, dataset: str, sample_id: str, config_key: str, dim: int, *, gmap=None,
               k: int = NEIGHBOURS, quality: bool = True) -> RowDetail:
    """Everything about one row. `gmap`: the map whose cluster and sparse flags to read (default: the latest map of
    the kept rows under `config_key`); neighbours are the `k` nearest kept rows by cosine, the row itself left out
    (empty when the row has no features under `config_key`)."""
    from core.analysis import cache
    from core.analysis.search import more_like_this

    rows = store.rows_by_id(dataset, [sample_id])
    if sample_id not in rows:
        raise KeyError(f"no row {sample_id!r} in dataset {dataset!r}")
    sample = rows[sample_id]
    if gmap is None:
        gmap = cache.latest_map(store, dataset, config_key)
    try:
        near = [(i, s) for i, s in more_like_this(store, dataset, sample_id, config_key, dim, k=k + 1)
                if i != sample_id][:k]
    except KeyError:  # no features for this row under config_key
        near = []
    near_rows = store.rows_by_id(dataset, [i for i, _ in near])
    lines = store.source_lines(dataset, [sample_id, *(i for i, _ in near)])
    labels = dict(zip(gmap.ids, gmap.labels.tolist())) if gmap is not None and near else {}
    neighbours = [Neighbour(i, row_name(lines.get(i), near_rows[i].prompt), s, labels.get(i)) for i, s in near]
    at = _map_row(gmap, sample_id)
    suspect, reasons = _quality(store, dataset, sample_id, config_key) if quality else (False, [])
    if at is not None and gmap.suspect is not None and bool(gmap.suspect[at]):
        suspect = True
    return RowDetail(
        dataset=dataset, id=sample_id, position=store.positions(dataset, [sample_id])[sample_id],
        line=lines[sample_id], name=row_name(lines[sample_id], sample.prompt), prompt=sample.prompt,
        response=sample.response,
        meta=sample.meta, tags=store.tags(dataset).get(sample_id, []),
        excluded=sample_id in set(store.excluded(dataset)),
        cluster=None if at is None else int(gmap.labels[at]),
        cluster_size=None if at is None else int(gmap.sizes[gmap.labels[at]]),
        sparse=None if at is None else bool(gmap.sparse_rows[at]),
        sparse_reasons=[] if at is None else sparse_reasons(gmap, at),
        suspect=suspect, quality_reasons=reasons, neighbours=neighbours)


def row_names(store: Store, dataset: str, ids: list[str]) -> dict[str, str]:
    """id -> 'row N · first words' for the ids the dataset holds."""
    rows, lines = store.rows_by_id(dataset, ids), store.source_lines(dataset, ids)
    return {i: row_name(lines.get(i), rows[i].prompt) for i in ids if i in rows}


def more_like_rows(store: Store, dataset: str, ids: list[str], config_key: str, dim: int, *, k: int = 10,
                   view: str = "kept") -> list[tuple[str, float]]:
    """The k rows of the view nearest a set of rows, as (id, cosine to the mean of their unit features), the rows
    themselves left out; streamed in chunks (one chunk in memory at a time)."""
    from core.analysis.sparsity import unit

    found = store.features_by_hash(config_key, dim, list(store.content_hashes(dataset, ids).values()))
    if not found:
        raise KeyError(f"none of the {len(ids)} rows has features under {config_key}")
    q = unit(unit(np.stack(list(found.values()))).mean(axis=0)[None])[0]
    chosen, best = set(ids), []
    for chunk_ids, X in store.iter_feature_chunks(dataset, config_key, dim, view=view, with_ids=True):
        sims = unit(X) @ q
        top = np.argsort(-sims, kind="stable")[:k + len(chosen)]
        best = sorted(best + [(chunk_ids[j], float(sims[j])) for j in top if chunk_ids[j] not in chosen],
                      key=lambda t: -t[1])[:k]
    return best


@dataclasses.dataclass(frozen=True)
class SelectionComparison:
    """A selection of kept rows against the other kept rows (both with features under one config)."""

    n_selected: int
    n_rest: int
    g_vendi_selected: float | None  # None: fewer than 2 rows
    g_vendi_rest: float | None
    g_vendi_rest_at_n: float | None  # the rest at the selection's size (mean of random subsets): equal-n reading
    g_vendi_all: float
    g_vendi_without: float | None  # the whole view without the selection (= the rest)
    clusters_selected: dict[int, int]  # cluster -> selected rows in it (when a map is given)
    clusters_rest: dict[int, int]
    missing: list[str]  # asked ids without features in the view (excluded, unknown or not featurised)

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["clusters_selected"] = {str(c): n for c, n in self.clusters_selected.items()}
        out["clusters_rest"] = {str(c): n for c, n in self.clusters_rest.items()}
        return out


def compare_selection(store: Store, dataset: str, ids: list[str], config_key: str, dim: int, *, gmap=None,
                      draws: int = 5, seed: int = 0) -> SelectionComparison:
    """G-Vendi of the selected kept rows, of the rest, of the rest at the selection's size, and the cluster counts
    of each (`gmap`: the map whose clusters to count)."""
    from core.analysis.diversity import vendi_score

    all_ids, X = store.load_features(dataset, config_key, dim)
    if len(all_ids) == 0:
        raise ValueError(f"{dataset!r} has no features under {config_key}: analyse it first")
    wanted = set(ids)
    mask = np.array([i in wanted for i in all_ids], dtype=bool)
    missing = sorted(wanted - {i for i, m in zip(all_ids, mask) if m})
    if not mask.any():
        raise ValueError("none of the selected rows is a kept row with features")
    sel, rest = X[mask], X[~mask]

    def score(A):
        return float(vendi_score(A)) if len(A) >= 2 else None

    at_n = None
    if len(rest) >= 2 and 2 <= len(sel) <= len(rest):
        rng = np.random.default_rng(seed)
        at_n = float(np.mean([vendi_score(rest[rng.choice(len(rest), len(sel), replace=False)])
                              for _ in range(draws)]))
    clusters_sel: dict[int, int] = {}
    clusters_rest: dict[int, int] = {}
    if gmap is not None:
        label = dict(zip(gmap.ids, gmap.labels.tolist()))
        for i, m in zip(all_ids, mask):
            if i in label:
                target = clusters_sel if m else clusters_rest
                target[label[i]] = target.get(label[i], 0) + 1
    g_rest = score(rest)
    return SelectionComparison(int(mask.sum()), int((~mask).sum()), score(sel), g_rest, at_n, float(vendi_score(X)),
                               g_rest, dict(sorted(clusters_sel.items())), dict(sorted(clusters_rest.items())),
                               missing)
