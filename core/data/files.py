"""Files the product writes: atomically (a temp name in the same folder, then a rename), with the user's umask, and
temp files of killed writers cleaned up the next time anything starts.

A temp file is named `.tmp-prism-<pid>-<mkstemp suffix>` and a temp folder `.tmp-prismdir-<pid>-<mkdtemp suffix>`.
Cleanup removes only what the product provably wrote: an entry whose name matches one of those exact patterns, of
the right kind (a regular file for the file pattern, a real folder for the folder pattern; never a symlink), owned by
this user, whose writer process is gone. Anything else named `.tmp-*` belongs to someone else and is never touched,
whatever its age. A user's own folder (an export's) is only ever swept of temp files, never of folders.

An output path the user names is checked before anything is written (`check_target`): an existing target must be a
regular file (not a symlink, device, fifo, socket or folder), and never one of the workspace's own files.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

PREFIX = ".tmp-prism-"  # temp files (atomic_file)
FOLDER_PREFIX = ".tmp-prismdir-"  # temp folders (atomic_folder)
_SUFFIX = r"[a-z0-9_]{8}"  # what tempfile.mkstemp / mkdtemp add (CPython's _RandomNameSequence)
TEMP_FILE = re.compile(re.escape(PREFIX) + r"([0-9]{1,10})-" + _SUFFIX)
TEMP_FOLDER = re.compile(re.escape(FOLDER_PREFIX) + r"([0-9]{1,10})-" + _SUFFIX)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once: os.umask can only be read by setting it


def temp_prefix() -> str:
    return f"{PREFIX}{os.getpid()}-"


def folder_prefix() -> str:
    return f"{FOLDER_PREFIX}{os.getpid()}-"


_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def check_target(path: str | Path, protect: Iterable[str | Path] = ()) -> Path:
    """Refuse (ValueError) an output path that must not be replaced: an existing entry that is not a regular file
    (checked with lstat: a symlink is refused whatever it points to), or one of the `protect`ed files or anything
    under a protected folder (the workspace's own files; compared by resolved path and by inode, so a hard link or
    a `..` path is caught too). An existing regular file of the user's may be overwritten: that is what an output
    path is for. Returns the path."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise ValueError(f"refusing to write to {path}: it is {kind}; name a regular file (or a new path)")
    resolved = path.parent.resolve() / path.name
    for p in protect:
        p = Path(p)
        guarded = p.resolve()
        if resolved == guarded or guarded in resolved.parents:
            raise ValueError(f"refusing to write to {path}: it is the workspace's own {guarded}; "
                             f"name a path outside the workspace's internal files")
        if st is not None:
            with contextlib.suppress(OSError):
                other = os.stat(p)
                if stat.S_ISREG(other.st_mode) and (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                    raise ValueError(f"refusing to write to {path}: it is the same file as the workspace's own "
                                     f"{guarded}")
    return path


def workspace_files(db_path: str | Path) -> list[Path]:
    """What an output must never replace: the workspace's DuckDB file, its WAL, and its internal folders."""
    db_path = Path(db_path)
    root = db_path.parent
    out = [db_path, db_path.with_name(db_path.name + ".wal"), root / "uploads", root / "artifacts", root / "models"]
    if os.environ.get("PRISM_MODELS"):
        out.append(Path(os.environ["PRISM_MODELS"]))
    return out


@contextlib.contextmanager
def atomic_file(path: str | Path, *, mode: int = 0o666, protect: Iterable[str | Path] | None = None) -> Iterator:
    """Open a private temp file next to `path` for binary writing; on success it replaces `path` with permissions
    mode & ~umask (mkstemp's 0600 would hide an export from the user's group); on any error it is removed.
    With `protect` (an output the user named) the target is checked first, and again just before the rename
    (check_target): nothing is written, and nothing replaced, when it is refused."""
    path = Path(path)
    guard = list(protect) if protect is not None else None
    if guard is not None:
        check_target(path, guard)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix())
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, mode & ~UMASK)
        if guard is not None:
            check_target(path, guard)  # it may have changed while we wrote
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
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=folder_prefix()))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid at all: not provably gone
    return True


def stale_temp(entry: Path, *, folders: bool) -> bool:
    """Whether `entry` is a temp file (or, with folders, a temp folder) the product wrote and whose writer is gone."""
    m_file, m_folder = TEMP_FILE.fullmatch(entry.name), TEMP_FOLDER.fullmatch(entry.name)
    if not (m_file or (folders and m_folder)):
        return False
    try:
        st = os.lstat(entry)
    except OSError:
        return False
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return False
    kind_ok = stat.S_ISREG(st.st_mode) if m_file else stat.S_ISDIR(st.st_mode)
    return kind_ok and not _pid_alive(int((m_file or m_folder).group(1)))


def clean_stale_temp(folder: str | Path, *, folders: bool = False) -> list[Path]:
    """Remove the temp files (and, with folders=True, temp folders) that killed writers of the product left in
    `folder`; returns what was removed. Nothing else is ever touched (stale_temp)."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if not stale_temp(entry, folders=folders):
            continue
        if TEMP_FOLDER.fullmatch(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def clean_workspace(root: str | Path) -> list[Path]:
    """Temp leftovers in the workspace's own folders (uploads, artifacts, the model cache)."""
    root = Path(root)
    removed = []
    for folder in (root, root / "uploads", root / "artifacts", root / "models", root / "exports"):
        removed += clean_stale_temp(folder, folders=True)
    models = Path(os.environ["PRISM_MODELS"]) if os.environ.get("PRISM_MODELS") else None
    if models:
        removed += clean_stale_temp(models, folders=True)
    return removed
