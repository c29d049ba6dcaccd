"""The embedded generator: SmolLM2's GGUF served by llama.cpp (llama-cpp-python's OpenAI-compatible server) on
127.0.0.1, spoken to through the standard client, and never left behind; when llama.cpp cannot run here, the same
model through transformers, with the reason said.

Why llama.cpp: it samples from the quantised GGUF directly, several times faster than transformers on a CPU
(bench/generators.py), and it is the same OpenAI-compatible path a user takes to vLLM or a hosted API. The set-up
builds it portable (no -march=native, no AMX: see the Makefile), because a native build died with SIGILL on a CPU
that advertises AMX under a kernel that does not let the process use it.

The server process (llama_launch.py) and this module agree on a small contract:
- The server binds 127.0.0.1:0 itself and prints its port; the parent never picks a port that someone else may take.
- The parent proves the answering server is its own (an HMAC of a random challenge under a token passed on stdin)
  and the server takes that token as its API key.
- The server exits when its stdin closes: whenever the parent exits, however it exits (kill -9 and SIGTERM included),
  the server goes with it.
- The parent drains the server's stderr and keeps its last lines. If the server fails to start or dies (a signal, an
  exit code), the reason is said in words with those lines, and LocalGenerator carries on with the transformers
  generator (same model, in process, slower); the notice is kept in `notices` and recorded in the run's summary.
"""
from __future__ import annotations

import atexit
import collections
import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Sequence

from core.config import DEFAULT_MODEL
from core.data.store import Store
from core.synthesis.generators import Request, RequestCache, Result

START_TIMEOUT_S = 120.0
LAUNCHER = Path(__file__).with_name("llama_launch.py")
STDERR_LINES = 30
log = logging.getLogger(__name__)


