"""Helpers the tests share: the CLI in a child process (`run_cli`, `cli_env`), a CLI run killed with kill -9 right after
it committed progress (`kill_after_progress`), a free localhost port (`free_port`) and a thread hammer (`hammer`)."""
from __future__ import annotations

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


def cli_env(workspace: Path, extra: dict | None = None) -> dict:
    """The environment of a `python -m core` child working in `workspace` (plus `extra`)."""
    env = dict(os.environ)
    env["PRISM_HOME"] = str(workspace)
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env | (extra or {})


def run_cli(workspace: Path, *args, env_extra: dict | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess:
    """`python -m core ARGS` in `workspace`, its stdout and stderr captured as text."""
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], env=cli_env(workspace, env_extra),
                          capture_output=True, text=True, timeout=timeout)


def kill_after_progress(workspace: Path, *args, stage: str, past_zero: bool = True, env_extra: dict | None = None,
                        timeout: float = 600) -> int:
    """Start `python -m core ARGS` and kill -9 it at its first `progress STAGE` line on stderr (with past_zero, the
    first one past 0/N: a batch or step is committed); returns its exit status (-SIGKILL when it was killed there)."""
    proc = subprocess.Popen([sys.executable, "-m", "core", *map(str, args)], env=cli_env(workspace, env_extra),
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
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
