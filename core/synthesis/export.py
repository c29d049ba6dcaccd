"""Export the grown dataset (seed rows + accepted synthetic rows) as JSONL or Parquet, with provenance per row."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from core.data.store import Store


def grown_rows(store: Store, dataset: str, run_id: str | None = None) -> list[dict]:
    """Seed rows (origin=seed) then each accepted candidate (origin=synthetic) with round, cluster, model, votes."""
    rows = [{"id": s.id, "prompt": s.prompt, "response": s.response, "origin": "seed", "round": None,
             "target_cluster": None, "cluster": None, "generator": None, "votes": None, "answer": None,
             "meta": s.meta} for s in store.samples(dataset)]
    if run_id is None:
        return rows
    gen = store.query("SELECT generator FROM synth_runs WHERE run_id = ?", [run_id])
    if not gen:
        raise KeyError(f"no synthesis run {run_id!r}")
    for rnd, req, prob, target, cluster, votes, answer, problem, solution, chash in store.query(
            "SELECT round, request_idx, problem_idx, target_cluster, cluster, votes, answer, problem, solution, "
            "content_hash FROM synth_candidates WHERE run_id = ? AND accepted ORDER BY round, request_idx, "
            "problem_idx", [run_id]):
        rows.append({"id": f"synth-{run_id}-{rnd}-{req}-{prob}", "prompt": problem, "response": solution,
                     "origin": "synthetic", "round": rnd, "target_cluster": target, "cluster": cluster,
                     "generator": gen[0][0], "votes": votes, "answer": answer, "meta": {"content_hash": chash}})
    return rows


def to_bytes(rows: list[dict], fmt: str) -> bytes:
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    if fmt == "parquet":
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = [r | {"meta": json.dumps(r["meta"], ensure_ascii=False)} for r in rows]
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(flat), buf)
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r}: use jsonl or parquet")


def export(store: Store, dataset: str, *, run_id: str | None, fmt: str, out: str | Path) -> int:
    """Write atomically (temp file + rename); returns the number of rows."""
    rows = grown_rows(store, dataset, run_id)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(to_bytes(rows, fmt))
    os.replace(tmp, out)
    return len(rows)
