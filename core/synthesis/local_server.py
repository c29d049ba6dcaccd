"""The embedded generator: SmolLM2's GGUF served by llama.cpp (llama-cpp-python's OpenAI-compatible server) on
127.0.0.1, started on demand on a free port, spoken to through the standard client, and stopped when the run ends
(or the process exits: nothing is left behind).

Why llama.cpp: it samples from the quantised GGUF directly, several times faster than transformers on a CPU
(bench/generators.py), and it is the same OpenAI-compatible path a user takes to vLLM or a hosted API. Why
llama-cpp-python[server] rather than a packaged llama-server binary: both build llama.cpp from source with the
machine's cmake and gcc; llama-cpp-python is the one pinned on PyPI with an OpenAI-compatible server module and is
checked on these machines (NOTES), and its build is a wheel pip caches.
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Sequence

from core.config import DEFAULT_MODEL
from core.data.store import Store
from core.synthesis.generators import Request, RequestCache, Result

START_TIMEOUT_S = 120.0


def available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`python -m llama_cpp.server` for one GGUF file, as a context manager."""

    def __init__(self, gguf: str | Path, *, n_ctx: int = 2048, threads: int | None = None):
        self.gguf, self.n_ctx = Path(gguf), n_ctx
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> "LlamaServer":
        if not available():
            raise RuntimeError("llama.cpp is not installed: pip install 'llama-cpp-python[server]==0.3.36' (the "
                               "README's set-up does it), or use the transformers generator")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/v1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(self.gguf), "--host", "127.0.0.1", "--port",
             str(port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads), "--verbose", "False"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.stderr else ""
                raise RuntimeError(f"the llama.cpp server exited at start (code {self.proc.returncode}): {err}")
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the llama.cpp server did not answer within {START_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalGenerator:
    """The embedded model through a llama.cpp server this object starts on first use and stops on close()."""

    def __init__(self, store: Store, *, model: str = DEFAULT_MODEL, concurrency: int = 1, timeout: float = 300.0):
        from core.features.models import EMBEDDED_MODELS, _package_file, resolve_revision

        if model not in EMBEDDED_MODELS:
            raise ValueError(f"the local generator serves the embedded GGUF ({DEFAULT_MODEL}), not {model!r}")
        self.gguf = _package_file(*EMBEDDED_MODELS[model])
        self.name = "llama.cpp:" + model.split(":", 1)[-1]
        self.store, self.concurrency, self.timeout = store, concurrency, timeout
        # the cache key names the model file, not the server's (random) port: a relaunch reuses every answer
        self.cache_namespace = {"backend": "llama.cpp", "model": model, "rev": resolve_revision(model)}
        self.server: LlamaServer | None = None
        self._client = None

    def _ensure(self):
        if self._client is None:
            from core.synthesis.openai_backend import OpenAIGenerator

            self.server = LlamaServer(self.gguf).start()
            self._client = OpenAIGenerator(self.store, base_url=self.server.url, model="local",
                                           concurrency=self.concurrency, timeout=self.timeout)
            self._client.cache = RequestCache(self.store, self.cache_namespace)
        return self._client

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        cached = RequestCache(self.store, self.cache_namespace).get_many(requests)
        if all(c is not None for c in cached):  # a resumed run: no server needed
            return cached
        return self._ensure().generate(requests)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server, self._client = None, None
