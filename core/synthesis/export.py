"""Export the grown dataset (seed rows + accepted synthetic rows) as JSONL or Parquet, with provenance per row.

Rows stream from DuckDB in chunks and are written as they come (JSONL line by line, Parquet batch by batch through
one writer with a fixed schema), into a temp file renamed into place with the user's umask: memory stays flat at any
size, and a killed export leaves the old file or none, never half of one.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Iterator

from core.data.files import atomic_file, check_target, clean_stale_temp, workspace_files
from core.data.row_files import FORMATS, write_rows
from core.data.samples import in_view
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
        found = store.query("SELECT generator FROM synth_runs WHERE run_id = ?", [run_id])
        if not found:
            raise KeyError(f"no synthesis run {run_id!r}")
        gen = found[0][0]
    top = store.query("SELECT coalesce(max(ordinal) + 1, 0) FROM samples WHERE dataset = ?", [dataset])[0][0]
    tags = store.tags(dataset)
    for start in range(0, top, chunk):
        rows = store.query("SELECT sample_id, prompt, response, meta FROM samples s WHERE dataset = ? AND ordinal >= ? "
                           f"AND ordinal < ? AND {in_view(view)} ORDER BY ordinal", [dataset, start, start + chunk])
        yield [{"id": sid, "prompt": p, "response": r, "origin": "seed", "round": None, "target_cluster": None,
                "cluster": None, "generator": None, "votes": None, "answer": None,
                "meta": (json.loads(m) if m else {}) | ({"tags": tags[sid]} if sid in tags else {})}
               for sid, p, r, m in rows]
    if run_id is None:
        return
    column = "accepted" if arm == "filtered" else "control"
    rows = store.query("SELECT round, request_idx, problem_idx, target_cluster, cluster, votes, answer, problem, "
                       f"solution, content_hash, source_id FROM synth_candidates WHERE run_id = ? AND {column} "
                       "ORDER BY round, request_idx, problem_idx", [run_id])
    pooled = gen.startswith("pool:")
    for start in range(0, len(rows), chunk):
        yield [{"id": source_id if pooled else f"synth-{run_id}-{rnd}-{req}-{prob}", "prompt": problem,
                "response": solution, "origin": gen if pooled else "synthetic", "round": rnd,
                "target_cluster": target, "cluster": cluster, "generator": gen, "votes": votes, "answer": answer,
                "meta": {"content_hash": chash, "arm": arm}}
               for rnd, req, prob, target, cluster, votes, answer, problem, solution, chash, source_id
               in rows[start:start + chunk]]


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
