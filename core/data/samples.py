"""Datasets and their samples: written in one transaction per dataset, read back in file order."""
from __future__ import annotations

import json
import time

from core.data.ingest import IngestReport, Sample


class SampleTables:
    """Mixin of Store: the datasets and samples tables (self.query / self.cursor come from Store)."""

    # ---- datasets and samples -------------------------------------------------------------------------------

    def dataset_names(self) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM datasets ORDER BY created_at")]

    def has_dataset(self, name: str) -> bool:
        return bool(self.query("SELECT 1 FROM datasets WHERE name = ?", [name]))

    def save_dataset(self, name: str, report: IngestReport, *, source: str, replace: bool = False,
                     extra: dict | None = None) -> None:
        """Write a dataset and its samples in one transaction: a crash leaves it either whole or absent."""
        import pyarrow as pa

        samples = report.samples
        table = pa.table({
            "dataset": [name] * len(samples),
            "ordinal": list(range(len(samples))),
            "sample_id": [s.id for s in samples],
            "content_hash": [s.content_hash for s in samples],
            "prompt": [s.prompt for s in samples],
            "response": [s.response for s in samples],
            "meta": [json.dumps(s.meta, ensure_ascii=False) for s in samples],
        })
        cur = self.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            if self._dataset_exists(cur, name):
                if not replace:
                    cur.execute("ROLLBACK")
                    raise ValueError(f"a dataset named {name!r} exists already")
                cur.execute("DELETE FROM samples WHERE dataset = ?", [name])
                cur.execute("DELETE FROM datasets WHERE name = ?", [name])
            cur.register("incoming_samples", table)
            cur.execute("INSERT INTO samples SELECT dataset, ordinal, sample_id, content_hash, prompt, response, "
                        "CAST(meta AS JSON) FROM incoming_samples")
            cur.unregister("incoming_samples")
            cur.execute("INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?)",
                        [name, source, time.time(), len(samples), len(report.bad_rows),
                         json.dumps(report.summary() | (extra or {}))])
            cur.execute("COMMIT")
        finally:
            cur.close()

    @staticmethod
    def _dataset_exists(cur, name: str) -> bool:
        return bool(cur.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchall())

    def dataset_info(self, name: str) -> dict:
        rows = self.query("SELECT name, source, created_at, n_samples, rejected_rows, report FROM datasets "
                          "WHERE name = ?", [name])
        if not rows:
            raise KeyError(f"no dataset named {name!r} in {self.path}")
        name, source, created, n, rejected, report = rows[0]
        return {"name": name, "source": source, "created_at": created, "n": n, "rejected_rows": rejected,
                "report": json.loads(report) if report else {}}

    def samples(self, name: str) -> list[Sample]:
        rows = self.query("SELECT sample_id, prompt, response, content_hash, meta FROM samples WHERE dataset = ? "
                          "ORDER BY ordinal", [name])
        return [Sample(r[0], r[1], r[2], r[3], json.loads(r[4]) if r[4] else {}) for r in rows]

    def samples_frame(self, name: str):
        """Samples as a pandas DataFrame (id, prompt, response, content_hash, meta columns flattened)."""
        import pandas as pd

        cur = self.cursor()
        try:
            frame = cur.execute("SELECT sample_id AS id, prompt, response, content_hash, meta FROM samples "
                                "WHERE dataset = ? ORDER BY ordinal", [name]).df()
        finally:
            cur.close()
        meta = pd.DataFrame([json.loads(m) if m else {} for m in frame.pop("meta")])
        for col in meta.columns:
            if col not in frame.columns:
                frame[col] = meta[col].values
        return frame
