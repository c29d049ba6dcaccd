"""Your own vectors: per-row vectors computed elsewhere, imported as a named feature set. G-Vendi, clusters, the map,
selection and dedup then run on them like on the built-in features; the identity is the set's name and the file's
content hash, so a changed file is another feature set, never mixed with the old one.

Formats: a Parquet file with an id column and a list column (fixed length), or a `.npy` matrix with an id list
(a text file of one id per line, or a JSON list). Every id must be a row of the dataset and every vector as long as
the others; anything else is one clear error and nothing is stored.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from core.config import stable_hash
from core.data.store import Store


@dataclasses.dataclass(frozen=True)
class ImportedFeatures:
    """Feature identity of an imported set (duck-types FeatureConfig where the analysis needs key/dim/identity)."""

    name: str
    file_sha256: str
    dim: int
    mode: str = "imported"
    model: str = "imported"
    seed: int = 0

    def identity(self) -> dict:
        return {"imported": self.name, "file_sha256": self.file_sha256, "dim": self.dim}

    def key(self) -> str:
        return stable_hash(self.identity())


def _read(path: Path, ids_path: Path | None, id_column: str, vector_column: str | None) -> tuple[list[str], np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        if ids_path is None:
            raise ValueError("a .npy matrix needs its id list (--ids FILE: one id per line, or a JSON list)")
        X = np.load(path, allow_pickle=False)
        text = Path(ids_path).read_text(encoding="utf-8")
        ids = json.loads(text) if text.lstrip().startswith("[") else [l.strip() for l in text.splitlines() if l.strip()]
    elif path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if id_column not in table.column_names:
            raise ValueError(f"{path.name} has no id column {id_column!r} (columns: {', '.join(table.column_names)})")
        lists = [c for c in table.column_names if c != id_column and str(table.schema.field(c).type).startswith(
            ("list", "fixed_size_list", "large_list"))]
        column = vector_column or (lists[0] if len(lists) == 1 else None)
        if column is None:
            raise ValueError(f"{path.name}: name the vector column (list columns: {', '.join(lists) or 'none'})")
        ids = [str(i) for i in table.column(id_column).to_pylist()]
        values = table.column(column).to_pylist()
        lengths = {len(v) for v in values if v is not None}
        if None in values or len(lengths) != 1:
            raise ValueError(f"{path.name}: every vector must be present and of one length (found {sorted(lengths)})")
        X = np.asarray(values, dtype=np.float32)
    else:
        raise ValueError(f"unsupported vector file {path.suffix!r}: use .parquet (id + list column) or .npy + --ids")
    if X.ndim != 2 or len(ids) != X.shape[0]:
        raise ValueError(f"{len(ids)} ids for a matrix of shape {X.shape}")
    if not np.isfinite(X).all() or (np.linalg.norm(X, axis=1) == 0).any():
        raise ValueError("vectors must be finite and non-zero (a zero vector has no direction)")
    return ids, X.astype(np.float32)


def import_vectors(store: Store, dataset: str, path: str | Path, *, name: str, ids_path: str | Path | None = None,
                   id_column: str = "id", vector_column: str | None = None,
                   expect_dim: int | None = None) -> ImportedFeatures:
    """Validate everything first, then store the vectors under the set's key (one transaction)."""
    import hashlib

    path = Path(path)
    ids, X = _read(path, Path(ids_path) if ids_path else None, id_column, vector_column)
    if expect_dim is not None and X.shape[1] != expect_dim:
        raise ValueError(f"vectors have {X.shape[1]} dimensions, expected {expect_dim}")
    if len(set(ids)) != len(ids):
        raise ValueError("an id appears twice in the vector file")
    rows = dict(store.query("SELECT sample_id, content_hash FROM samples WHERE dataset = ? AND sample_id IN "
                            "(SELECT unnest(?))", [dataset, ids]))
    unknown = [i for i in ids if i not in rows]
    if unknown:
        raise KeyError(f"{len(unknown)} id(s) are not rows of {dataset!r}: {', '.join(unknown[:5])}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    features = ImportedFeatures(name=name, file_sha256=digest, dim=int(X.shape[1]))
    store.register_config(features)
    store.write_vectors(features.key(), features.dim, [rows[i] for i in ids], X)
    store.cache_put(f"imported:{dataset}:{name}", features.identity())
    return features


def imported_sets(store: Store, dataset: str) -> dict[str, ImportedFeatures]:
    rows = store.query("SELECT key, value FROM kv_cache WHERE key LIKE ?", [f"imported:{dataset}:%"])
    out = {}
    for _, value in rows:
        ident = json.loads(value)
        out[ident["imported"]] = ImportedFeatures(ident["imported"], ident["file_sha256"], ident["dim"])
    return out
