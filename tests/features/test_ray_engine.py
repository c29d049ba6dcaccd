"""The Ray Data engine on a real local Ray instance (2 CPUs, no dashboard): same vectors under the same keys as the
local engine, a worker that dies after its first batch is replaced and every row lands once, and a driver killed
with kill -9 resumes with only the missing rows (issue 7; slow). The light feature config (tests/helpers.py): the
engine is the subject, not the features."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import DATA, LIGHT_FLAGS, kill_after_progress, light_config, run_cli

ray = pytest.importorskip("ray")
N = 32


@pytest.fixture(scope="module")
def rows32(tmp_path_factory):
    """32 GSM8K-like rows: the 24 of the mixture fixture and 8 of the GSM8K fixture."""
    path = tmp_path_factory.mktemp("ray-data") / "rows32.jsonl"
    lines = (DATA / "mixture_24.jsonl").read_text().splitlines() + (DATA / "gsm8k_8.jsonl").read_text().splitlines()
    path.write_text("\n".join(lines[:N]) + "\n")
    return path


def vectors(workspace, name):
    from core.data.store import Store

    with Store() as store:
        cfg = light_config()
        ids, X = store.load_features(name, cfg.key(), cfg.dim)
        total, distinct = store.query(f"SELECT count(*), count(DISTINCT content_hash) FROM features_d{cfg.dim}")[0]
    return dict(zip(ids, X)), total, distinct


def test_ray_with_two_workers_equals_the_local_engine_and_survives_a_dead_worker(workspace, tmp_path, rows32):
    marker = tmp_path / "killed-once"
    assert run_cli(workspace, "ingest", str(rows32), "--name", "r").returncode == 0
    env_kill = {"PRISM_TEST_RAY_KILL_AFTER_FIRST_BATCH": str(marker)}
    res = run_cli(workspace, "features", "r", "--engine", "ray", "--workers", "2", "--rows-per-task", "8", *LIGHT_FLAGS,
                  "--json", env_extra=env_kill)
    assert res.returncode == 0, res.stderr[-3000:]
    assert marker.exists()  # a worker did die after its first batch, and the run still completed
    out = json.loads(res.stdout)
    assert out["n"] == N and out["computed"] == N
    ray_vecs, total, distinct = vectors(workspace, "r")
    assert total == distinct == N  # every row once, the retried batch included

    local_ws = tmp_path / "local"
    assert run_cli(local_ws, "ingest", str(rows32), "--name", "r").returncode == 0
    res = run_cli(local_ws, "features", "r", *LIGHT_FLAGS, "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    os.environ["PRISM_HOME"] = str(local_ws)
    local_vecs, _, _ = vectors(local_ws, "r")
    os.environ["PRISM_HOME"] = str(workspace)
    assert set(ray_vecs) == set(local_vecs)  # the same keys
    diff = max(float(np.abs(ray_vecs[i] - local_vecs[i]).max()) for i in ray_vecs)
    assert diff <= 1e-5, diff


@pytest.mark.slow  # the resume (only the missing rows, listed once in _compute_features) is the local engine's, which
# tests/test_cli.py kills and resumes; Ray's own path (workers, a retried batch) is the test above's
def test_a_killed_driver_resumes_with_only_the_missing_rows(workspace, rows32):
    assert run_cli(workspace, "ingest", str(rows32), "--name", "r").returncode == 0
    try:  # kill -9 right after the driver committed a batch
        rc = kill_after_progress(workspace, "features", "r", "--engine", "ray", "--workers", "2", "--rows-per-task",
                                 "8", *LIGHT_FLAGS, stage="features")
    finally:
        subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], capture_output=True)
    assert rc == -signal.SIGKILL
    _, present, _ = vectors(workspace, "r")
    assert 0 < present < N
    res = run_cli(workspace, "features", "r", "--engine", "ray", "--workers", "2", "--rows-per-task", "8", *LIGHT_FLAGS,
                  "--json")
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["computed"] == N - present and out["cached"] == present
    _, total, distinct = vectors(workspace, "r")
    assert total == distinct == N
