"""Datasets in the workspace: ingest a file under a name (reused when unchanged), find one by file or name, uploads."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from core.config import MIN_MAP_ROWS
from core.data.ingest import RowValidator, sample_batches
from core.data.readers import FileReader, ReadLimits, check_file, file_sha256, split_name
from core.data.store import Store

__all__ = ["Progress", "dataset_name_for", "file_sha256", "ingest", "resolve_dataset", "save_upload", "size_warnings"]

# progress(rows_done, bytes_done, bytes_total): called after each batch is written (bytes of the file as stored,
# compressed when it is .gz)
Progress = Callable[[int, int, int], None]


def ingest(store: Store, path: str | Path, *, name: str | None = None, mapping: dict[str, str] | None = None,
           replace: bool = False, display_name: str | None = None, progress: Progress | None = None,
           batch_rows: int = 20_000, limits: ReadLimits = ReadLimits()) -> tuple[str, dict]:
    """Ingest a file as a dataset, streaming: rows are read, checked and written batch by batch in ONE transaction
    (a crash leaves the dataset whole or absent), and the file is hashed in the same pass. The same file under the
    same name is reused, not read twice. display_name is what messages call the file (an upload's own name)."""
    path = Path(path)
    shown = display_name or path.name
    check_file(path, shown)
    name = name or split_name(shown)[0]
    if store.has_dataset(name) and not replace:
        _reuse(store, name, file_sha256(path), mapping)
        return name, store.dataset_info(name)["report"]
    with FileReader(path, name=shown, limits=limits) as reader:
        validator = RowValidator(mapping=mapping, source=shown)
        with store.dataset_writer(name, source=str(path), replace=replace) as writer:
            done = 0
            if progress:
                progress(0, 0, reader.bytes_total)
            for batch in sample_batches(reader.records(), validator, batch_rows=batch_rows):
                writer.append(batch)
                done = reader.bytes_done
                if progress:
                    progress(writer.n, done, reader.bytes_total)
            summary = validator.summary().to_json()  # no valid row: IngestError, and nothing is written
            summary |= {"file_sha256": reader.sha256(), "mapping": mapping, "file": shown,
                        "minimum_rows": MIN_MAP_ROWS, "warnings": size_warnings(summary["n"])}
            writer.commit(validator.n_bad, summary)
        if progress and done < reader.bytes_total:  # the last bytes: a gzip trailer, blank or bad lines
            progress(validator.n, reader.bytes_total, reader.bytes_total)
    return name, summary


def size_warnings(n: int) -> list[str]:
    """What a dataset of n rows is too small for, with the minimum (an analysis maps it: MIN_MAP_ROWS)."""
    if n >= MIN_MAP_ROWS:
        return []
    return [f"too small to analyse: {n} row{'' if n == 1 else 's'} kept, and an analysis (clusters and the map) "
            f"needs at least {MIN_MAP_ROWS}"]


def _reuse(store: Store, name: str, digest: str, mapping: dict[str, str] | None) -> None:
    report = store.dataset_info(name)["report"]
    if report.get("file_sha256") != digest or report.get("mapping") != mapping:
        raise ValueError(f"a dataset named {name!r} exists already with other content: pick another --name")


def resolve_dataset(store: Store, file_or_name: str, *, mapping: dict[str, str] | None = None) -> str:
    """A dataset name as given, or the dataset ingested from that file (reused when the file is unchanged)."""
    path = Path(file_or_name)
    if store.has_dataset(file_or_name) and not path.is_file():
        return file_or_name
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"{file_or_name!r} is neither a dataset in {store.path} nor a file")
    check_file(path, file_or_name)  # a folder, a symlink loop, ...: a clear IngestError
    name = split_name(path.name)[0]
    if store.has_dataset(name):
        digest = file_sha256(path)  # read the file once, not once per comparison
        if store.dataset_info(name)["report"].get("file_sha256") == digest:
            _reuse(store, name, digest, mapping)
            return name
        name = f"{name}-{digest[:8]}"
    return ingest(store, path, name=name, mapping=mapping)[0]


def save_upload(filename: str, data: bytes) -> Path:
    """Keep an uploaded file in the workspace (content-addressed name, atomic write) so ingest can re-read it."""
    import re

    from core.config import workspace_dir
    from core.data.files import atomic_write

    folder = workspace_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name) or "upload.jsonl"
    target = folder / f"{hashlib.sha256(data).hexdigest()[:8]}-{safe}"
    if not target.exists():
        atomic_write(target, data)
    return target


def dataset_name_for(filename: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "_", split_name(filename)[0]).strip("_") or "dataset"
