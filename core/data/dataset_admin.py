"""Deleting and renaming a dataset, each one transaction (a crash leaves the workspace as it was).

What a delete removes: the dataset's row in `datasets`, its samples, its scores, its marks (tags, exclusions) and their
undo history, its finished jobs, its synthesis runs (their rounds and candidates), and the maps built of it (their
kv_cache record, their map_rows, their clustering artifact, and the kv_cache pointers 'map-for' / 'latest-map' to
them).

What a delete keeps, on purpose: what is keyed by content, not by dataset, and shared by every dataset holding the
same rows: gradient features and embeddings (features_d*), the quality read's losses (row_losses), 2-D layouts and
the results keyed by a content fingerprint (curves, baselines, estimates in kv_cache), the generator's request cache,
and the uploaded file in uploads/. Ingesting the same rows again finds them, so a re-upload is analysed in seconds.

A rename moves every row named by the dataset (samples, scores, marks, undo history, jobs, synthesis runs, the maps'
records) to the new name: features and losses are keyed by content and stay reachable as they are. Maps are found
by a key that includes the dataset's name, so the first page that asks for the renamed dataset's map clusters it
again from its cached features and layout (seconds, no model).

Both are refused while a job of the dataset is queued or running, and a rename onto an existing name is refused.
"""
from __future__ import annotations

import json
from pathlib import Path

# tables whose `dataset` column names the dataset (besides datasets.name)
DATASET_TABLES = ("samples", "scores", "marks", "mark_actions", "synth_runs")


class DatasetAdmin:
    """Mixin of Store: delete_dataset and rename_dataset (self.query / self.transaction / self.artifact_dir come from
    Store)."""

    def _check_idle(self, cur, name: str, what: str) -> None:
        if not cur.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchall():
            known = ", ".join(r[0] for r in cur.execute("SELECT name FROM datasets ORDER BY created_at").fetchall())
            raise LookupError(f"no dataset named {name!r} (datasets: {known or 'none'})")
        active = cur.execute("SELECT kind, id FROM jobs WHERE dataset = ? AND status IN ('queued', 'running')",
                             [name]).fetchall()
        if active:
            raise ValueError(f"cannot {what} {name!r} while its {active[0][0]} job ({active[0][1]}) runs: cancel it "
                             "or wait for it to finish")

    def dataset_footprint(self, name: str) -> dict[str, int]:
        """How many rows of each kind a delete of `name` would remove (what the confirmation says)."""
        counts = {table: int(self.query(f"SELECT count(*) FROM {table} WHERE dataset = ?", [name])[0][0])
                  for table in DATASET_TABLES}
        cur = self.cursor()
        try:
            counts["maps"] = len(self._map_digests(cur, name))
        finally:
            cur.close()
        return counts

    @staticmethod
    def _map_digests(cur, name: str) -> list[str]:
        """The maps built of the dataset (their kv_cache record names it)."""
        rows = cur.execute("SELECT key FROM kv_cache WHERE starts_with(key, 'map:') AND "
                           "json_extract_string(value, '$.dataset') = ?", [name]).fetchall()
        return [r[0].split(":", 1)[1] for r in rows]

    def delete_dataset(self, name: str) -> dict:
        """Delete the dataset and what belongs to it alone (see the module's docstring); returns the counts removed."""
        with self.transaction() as cur:
            self._check_idle(cur, name, "delete")
            removed = {}
            runs = [r[0] for r in cur.execute("SELECT run_id FROM synth_runs WHERE dataset = ?", [name]).fetchall()]
            for table in ("synth_candidates", "synth_rounds"):
                removed[table] = cur.execute(f"SELECT count(*) FROM {table} WHERE run_id IN (SELECT unnest(?))",
                                             [runs]).fetchall()[0][0]
                cur.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT unnest(?))", [runs])
            for table in (*DATASET_TABLES, "jobs"):
                removed[table] = cur.execute(f"SELECT count(*) FROM {table} WHERE dataset = ?", [name]).fetchall()[0][0]
                cur.execute(f"DELETE FROM {table} WHERE dataset = ?", [name])
            digests = self._map_digests(cur, name)
            removed["maps"] = len(digests)
            removed["map_rows"] = cur.execute("SELECT count(*) FROM map_rows WHERE map_key IN (SELECT unnest(?))",
                                              [digests]).fetchall()[0][0]
            cur.execute("DELETE FROM map_rows WHERE map_key IN (SELECT unnest(?))", [digests])
            cur.execute("DELETE FROM kv_cache WHERE key IN (SELECT 'map:' || unnest(?))", [digests])
            cur.execute("DELETE FROM kv_cache WHERE (starts_with(key, 'map-for:') OR starts_with(key, 'latest-map:')) "
                        "AND json_extract_string(value, '$.key') IN (SELECT unnest(?))", [digests])
            cur.execute("DELETE FROM datasets WHERE name = ?", [name])
        for digest in digests:  # the clustering artifacts, once the rows that pointed at them are gone
            Path(self.artifact_dir() / f"map-{digest}.npz").unlink(missing_ok=True)
        return {"dataset": name, "removed": {k: int(v) for k, v in removed.items()}}

    def rename_dataset(self, old: str, new: str) -> dict:
        """Give the dataset another name, keeping everything attached to it (see the module's docstring)."""
        new = new.strip()
        if not new:
            raise ValueError("a dataset name cannot be empty")
        if new == old:
            raise ValueError(f"{old!r} is already the dataset's name")
        with self.transaction() as cur:
            self._check_idle(cur, old, "rename")
            if cur.execute("SELECT 1 FROM datasets WHERE name = ?", [new]).fetchall():
                raise ValueError(f"a dataset named {new!r} exists already: delete it first or pick another name")
            # rows keyed by the name move as copy-then-delete (DuckDB refuses some updates of key columns in place)
            cur.execute("INSERT INTO datasets SELECT * REPLACE (? AS name) FROM datasets WHERE name = ?", [new, old])
            cur.execute("DELETE FROM datasets WHERE name = ?", [old])
            for table in ("samples", "scores", "marks"):
                cur.execute(f"INSERT INTO {table} SELECT * REPLACE (? AS dataset) FROM {table} WHERE dataset = ?",
                            [new, old])
                cur.execute(f"DELETE FROM {table} WHERE dataset = ?", [old])
            for table in ("mark_actions", "synth_runs", "jobs"):
                cur.execute(f"UPDATE {table} SET dataset = ? WHERE dataset = ?", [new, old])
            for digest in self._map_digests(cur, old):
                value = json.loads(cur.execute("SELECT value FROM kv_cache WHERE key = ?",
                                               [f"map:{digest}"]).fetchall()[0][0])
                cur.execute("UPDATE kv_cache SET value = ? WHERE key = ?",
                            [json.dumps(value | {"dataset": new}), f"map:{digest}"])
        return {"dataset": new, "renamed_from": old}
