"""Helpers the tests share: the CLI in a child process (`run_cli`, `cli_env`), a CLI run killed with kill -9 right after
it committed progress (`kill_after_progress`), a free localhost port (`free_port`), a thread hammer (`hammer`), and the
light feature config (`LIGHT_FIELDS`, `light_config`, `LIGHT_FLAGS`, `run_cli(..., light=True)`) for tests of the
real model whose subject is not the features' fidelity: featurising with the product's default config costs seconds a
row on a 2-core CPU (tests/test_cli.py keeps one real run of the default config)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "fixtures"

# the top block only, a 64-wide sketch and 64 dimensions, 32 tokens: the same code paths, a fraction of the cost
LIGHT_FIELDS = {"fast_blocks": 1, "sketch_dim": 64, "dim": 64, "max_length": 32}
LIGHT_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in LIGHT_FIELDS.items()]  # the same, as CLI options
# the real CLI with every feature config it makes by default made light (commands without feature options, such as
# synthesize, take feature_config()'s defaults)
_LIGHT_DRIVER = """
import sys
import core.features.compute as compute
_default = compute.feature_config
compute.feature_config = lambda **kw: _default(**{{**{fields!r}, **kw}})
from core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def light_config(**fields):
    """The embedded model's feature config, light (LIGHT_FIELDS; `fields` override)."""
    from core.features.compute import feature_config

    return feature_config(**{**LIGHT_FIELDS, **fields})


def cli_env(workspace: Path, extra: dict | None = None) -> dict:
    """The environment of a `python -m core` child working in `workspace` (plus `extra`)."""
    env = dict(os.environ)
    env["PRISM_HOME"] = str(workspace)
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env | (extra or {})


def fake_features(store, name: str, config, label: str = "source") -> None:
    """Write the features and losses an analysis of dataset `name` under `config` would (random vectors grouped by the
    `label` column, tests/app/fakes.py), so a run that starts from them (synthesis) loads no model for its seed."""
    from tests.app.fakes import fake_losses, grouped_vectors

    samples = store.samples(name)
    fake_losses(store, name, config)
    store.write_features(config, [s.content_hash for s in samples],
                         grouped_vectors([str(s.meta.get(label, "")) for s in samples], config.dim))


def cli_command(args, light: bool | dict) -> list[str]:
    """The child's command line; `light` True (LIGHT_FIELDS) or a dict of fields that override LIGHT_FIELDS."""
    if not light:
        return [sys.executable, "-m", "core", *map(str, args)]
    fields = LIGHT_FIELDS | (light if isinstance(light, dict) else {})
    return [sys.executable, "-c", _LIGHT_DRIVER.format(fields=fields), *map(str, args)]


def run_cli(workspace: Path, *args, env_extra: dict | None = None, light: bool | dict = False,
            timeout: float = 900) -> subprocess.CompletedProcess:
    """`python -m core ARGS` in `workspace` (light: with the light feature config), stdout and stderr as text."""
    return subprocess.run(cli_command(args, light), env=cli_env(workspace, env_extra), capture_output=True, text=True,
                          timeout=timeout)


def kill_after_progress(workspace: Path, *args, stage: str, past_zero: bool = True, env_extra: dict | None = None,
                        light: bool | dict = False, timeout: float = 600) -> int:
    """Start `python -m core ARGS` and kill -9 it at its first `progress STAGE` line on stderr (with past_zero, the
    first one past 0/N: a batch or step is committed); returns its exit status (-SIGKILL when it was killed there)."""
    proc = subprocess.Popen(cli_command(args, light), env=cli_env(workspace, env_extra), stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stderr:
            if line.startswith(f"progress {stage}") and not (past_zero and line.split()[2].startswith("0/")):
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=timeout)
        proc.stderr.close()
    return proc.returncode


def free_port() -> int:
    """A port nothing listens on at the moment, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hammer(fn: Callable[[int], object], n_threads: int = 8, repeats: int = 15) -> list[Exception]:
    """Call fn(thread index) `repeats` times on each of n_threads threads released together; the exceptions raised."""
    errors, barrier = [], threading.Barrier(n_threads)

    def run(i: int) -> None:
        barrier.wait()
        try:
            for _ in range(repeats):
                fn(i)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@contextlib.contextmanager
def app_workspace(path: Path, env: dict | None = None):
    """A module's AppTests on their own workspace: PRISM_HOME (and `env`) pointed at `path`, Streamlit's per-process
    store and runner started afresh on it; after them the jobs still running are waited for, the caches cleared and
    the environment put back."""
    import streamlit as st

    old = {k: os.environ.get(k) for k in ["PRISM_HOME", *(env or {})]}
    os.environ["PRISM_HOME"] = str(path)
    os.environ.update({k: str(v) for k, v in (env or {}).items()})
    st.cache_resource.clear()
    st.cache_data.clear()
    try:
        yield path
    finally:
        from ui import get_runner

        runner = get_runner()
        for (job_id,) in runner.store.query("SELECT id FROM jobs WHERE status IN ('queued','running')"):
            runner.wait(job_id, timeout=300)
        st.cache_resource.clear()
        st.cache_data.clear()
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def open_app(page: str | None = None, *, timeout: float = 120, **query):
    """A Streamlit AppTest of app.py, run once with `query` as its URL's query parameters (then switched to `page`
    when given and run again), with no exception raised by either run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page)
        at.run()
        assert not at.exception, at.exception
    return at


def gone(pid: int) -> bool:
    """No such process, or only its zombie (re-parented to an init that has not reaped it yet)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state


def wait_gone(pid: int, seconds: float = 15.0) -> bool:
    """Whether the process is gone (see `gone`) within `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.1)
    return False


def ingest_mix(workspace: Path) -> Path:
    """The 24-row mixture ingested as 'mix' through the real CLI; returns the workspace."""
    res = run_cli(workspace, "ingest", str(DATA / "mixture_24.jsonl"), "--name", "mix")
    assert res.returncode == 0, res.stderr
    return workspace


def module_app_workspace(name: str):
    """A module-scoped pytest fixture: a fresh workspace named `name` for the module's AppTests (app_workspace)."""
    import pytest

    @pytest.fixture(scope="module")
    def ws(tmp_path_factory):
        with app_workspace(tmp_path_factory.mktemp(name)) as path:
            yield path

    return ws
