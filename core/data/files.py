"""Files the product writes: atomically (a temp name in the same folder, then a rename), with the user's umask, and
temp files of killed writers cleaned up the next time anything starts.

A temp name carries the writer's PID (`.tmp-prism-<pid>-...`): a later start removes those whose writer is gone.
Names of the older form `.tmp-...` (no PID) are removed when they are older than an hour.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

PREFIX = ".tmp-prism-"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once: os.umask can only be read by setting it


def temp_prefix() -> str:
    return f"{PREFIX}{os.getpid()}-"


@contextlib.contextmanager
def atomic_file(path: str | Path, *, mode: int = 0o666) -> Iterator:
    """Open a temp file next to `path` for binary writing; on success it replaces `path` with permissions
    mode & ~umask (mkstemp's 0600 would hide an export from the user's group); on any error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix())
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, mode & ~UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | Path, data: bytes) -> None:
    with atomic_file(path) as fh:
        fh.write(data)


@contextlib.contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """A temp folder next to `target` that replaces it when the block succeeds (a half-written folder never looks
    complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=temp_prefix()))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temp(folder: str | Path, *, max_age_s: float = 3600.0) -> list[Path]:
    """Remove temp files and folders left in `folder` by writers that were killed; returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not entry.name.startswith(".tmp-"):
            continue
        if entry.name.startswith(PREFIX):
            pid = entry.name[len(PREFIX):].split("-", 1)[0]
            stale = not pid.isdigit() or (int(pid) != os.getpid() and not _pid_alive(int(pid)))
        else:
            stale = time.time() - entry.stat().st_mtime > max_age_s
        if stale:
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def clean_workspace(root: str | Path) -> list[Path]:
    """Temp leftovers in the workspace's own folders (uploads, artifacts, the model cache)."""
    root = Path(root)
    removed = []
    for folder in (root, root / "uploads", root / "artifacts", root / "models", root / "exports"):
        removed += clean_stale_temp(folder)
    models = Path(os.environ["PRISM_MODELS"]) if os.environ.get("PRISM_MODELS") else None
    if models:
        removed += clean_stale_temp(models)
    return removed
