"""Issue 17, holes 1 and 2: the product deletes only temp entries it provably wrote (exact name, right kind, writer
gone), and an output path is never a symlink, a device, a fifo, a folder or one of the workspace's own files."""
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import DATA, cli_env


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def aged(path, hours=2.0):
    then = time.time() - hours * 3600
    os.utime(path, (then, then), follow_symlinks=False)
    return path


def foreign_entries(folder, pid: int) -> dict:
    """Entries named like temp files that the product did not write (or cannot prove it did): all must survive."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    made["other program, old"] = folder / ".tmp-editor-swap"
    made["other program, old"].write_bytes(b"someone's swap file")
    aged(made["other program, old"])
    made["prism prefix, no pid"] = folder / ".tmp-prism-notapid"
    made["prism prefix, no pid"].write_bytes(b"not ours to judge")
    made["user folder, old"] = folder / ".tmp-photos"
    made["user folder, old"].mkdir()
    (made["user folder, old"] / "holiday.jpg").write_bytes(b"jpeg")
    aged(made["user folder, old"])
    made["file pattern, but a folder"] = folder / f".tmp-prism-{pid}-abcd_123"
    made["file pattern, but a folder"].mkdir()
    (made["file pattern, but a folder"] / "keep").write_bytes(b"x")
    target = folder.parent / f"victim-{folder.name}.txt"
    target.write_bytes(b"precious")
    made["file pattern, but a symlink"] = folder / f".tmp-prism-{pid}-zzzzzzzz"
    made["file pattern, but a symlink"].symlink_to(target)
    made["not the exact pattern"] = folder / f".tmp-prism-{pid}-half-an-upload"
    made["not the exact pattern"].write_bytes(b"?")
    return made


def test_opening_a_workspace_deletes_only_the_products_own_dead_temp_entries(workspace):
    from core.data.store import Store

    PREFIX, FOLDER_PREFIX = ".tmp-prism-", ".tmp-prismdir-"  # the names files.atomic_file / atomic_folder give
    pid = dead_pid()
    uploads, models = workspace / "uploads", workspace / "models"
    keep = foreign_entries(uploads, pid)
    models.mkdir(parents=True)
    ours_file = uploads / f"{PREFIX}{pid}-k3j_9xq2"
    ours_file.write_bytes(b"half an upload")
    ours_folder = models / f"{FOLDER_PREFIX}{pid}-a1b2c3d4"  # a de-quantisation killed halfway
    ours_folder.mkdir()
    (ours_folder / "model.safetensors").write_bytes(b"x" * 100)
    live = uploads / f"{PREFIX}{os.getpid()}-livewrit"  # a live writer's temp file
    live.write_bytes(b"in progress")
    Store().close()
    for what, path in keep.items():
        assert os.path.lexists(path), f"deleted: {what}"
    assert (keep["user folder, old"] / "holiday.jpg").read_bytes() == b"jpeg"
    assert (uploads.parent / "victim-uploads.txt").read_bytes() == b"precious"
    assert not ours_file.exists() and not ours_folder.exists() and live.exists()


def test_export_never_sweeps_the_users_folder_of_anything_but_its_own_dead_temp_file(workspace, tmp_path):
    from core.data.files import PREFIX
    from core.data.store import Store
    from core.data.ingest import ingest_file
    from core.synthesis.export import export

    pid = dead_pid()
    folder = tmp_path / "my-exports"
    keep = foreign_entries(folder, pid)
    ours = folder / f"{PREFIX}{pid}-q8w7e6r5"  # what kill -9 mid-export leaves
    ours.write_bytes(b'{"id": "half')
    with Store() as store:
        store.save_dataset("m", ingest_file(DATA / "mixture_24.jsonl"), source="x")
        assert export(store, "m", run_id=None, fmt="jsonl", out=folder / "grown.jsonl") == 24
    for what, path in keep.items():
        assert os.path.lexists(path), f"deleted: {what}"
    assert not ours.exists()


def test_an_atomic_folder_is_named_as_a_folder_and_cleaned_as_one(tmp_path):
    from core.data.files import TEMP_FOLDER, atomic_folder, clean_stale_temp

    seen = []
    with atomic_folder(tmp_path / "cache") as tmp:
        seen.append(tmp.name)
        (tmp / "a").write_bytes(b"1")
    assert TEMP_FOLDER.fullmatch(seen[0]) and (tmp_path / "cache" / "a").exists()
    pid = dead_pid()
    (tmp_path / f".tmp-prismdir-{pid}-abcdefgh").mkdir()
    assert clean_stale_temp(tmp_path) == []  # a user's folder: temp folders are never swept there
    assert [p.name for p in clean_stale_temp(tmp_path, folders=True)] == [f".tmp-prismdir-{pid}-abcdefgh"]


@pytest.fixture()
def exported(workspace):
    env = cli_env(workspace)
    res = subprocess.run([sys.executable, "-m", "core", "ingest", str(DATA / "mixture_24.jsonl"), "--name", "m"],
                         env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return env


def export_cli(env, out):
    return subprocess.run([sys.executable, "-m", "core", "export", "m", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=120)


def test_export_refuses_a_symlink_a_fifo_and_a_folder_and_writes_nothing(exported, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    link = tmp_path / "out.jsonl"
    link.symlink_to(victim)
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    (folder / "inside").write_bytes(b"kept")
    for out, kind in ((link, "symbolic link"), (fifo, "named pipe"), (folder, "folder")):
        before = sorted(p.name for p in tmp_path.iterdir())
        res = export_cli(exported, out)
        assert res.returncode == 2 and kind in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.strip().startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temp file left, nothing replaced
    assert link.is_symlink() and victim.read_bytes() == b"precious"
    assert (folder / "inside").read_bytes() == b"kept"
    import stat

    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_export_refuses_the_workspaces_own_files(exported, workspace, tmp_path):
    db = workspace / "prism.duckdb"
    size = db.stat().st_size
    (workspace / "artifacts").mkdir(exist_ok=True)
    for out in (db, workspace / "prism.duckdb.wal", workspace / "artifacts" / "x.npz",
                workspace / "uploads" / ".." / "prism.duckdb"):
        res = export_cli(exported, out)
        assert res.returncode == 2 and "workspace" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert db.stat().st_size == size
    assert not (workspace / "prism.duckdb.wal").exists() and not (workspace / "artifacts" / "x.npz").exists()
    res = subprocess.run([sys.executable, "-m", "core", "datasets", "--json"], env=exported, capture_output=True,
                         text=True)
    assert res.returncode == 0 and '"m"' in res.stdout  # the workspace is whole


def test_export_overwrites_a_regular_file_the_user_names(exported, tmp_path):
    out = tmp_path / "grown.jsonl"
    out.write_text("old\n")
    res = export_cli(exported, out)
    assert res.returncode == 0, res.stderr
    assert len(out.read_text().splitlines()) == 24 and not out.is_symlink()


def test_check_target_refuses_a_device_node():
    from core.data.files import check_target

    with pytest.raises(ValueError, match="character device"):
        check_target("/dev/null")  # never written to, even on failure: exports go through a temp file + rename


def test_selection_export_refuses_like_export(store, tmp_path):
    from core.analysis.selection_export import export_selection
    from core.data.ingest import ingest_file

    store.save_dataset("m", ingest_file(DATA / "mixture_24.jsonl"), source="x")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    link = tmp_path / "sel.jsonl"
    link.symlink_to(victim)
    ids = [s.id for s in store.samples("m")][:3]
    for out, message in ((link, "symbolic link"), (store.path, "workspace")):
        with pytest.raises(ValueError, match=message):
            export_selection(store, "m", ids, out=out, fmt="jsonl", method="greedy")
    assert victim.read_bytes() == b"precious" and link.is_symlink()
    assert store.dataset_names() == ["m"]
    assert export_selection(store, "m", ids, out=tmp_path / "ok.jsonl", fmt="jsonl", method="greedy") == 3
