"""Datasets in the workspace: ingest a file under a name (reused when unchanged), find one by file or name, uploads."""
from __future__ import annotations

import hashlib
from pathlib import Path

from core.data.ingest import ingest_file
from core.data.store import Store


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ingest(store: Store, path: str | Path, *, name: str | None = None, mapping: dict[str, str] | None = None,
           replace: bool = False) -> tuple[str, dict]:
    """Ingest a file as a dataset; the same file under the same name is reused, not read twice."""
    path = Path(path)
    digest = file_sha256(path)
    name = name or path.stem
    if store.has_dataset(name) and not replace:
        info = store.dataset_info(name)
        if info["report"].get("file_sha256") == digest and info["report"].get("mapping") == mapping:
            return name, info["report"]
        raise ValueError(f"a dataset named {name!r} exists already with other content: pick another --name")
    report = ingest_file(path, mapping=mapping)
    extra = {"file_sha256": digest, "mapping": mapping, "file": path.name}
    store.save_dataset(name, report, source=str(path), replace=replace, extra=extra)
    return name, report.summary() | extra


def resolve_dataset(store: Store, file_or_name: str, *, mapping: dict[str, str] | None = None) -> str:
    """A dataset name as given, or the dataset ingested from that file (reused when the file is unchanged)."""
    if store.has_dataset(file_or_name) and not Path(file_or_name).is_file():
        return file_or_name
    path = Path(file_or_name)
    if not path.is_file():
        raise FileNotFoundError(f"{file_or_name!r} is neither a dataset in {store.path} nor a file")
    name = path.stem
    if store.has_dataset(name):
        digest = file_sha256(path)  # read the file once, not once per comparison
        if store.dataset_info(name)["report"].get("file_sha256") != digest:
            name = f"{path.stem}-{digest[:8]}"
    return ingest(store, path, name=name, mapping=mapping)[0]


def save_upload(filename: str, data: bytes) -> Path:
    """Keep an uploaded file in the workspace (content-addressed name, atomic write) so ingest can re-read it."""
    import os
    import re
    import tempfile

    from core.config import workspace_dir

    folder = workspace_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name) or "upload.jsonl"
    target = folder / f"{hashlib.sha256(data).hexdigest()[:8]}-{safe}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    return target


def dataset_name_for(filename: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(filename).stem).strip("_") or "dataset"
