"""Your own vectors: per-row vectors computed elsewhere, imported as a named feature set. G-Vendi, clusters, the map,
selection and dedup then run on them like on the built-in features; the identity is the set's name and the file's
content hash, so a changed file is another feature set, never mixed with the old one.

Formats: a Parquet file with an id column and a list column (fixed length), or a `.npy` matrix with an id list
(a text file of one id per line, or a JSON list of strings). Every id must be a row of the dataset and every vector
as long as the others; anything else is one clear error (ValueError, or KeyError for an id that is not a row) and
nothing is stored: the file is checked whole before anything is written (a .npy's header against its size before it
is loaded), and the feature config, the vectors and the set's name are written in one transaction.

Vectors are stored as unit rows (float32), like the built-in features: every analysis compares directions only, and
a row of 1e20s keeps its direction instead of overflowing. A row with NaN or infinite values, or all zeros, is
refused (diversity.unit_rows), as are complex values (their imaginary part would be lost).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from core.features.unit import unit_rows
from core.config import stable_hash
from core.data.readers import file_sha256
from core.data.store import Store

MAX_DIM = 4096  # DuckDB holds FLOAT[d] rows in vectors of 2,048: past ~4k dims its 2 GB budget runs out on a few rows
MAX_ROWS = 10_000_000
MAX_VALUES = 1_100_000_000  # rows x dims: a million rows at 1,024 dims, ~4.4 GB as float32
INSERT_BYTES = 64 << 20  # vectors per INSERT (one transaction in all)
KEY_PREFIX = "imported:"


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


def set_key(dataset: str, name: str) -> str:
    """The kv_cache key of a dataset's imported set: JSON-quoted, so no dataset or set name (':' included) can
    produce another pair's key."""
    return KEY_PREFIX + json.dumps([dataset, name], ensure_ascii=False)


def _check_shape(source: str, n: int, d: int) -> None:
    if n == 0 or d == 0:
        raise ValueError(f"{source}: no vectors (shape {n} x {d})")
    if d > MAX_DIM:
        raise ValueError(f"{source}: {d:,} dimensions, more than the {MAX_DIM:,} a feature set may have "
                         f"(project them first, e.g. PCA or a random projection)")
    if n > MAX_ROWS or n * d > MAX_VALUES:
        raise ValueError(f"{source}: {n:,} x {d:,} vectors, more than the {MAX_ROWS:,} rows or {MAX_VALUES:,} "
                         f"values an import may hold")


def _numeric(source: str, dtype: np.dtype) -> None:
    if dtype.kind == "c":
        raise ValueError(f"{source}: complex values ({dtype}); vectors must be real (the imaginary part would be "
                         f"lost)")
    if dtype.kind not in "fiu":
        raise ValueError(f"{source}: values of type {dtype} are not numbers; vectors must be integers or floats")