def available() -> bool:
    """Whether llama-cpp-python is installed (found, not imported: its native code runs in the server only)."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


class ServerFailed(RuntimeError):
    """The llama.cpp server could not start, or died; the message says why in words."""


def describe_exit(code: int | None, stderr_tail: list[str]) -> str:
    """Why the server process ended, with its last stderr lines."""
    if code is None:
        what = "did not answer in time"
    elif code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        what = f"was killed by {name}"
        if -code == signal.SIGILL:
            what += (" (an instruction this CPU or its kernel refuses: the llama.cpp build is not portable to this "
                     "machine; reinstall it with `make setup`, which builds it without -march=native and AMX)")
        elif -code == signal.SIGKILL:
            what += " (killed from outside, or out of memory)"
    else:
        what = f"exited with code {code}"
    tail = " | ".join(line.strip() for line in stderr_tail[-5:] if line.strip())
    return f"the llama.cpp server {what}" + (f"; its last messages: {tail}" if tail else "")


class LlamaServer:
    """The server process for one GGUF file, as a context manager. `command` replaces the launcher (tests)."""

    def __init__(self, gguf: str | Path, *, n_ctx: int = 2048, threads: int | None = None,
                 command: Sequence[str] | None = None, start_timeout: float = START_TIMEOUT_S):
        self.gguf, self.n_ctx = Path(gguf), n_ctx
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.command = list(command) if command else [sys.executable, str(LAUNCHER)]
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.token = ""
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)

    # ---- life ------------------------------------------------------------------------------------------------

    def start(self) -> "LlamaServer":
        if not available() and self.command[-1] == str(LAUNCHER):
            raise ServerFailed("llama.cpp is not installed (pip install 'llama-cpp-python[server]==0.3.36'; the "
                               "README's set-up does it)")
        self.token = secrets.token_hex(16)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*self.command, "--model", str(self.gguf), "--n-ctx", str(self.n_ctx), "--threads", str(self.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
        atexit.register(self.stop)
        self.proc.stdin.write((json.dumps({"token": self.token}) + "\n").encode())
        self.proc.stdin.flush()  # and kept open: the server lives while this pipe does
        threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True, name="llama-stderr").start()
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_stdout, args=(self.proc, lines), daemon=True, name="llama-stdout").start()
        deadline = time.monotonic() + self.start_timeout
        try:
            port = self._wait_for_port(lines, deadline)
            self.url = f"http://127.0.0.1:{port}/v1"
            self._prove(port, deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        for raw in iter(proc.stderr.readline, b""):
            self.stderr_tail.append(raw.decode(errors="replace").rstrip())

    @staticmethod
    def _read_stdout(proc: subprocess.Popen, lines: queue.Queue) -> None:
        for raw in iter(proc.stdout.readline, b""):
            lines.put(raw)

    def _failed(self, code: int | None) -> ServerFailed:
        time.sleep(0.2)  # let the stderr thread catch the last lines
        return ServerFailed(describe_exit(code, list(self.stderr_tail)))

    def _wait_for_port(self, lines: queue.Queue, deadline: float) -> int:
        while time.monotonic() < deadline:
            try:
                raw = lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise self._failed(self.proc.returncode) from None
                continue
            try:
                return int(json.loads(raw)["port"])
            except (ValueError, KeyError, TypeError):
                self.stderr_tail.append(raw.decode(errors="replace").rstrip())  # stray output: keep it as context
        raise self._failed(None)

    def _prove(self, port: int, deadline: float) -> None:
        """The answering server must hold our token (an HMAC of a fresh challenge), or nothing is sent to it."""
        challenge = secrets.token_hex(16)
        expected = hmac.new(self.token.encode(), challenge.encode(), hashlib.sha256).hexdigest()
        last = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self._failed(self.proc.returncode)
            try:
                url = f"http://127.0.0.1:{port}/prism/hello?challenge={challenge}"
                with urllib.request.urlopen(url, timeout=5) as r:
                    mac = json.loads(r.read()).get("mac", "")
            except (OSError, ValueError) as exc:
                last = str(exc)
                time.sleep(0.2)
                continue
            if hmac.compare_digest(str(mac), expected):
                return
            raise ServerFailed(f"the server on port {port} is not the one this process started (wrong proof)")
        raise ServerFailed(f"the llama.cpp server did not answer within {self.start_timeout:.0f} s ({last})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reason(self) -> str:
        """Why the server is not running (for a notice); '' while it runs."""
        if self.proc is None:
            return "the llama.cpp server was stopped"
        code = self.proc.poll()
        return "" if code is None else str(self._failed(code))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        atexit.unregister(self.stop)
        if proc is None:
            return
        try:
            proc.stdin.close()  # the server's own cue to exit
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _client_for(server: LlamaServer, store: Store, concurrency: int, timeout: float):
    """An OpenAI client on the server that stops retrying as soon as the server is dead (its answer will not come)."""
    from core.synthesis.openai_backend import OpenAIGenerator

    class ServerClient(OpenAIGenerator):
        def _classify(self, exc: Exception):
            if not server.alive():
                return False, None, False
            return super()._classify(exc)

    return ServerClient(store, base_url=server.url, model="local", api_key=server.token, concurrency=concurrency,
                        timeout=timeout)


class LocalGenerator:
    """The embedded model through a llama.cpp server this object starts on first use and stops on close(); the
    transformers generator takes over, with a notice, when the server cannot start or dies."""

    def __init__(self, store: Store, *, model: str = DEFAULT_MODEL, concurrency: int = 1, timeout: float = 300.0,
                 server_command: Sequence[str] | None = None):
        from core.features.models import EMBEDDED_MODELS, _package_file, resolve_revision

        if model not in EMBEDDED_MODELS:
            raise ValueError(f"the local generator serves the embedded GGUF ({DEFAULT_MODEL}), not {model!r}")
        self.model = model
        self.gguf = _package_file(*EMBEDDED_MODELS[model])
        self.name = "llama.cpp:" + model.split(":", 1)[-1]
        self.store, self.concurrency, self.timeout = store, concurrency, timeout
        self.server_command = server_command
        # the cache key names the model file, not the server's (random) port: a relaunch reuses every answer
        self.cache_namespace = {"backend": "llama.cpp", "model": model, "rev": resolve_revision(model)}
        self.server: LlamaServer | None = None
        self.notices: list[str] = []
        self._client = None
        self._fallback = None

    def _ensure(self):
        if self._client is None:
            self.server = LlamaServer(self.gguf, command=self.server_command).start()
            self._client = _client_for(self.server, self.store, self.concurrency, self.timeout)
            self._client.cache = RequestCache(self.store, self.cache_namespace)
        return self._client

    def _fall_back(self, reason: str):
        from core.synthesis.embedded import EmbeddedGenerator

        notice = f"{reason}. Generating with transformers instead (the same model in this process, slower)."
        self.notices.append(notice)
        log.warning(notice)
        self.close()
        self._fallback = EmbeddedGenerator(self.store, model=self.model)
        return self._fallback

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        if self._fallback is not None:
            return self._fallback.generate(requests)
        cached = RequestCache(self.store, self.cache_namespace).get_many(requests)
        if all(c is not None for c in cached):  # a resumed run: no server needed
            return cached
        try:
            client = self._ensure()
        except ServerFailed as exc:
            return self._fall_back(str(exc)).generate(requests)
        results = client.generate(requests)
        if self.server is not None and not self.server.alive():
            fallback = self._fall_back(self.server.reason())
            redo = [i for i, r in enumerate(results) if r.text is None]
            for i, result in zip(redo, fallback.generate([requests[i] for i in redo])):
                results[i] = result
        return results

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server, self._client = None, None
