"""Generators behind one interface: the embedded SmolLM2 (embedded.py) or any OpenAI-compatible endpoint
(openai_backend.py), with one request cache.

Every request is cached by the hash of its payload (model, endpoint, messages, sampling params, sample index; never
the API key) with its result or its final error, so a resumed run never pays for a request twice. What is cached is
an answer of the generator: a good reply, or a final error about the request itself (a 400, a reply without text).
Not cached: errors that say nothing about the request (timeouts, 5xx, 429, connection), and errors about the client's
own configuration (401/403/404: a wrong key, model or URL), which the user fixes and then expects to be retried.
A good reply is never overwritten, and identical requests in one call are sent once.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Protocol, Sequence

from core.config import DEFAULT_MODEL, stable_hash
from core.data.store import Store
from core.synthesis.settings import KINDS, endpoint_problems


@dataclasses.dataclass(frozen=True)
class Request:
    messages: tuple[tuple[str, str], ...]  # (role, content)
    temperature: float = 1.0
    top_p: float = 0.95
    max_tokens: int = 512
    sample: int = 0  # the i-th independent sample of the same prompt: part of the cache key and the seed

    def payload(self) -> dict:
        return {"messages": [list(m) for m in self.messages], "temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "sample": self.sample}


@dataclasses.dataclass(frozen=True)
class Result:
    text: str | None
    error: str | None = None
    cached: bool = False
    attempts: int = 1


class Generator(Protocol):
    name: str  # what provenance records: backend and model, never a secret

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        ...


class RequestCache:
    """Result-or-error per payload hash in the workspace store."""

    def __init__(self, store: Store, namespace: dict):
        self.store = store
        self.namespace = namespace

    def key(self, request: Request) -> str:
        return stable_hash({"ns": self.namespace, "req": request.payload()}, length=32)

    def get(self, request: Request) -> Result | None:
        return self.get_many([request])[0]

    def get_many(self, requests: Sequence[Request]) -> list[Result | None]:
        """One query for a whole batch of requests (a query per request costs more than a fast endpoint)."""
        keys = [self.key(r) for r in requests]
        found = self.store.llm_cached(keys)
        return [Result(*found[k], cached=True, attempts=0) if k in found else None for k in keys]

    def put(self, request: Request, result: Result) -> None:
        self.put_many([(request, result)])

    def put_many(self, items: Sequence[tuple[Request, Result]]) -> None:
        """Insert, or replace a cached error; a cached good reply always stays (two racing writers of one key).
        One transaction for the lot: a commit per reply would cap a fast endpoint at the disk's fsync rate."""
        if not items:
            return
        self.store.llm_cache_put([(self.key(r), res.text, res.error) for r, res in items])


class CacheWriter:
    """Buffers cache puts from many threads and writes them in one transaction every `every` results or `seconds`,
    and at exit: a killed run loses at most the last few seconds of replies (it asks for them again)."""

    def __init__(self, cache: RequestCache, *, every: int = 64, seconds: float = 1.0):
        import threading

        self.cache, self.every, self.seconds = cache, every, seconds
        self._items: list[tuple[Request, Result]] = []
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def put(self, request: Request, result: Result) -> None:
        with self._lock:
            self._items.append((request, result))
            due = len(self._items) >= self.every or time.monotonic() - self._last >= self.seconds
            items = self._take() if due else []
        self.cache.put_many(items)

    def _take(self) -> list[tuple[Request, Result]]:
        items, self._items, self._last = self._items, [], time.monotonic()
        return items

    def __enter__(self) -> "CacheWriter":
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            items = self._take()
        self.cache.put_many(items)


def unique_requests(requests: Sequence[Request], key) -> tuple[list[Request], list[int]]:
    """(distinct requests, index of each input request's distinct one): identical requests are sent once."""
    first: dict[str, int] = {}
    distinct: list[Request] = []
    where = []
    for r in requests:
        k = key(r)
        if k not in first:
            first[k] = len(distinct)
            distinct.append(r)
        where.append(first[k])
    return distinct, where


def make_generator(store: Store, kind: str, *, model: str | None = None, base_url: str | None = None,
                   api_key: str | None = None, **kwargs) -> Generator:
    """embedded: the embedded GGUF served by llama.cpp on 127.0.0.1 (local_server.py; the transformers generator,
    with a notice, where llama.cpp cannot run); transformers: the same model sampled by transformers in this process;
    openai: any OpenAI-compatible endpoint. Raises ValueError (settings.endpoint_problems' words) on an incomplete
    endpoint form."""
    if kind == "embedded":  # where llama.cpp is missing or cannot run, it says so and falls back to transformers
        from core.features.models import EMBEDDED_MODELS
        from core.synthesis.local_server import LocalGenerator

        if (model or DEFAULT_MODEL) in EMBEDDED_MODELS:
            return LocalGenerator(store, model=model or DEFAULT_MODEL)
        kind = "transformers"  # llama.cpp serves the embedded GGUF; any other model is sampled in process
    if kind == "transformers":
        from core.synthesis.embedded import EmbeddedGenerator

        return EmbeddedGenerator(store, model=model or DEFAULT_MODEL)
    if kind == "openai":
        from core.synthesis.openai_backend import OpenAIGenerator

        problems = endpoint_problems(base_url, model)  # the form's own checks (settings.py)
        if problems:
            raise ValueError(" ".join(problems))
        return OpenAIGenerator(store, base_url=base_url.strip(), model=model.strip(), api_key=api_key, **kwargs)
    raise ValueError(f"unknown generator {kind!r}: use one of {', '.join(KINDS)}")