def _npy_header(path: Path) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) from the header only, checked against the file's size: a header that claims
    more data than the file holds (or less) is refused before anything is allocated."""
    from numpy.lib import format as npy

    size = path.stat().st_size
    with open(path, "rb") as fh:
        try:
            version = npy.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = npy.read_array_header_2_0(fh)
            else:
                shape, fortran, dtype = npy._read_array_header(fh, version)  # 3.0: utf-8 field names
        except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
            raise ValueError(f"{path.name} is not a readable .npy file ({exc})") from None
        offset = fh.tell()
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{path.name}: values of type {dtype} are not numbers; vectors must be integers or floats")
    _numeric(path.name, dtype)
    if len(shape) != 2:
        raise ValueError(f"{path.name}: a matrix of rows x dims is needed, not shape {shape}")
    n, d = (int(v) for v in shape)
    expected = offset + n * d * dtype.itemsize
    if expected != size:
        raise ValueError(f"{path.name}: its header claims {n:,} x {d:,} {dtype} values ({expected:,} bytes) but the "
                         f"file holds {size:,} bytes")
    _check_shape(path.name, n, d)
    return (n, d), fortran, dtype


def _read_ids(ids_path: Path) -> list[str]:
    if not ids_path.is_file():
        raise FileNotFoundError(f"no such file: {ids_path}")
    try:
        text = ids_path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{ids_path.name}: the id list is not UTF-8 text") from None
    if not text.lstrip().startswith("["):
        return [line.strip() for line in text.splitlines() if line.strip()]
    try:
        ids = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{ids_path.name}: not a valid JSON list ({exc})") from None
    if not isinstance(ids, list):
        raise ValueError(f"{ids_path.name}: the ids must be a JSON list of strings")
    bad = next((i for i, v in enumerate(ids) if not isinstance(v, str)), None)
    if bad is not None:
        raise ValueError(f"{ids_path.name}: the ids must be strings; item {bad} is {type(ids[bad]).__name__} "
                         f"{json.dumps(ids[bad])[:60]}")
    return ids


def _read_npy(path: Path, ids_path: Path | None) -> tuple[list[str], np.ndarray]:
    if ids_path is None:
        raise ValueError("a .npy matrix needs its id list (--ids FILE: one id per line, or a JSON list)")
    (n, d), _, _ = _npy_header(path)
    ids = _read_ids(ids_path)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for a matrix of shape ({n}, {d})")
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path.name} is not a readable .npy file ({exc})") from None
    return ids, X


def _read_parquet(path: Path, id_column: str, vector_column: str | None) -> tuple[list[str], np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path.name} is not a readable Parquet file ({exc})") from None
    schema = pf.schema_arrow
    if id_column not in schema.names:
        raise ValueError(f"{path.name} has no id column {id_column!r} (columns: {', '.join(schema.names)})")
    lists = [f.name for f in schema if f.name != id_column and
             (pa.types.is_list(f.type) or pa.types.is_large_list(f.type) or pa.types.is_fixed_size_list(f.type))]
    column = vector_column or (lists[0] if len(lists) == 1 else None)
    if column is None:
        raise ValueError(f"{path.name}: name the vector column (list columns: {', '.join(lists) or 'none'})")
    if column not in lists:
        raise ValueError(f"{path.name}: {column!r} is not a list column (list columns: {', '.join(lists) or 'none'})")
    value_type = schema.field(column).type.value_type
    if not (pa.types.is_integer(value_type) or pa.types.is_floating(value_type)):
        raise ValueError(f"{path.name}: column {column!r} holds {value_type} values; vectors must be lists of "
                         f"numbers")
    id_type = schema.field(id_column).type
    if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type) or pa.types.is_integer(id_type)):
        raise ValueError(f"{path.name}: id column {id_column!r} holds {id_type} values; ids must be strings")
    meta = pf.metadata
    if meta.num_rows > MAX_ROWS:
        raise ValueError(f"{path.name}: {meta.num_rows:,} rows, more than the {MAX_ROWS:,} an import may hold")
    unpacked = sum(meta.row_group(g).column(c).total_uncompressed_size for g in range(meta.num_row_groups)
                   for c in range(meta.num_columns))
    if unpacked > MAX_VALUES * 8 + MAX_ROWS * 64:
        raise ValueError(f"{path.name}: {unpacked:,} bytes once decompressed, more than an import may hold")
    try:
        table = pf.read(columns=[id_column, column])
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path.name} could not be read ({exc})") from None
    ids_col = table.column(id_column)
    if ids_col.null_count:
        raise ValueError(f"{path.name}: {ids_col.null_count} row(s) have no id")
    ids = [str(i) for i in ids_col.to_pylist()]
    vectors = table.column(column).combine_chunks()
    if vectors.null_count:
        raise ValueError(f"{path.name}: every vector must be present and of one length ({vectors.null_count} "
                         f"missing)")
    import pyarrow.compute as pc

    lengths = set(pc.unique(pc.list_value_length(vectors)).to_pylist()) if len(vectors) else {0}
    if len(lengths) != 1:
        raise ValueError(f"{path.name}: every vector must be present and of one length (found {sorted(lengths)})")
    d = lengths.pop()
    _check_shape(path.name, len(ids), d)
    values = vectors.flatten()
    if values.null_count:
        raise ValueError(f"{path.name}: {values.null_count} vector value(s) are null")
    return ids, values.to_numpy(zero_copy_only=False).reshape(len(ids), d)


def _read(path: Path, ids_path: Path | None, id_column: str, vector_column: str | None) -> tuple[list[str], np.ndarray]:
    """(ids, unit rows as float32), every check done; nothing is written here."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        ids, X = _read_npy(path, ids_path)
    elif path.suffix.lower() in (".parquet", ".pq"):
        ids, X = _read_parquet(path, id_column, vector_column)
    else:
        raise ValueError(f"unsupported vector file {path.suffix!r}: use .parquet (id + list column) or .npy + --ids")
    if X.ndim != 2 or len(ids) != X.shape[0]:
        raise ValueError(f"{len(ids)} ids for a matrix of shape {X.shape}")
    _numeric(path.name, X.dtype)
    _check_shape(path.name, *X.shape)
    return ids, unit_rows(X, dtype=np.float32, ids=ids, what=f"{path.name}:")


