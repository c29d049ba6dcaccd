"""Export the grown dataset (seed rows + accepted synthetic rows) as JSONL or Parquet, with provenance per row.

Rows stream from DuckDB in chunks and are written as they come (JSONL line by line, Parquet batch by batch through
one writer with a fixed schema), into a temp file renamed into place with the user's umask: memory stays flat at any
size, and a killed export leaves the old file or none, never half of one.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterator

from core.data.files import atomic_file, check_target, clean_stale_temp, workspace_files
from core.data.row_files import FORMATS, write_rows
from core.data.store import Store

CHUNK_ROWS = 10_000


ARMS = ("filtered", "control")


def iter_export_rows(store: Store, dataset: str, run_id: str | None = None, *, arm: str = "filtered",
                     chunk: int = CHUNK_ROWS, view: str = "kept") -> Iterator[list[dict]]:
    """Batches of rows: seed rows (origin=seed) in file order, then each candidate the arm took (the filter's
    accepted ones, or the control's random draw) with its round, target and assigned cluster, source, votes and
    answer; origin = synthetic for a generator's rows, pool:NAME for a candidate pool's (with the pool row's id).
    Seed rows are the view's (excluded rows left out by default), each with its tags in meta.tags."""
    if arm not in ARMS:
        raise ValueError(f"arm must be one of {ARMS}, not {arm!r}")
    gen = None
    if run_id is not None:
        found = store.synth_run(run_id)
        if found is None:
            raise KeyError(f"no synthesis run {run_id!r}")
        gen = found["generator"]
    tags = store.tags(dataset)
    for samples in store.sample_chunks(dataset, view, chunk):
        yield [{"id": s.id, "prompt": s.prompt, "response": s.response, "origin": "seed", "round": None,
                "target_cluster": None, "cluster": None, "generator": None, "votes": None, "answer": None,
                "meta": s.meta | ({"tags": tags[s.id]} if s.id in tags else {})}
               for s in samples]
    if run_id is None:
        return
    rows = store.arm_candidates(run_id, arm)
    pooled = gen.startswith("pool:")
    for start in range(0, len(rows), chunk):
        yield [{"id": c.source_id if pooled else f"synth-{run_id}-{c.round}-{c.request_idx}-{c.problem_idx}",
                "prompt": c.problem, "response": c.solution, "origin": gen if pooled else "synthetic",
                "round": c.round, "target_cluster": c.target_cluster, "cluster": c.cluster, "generator": gen,
                "votes": c.votes, "answer": c.answer, "meta": {"content_hash": c.content_hash, "arm": arm}}
               for c in rows[start:start + chunk]]


def grown_rows(store: Store, dataset: str, run_id: str | None = None, *, arm: str = "filtered") -> list[dict]:
    """All export rows in memory (small datasets, tests)."""
    return [row for batch in iter_export_rows(store, dataset, run_id, arm=arm) for row in batch]


def to_bytes(rows: list[dict], fmt: str) -> bytes:
    buf = io.BytesIO()
    write_rows([rows], fmt, buf)
    return buf.getvalue()


def export_bytes(store: Store, dataset: str, *, run_id: str | None, fmt: str, arm: str = "filtered") -> bytes:
    """The export as bytes, for a download the user asked for (built on click, not on every page run)."""
    buf = io.BytesIO()
    write_rows(iter_export_rows(store, dataset, run_id, arm=arm), fmt, buf)
    return buf.getvalue()


def export(store: Store, dataset: str, *, run_id: str | None, fmt: str, out: str | Path,
           arm: str = "filtered") -> int:
    """Stream the export into `out` atomically; returns the number of rows. A target that is not a regular file (a
    symlink, a device, a fifo, a folder) or is one of the workspace's own files is refused before anything is
    written (files.check_target)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use jsonl or parquet")
    out = Path(out)
    protect = workspace_files(store.path)
    check_target(out, protect)
    # temp files of an export killed earlier: only the product's own (exact name, writer gone), never a folder
    clean_stale_temp(out.parent) if out.parent.is_dir() else None
    with atomic_file(out, protect=protect) as fh:
        return write_rows(iter_export_rows(store, dataset, run_id, arm=arm), fmt, fh)
