"""Files the product writes: temp leftovers of killed writers are cleaned at the next start, and exports follow the
user's umask instead of mkstemp's 0600 (issue 9)."""
import os
import stat
import subprocess
import sys
import time

from tests.conftest import DATA, cli_env


def test_temp_files_of_killed_writers_are_cleaned_when_the_workspace_opens(workspace):
    from core.data.files import FOLDER_PREFIX, PREFIX
    from core.data.store import Store

    uploads, models = workspace / "uploads", workspace / "models"
    for folder in (uploads, models):
        folder.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (uploads / f"{PREFIX}{dead.pid}-abc_1234").write_bytes(b"half an upload")
    (models / f"{FOLDER_PREFIX}{dead.pid}-dequant0").mkdir()  # a de-quantisation killed halfway: a 131 MB folder
    (models / f"{FOLDER_PREFIX}{dead.pid}-dequant0" / "model.safetensors").write_bytes(b"x" * 1000)
    old = uploads / ".tmp-legacy"  # not provably ours (issue 17): kept, whatever its age
    old.write_bytes(b"from an older version")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    mine = uploads / f"{PREFIX}{os.getpid()}-live0000"  # a live writer's temp file is left alone
    mine.write_bytes(b"in progress")
    Store().close()
    assert sorted(p.name for p in uploads.iterdir()) == sorted([mine.name, old.name])
    assert list(models.iterdir()) == []


def test_a_killed_export_leaves_no_half_file_and_the_next_export_cleans_up(workspace, tmp_path):
    from core.data.files import PREFIX

    env = cli_env(workspace)
    assert subprocess.run([sys.executable, "-m", "core", "ingest", str(DATA / "mixture_24.jsonl"), "--name", "m"],
                          env=env, capture_output=True).returncode == 0
    out = tmp_path / "exports" / "grown.jsonl"
    out.parent.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out.parent / f"{PREFIX}{dead.pid}-grown_01").write_bytes(b'{"id": "half')  # what kill -9 mid-export leaves
    old_umask = os.umask(0o022)
    try:
        res = subprocess.run([sys.executable, "-m", "core", "export", "m", "--out", str(out)], env=env,
                             capture_output=True, text=True)
    finally:
        os.umask(old_umask)
    assert res.returncode == 0, res.stderr
    assert [p.name for p in out.parent.iterdir()] == ["grown.jsonl"]
    assert len(out.read_text().splitlines()) == 24
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # the user's umask, not 0600