def import_vectors(store: Store, dataset: str, path: str | Path, *, name: str, ids_path: str | Path | None = None,
                   id_column: str = "id", vector_column: str | None = None,
                   expect_dim: int | None = None) -> ImportedFeatures:
    """Validate everything first, then store the config, the vectors and the set's name in one transaction."""
    path = Path(path)
    if not name or not name.strip():
        raise ValueError("the feature set needs a name")
    ids, X = _read(path, Path(ids_path) if ids_path else None, id_column, vector_column)
    if expect_dim is not None and X.shape[1] != expect_dim:
        raise ValueError(f"vectors have {X.shape[1]} dimensions, expected {expect_dim}")
    if len(set(ids)) != len(ids):
        raise ValueError("an id appears twice in the vector file")
    rows = store.content_hashes(dataset, ids)
    unknown = [i for i in ids if i not in rows]
    if unknown:
        raise KeyError(f"{len(unknown)} id(s) are not rows of {dataset!r}: {', '.join(unknown[:5])}")
    features = ImportedFeatures(name=name, file_sha256=file_sha256(path), dim=int(X.shape[1]))
    _store(store, dataset, features, [rows[i] for i in ids], X)
    return features


def _store(store: Store, dataset: str, features: ImportedFeatures, hashes: list[str], X: np.ndarray) -> None:
    """The config, the vectors (one per content hash: the first row's) and the set's name, in one transaction: an
    error anywhere (the workspace's memory limit included) leaves no config row, table or vector behind."""
    import duckdb

    dim = features.dim
    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        first.setdefault(h, i)
    keep = list(first.values())
    step = max(1, INSERT_BYTES // (4 * dim))
    try:
        with store.vector_set_writer(features.key(), features.identity(), dim) as writer:
            for start in range(0, len(keep), step):
                part = keep[start:start + step]
                writer.append([hashes[i] for i in part], X[part])
            writer.record(set_key(dataset, features.name), features.identity())
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"the workspace could not store {len(keep):,} x {dim:,} vectors ({message}); nothing was "
                         f"stored") from None


def imported_sets(store: Store, dataset: str) -> dict[str, ImportedFeatures]:
    """The dataset's imported sets by name. Keys are matched exactly (never with LIKE, whose % and _ a dataset name
    may hold); a key of the older form `imported:DATASET:NAME` counts only when it is exactly that string for the
    name its value records."""
    legacy, current = {}, {}
    for key, ident in store.named_vector_sets(KEY_PREFIX).items():
        features = ImportedFeatures(ident["imported"], ident["file_sha256"], ident["dim"])
        rest = key[len(KEY_PREFIX):]
        if rest.startswith("["):
            try:
                owner, name = json.loads(rest)
            except (ValueError, TypeError):
                continue
            if owner == dataset and name == features.name:
                current[name] = features
        elif key == f"{KEY_PREFIX}{dataset}:{features.name}":
            legacy[features.name] = features
    return legacy | current
