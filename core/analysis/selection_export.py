"""Writing a selection out: the chosen rows, in the order chosen, with where they came from and how."""
from __future__ import annotations

from pathlib import Path

from core.data.files import atomic_file, workspace_files
from core.data.row_files import write_rows
from core.data.store import Store


def selection_rows(store: Store, dataset: str, ids: list[str], *, method: str,
                   seed_dataset: str | None = None) -> list[dict]:
    by_id = store.rows_by_id(dataset, ids)
    origin = f"pool:{dataset}" if seed_dataset else dataset
    return [{"id": sid, "prompt": by_id[sid].prompt, "response": by_id[sid].response, "origin": origin, "round": None,
             "target_cluster": None, "cluster": None, "generator": None, "votes": None, "answer": None,
             "meta": by_id[sid].meta | {"selected_by": method, "rank": rank, "added_to": seed_dataset}}
            for rank, sid in enumerate(ids)]


def export_selection(store: Store, dataset: str, ids: list[str], *, out: str | Path, fmt: str, method: str,
                     seed_dataset: str | None = None) -> int:
    """The rows to `out` through a temp file; a target that is not a regular file, or is one of the workspace's own
    files, is refused before anything is written (files.check_target)."""
    with atomic_file(out, protect=workspace_files(store.path)) as fh:
        return write_rows([selection_rows(store, dataset, ids, method=method, seed_dataset=seed_dataset)], fmt, fh)
