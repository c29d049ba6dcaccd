"""Maps' stored parts: the rows of every gradient-space map (map_rows, one per sample, in map order) and the checked
.npz artifacts beside the database (a map's clustering, a layout and its positions, a shared map of several
datasets: core/analysis/gradient_map.py and compare.py).

An artifact is written atomically (files.atomic_write) and its sha256 returned, for the caller to record with the
result's metadata (kv_cache); a read checks the file against that sha256 first and loads it with allow_pickle=False,
so a missing, altered or foreign file reads as absent (the result is recomputed), and a crafted one is never executed.
A map's rows are replaced whole, in one transaction: a map key never holds rows of two builds.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

from core.data.files import atomic_write

ARTIFACTS = "artifacts"  # the folder beside the database


class MapTables:
    """Mixin of Store: the map_rows table and the .npz artifacts (self.query / self.transaction / self.path come
    from Store)."""

    def artifact_dir(self) -> Path:
        path = self.path.parent / ARTIFACTS
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save_artifact(self, name: str, **arrays: np.ndarray) -> str:
        """Write the arrays as name.npz (atomically); returns its sha256, which load_artifact will ask for."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        data = buf.getvalue()
        atomic_write(self.artifact_dir() / f"{name}.npz", data)
        return hashlib.sha256(data).hexdigest()

    def load_artifact(self, name: str, sha256: str) -> dict[str, np.ndarray] | None:
        """The arrays of name.npz if the file is exactly the one recorded (else None: a missing or foreign file)."""
        path = self.artifact_dir() / f"{name}.npz"
        if not path.exists():
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            return None
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    def write_map_rows(self, key: str, ids: list[str], *, cluster: np.ndarray, sparse: np.ndarray,
                       density: np.ndarray, xy: np.ndarray, mass: np.ndarray, suspect: np.ndarray) -> None:
        """A map's rows in map order (ordinal = position in `ids`), replacing any it had, in one transaction."""
        import pyarrow as pa

        table = pa.table({"map_key": [key] * len(ids), "ordinal": np.arange(len(ids), dtype=np.int32),
                          "sample_id": ids, "cluster": np.asarray(cluster).astype(np.int32), "sparse": sparse,
                          "density": np.asarray(density).astype(np.float32), "x": xy[:, 0], "y": xy[:, 1],
                          "mass": np.asarray(mass).astype(np.float32), "suspect": suspect})
        with self.transaction() as cur:
            cur.execute("DELETE FROM map_rows WHERE map_key = ?", [key])
            cur.register("incoming_map", table)
            cur.execute("INSERT INTO map_rows (map_key, ordinal, sample_id, cluster, sparse, density, x, y, mass, "
                        "suspect) SELECT * FROM incoming_map")
            cur.unregister("incoming_map")

    def map_rows(self, key: str) -> dict[str, np.ndarray]:
        """The map's rows in map order, as columns: sample_id, cluster, sparse, density, x, y, mass, suspect (false
        where a map older than the quality read has none)."""
        cur = self.cursor()
        try:
            return cur.execute("SELECT sample_id, cluster, sparse, density, x, y, mass, coalesce(suspect, false) AS "
                               "suspect FROM map_rows WHERE map_key = ? ORDER BY ordinal", [key]).fetchnumpy()
        finally:
            cur.close()
