"""Generators behind one interface: the embedded SmolLM2 (offline, batched sampling) or any OpenAI-compatible endpoint.

Every request is cached by the hash of its payload (model, endpoint, messages, sampling params, sample index; never
the API key) with its result or its final error, so a resumed run never pays for a request twice.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, Sequence

from core.config import DEFAULT_MODEL, stable_hash
from core.data.store import Store

CACHE_SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_cache (
    key VARCHAR PRIMARY KEY,
    text VARCHAR,
    error VARCHAR,
    created_at DOUBLE
);
"""


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
    """Result-or-error per payload hash in the workspace store. Retryable errors are not cached: a resume retries."""

    def __init__(self, store: Store, namespace: dict):
        self.store = store
        self.namespace = namespace
        store.query(CACHE_SCHEMA)

    def key(self, request: Request) -> str:
        return stable_hash({"ns": self.namespace, "req": request.payload()}, length=32)

    def get(self, request: Request) -> Result | None:
        rows = self.store.query("SELECT text, error FROM llm_cache WHERE key = ?", [self.key(request)])
        return Result(rows[0][0], rows[0][1], cached=True, attempts=0) if rows else None

    def put(self, request: Request, result: Result) -> None:
        self.store.query("INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?)",
                         [self.key(request), result.text, result.error, time.time()])


class EmbeddedGenerator:
    """The embedded SmolLM2-135M-Instruct via transformers: weak, offline, batched; seeded per request."""

    def __init__(self, store: Store, *, model: str = DEFAULT_MODEL, batch_size: int = 8):
        from core.features.models import resolve_revision

        self.model_id = model
        self.name = model if model.startswith("embedded:") else f"embedded:{model}"
        self.batch_size = batch_size
        self.cache = RequestCache(store, {"backend": "embedded", "model": model, "rev": resolve_revision(model)})

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        results: list[Result | None] = [self.cache.get(r) for r in requests]
        todo = [i for i, r in enumerate(results) if r is None]
        # same sampling settings share a batch
        todo.sort(key=lambda i: (requests[i].temperature, requests[i].top_p, requests[i].max_tokens))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            groups: dict[tuple, list[int]] = {}
            for i in chunk:
                r = requests[i]
                groups.setdefault((r.temperature, r.top_p, r.max_tokens), []).append(i)
            for idx in groups.values():
                for i, text in zip(idx, self._sample([requests[i] for i in idx])):
                    results[i] = Result(text)
                    self.cache.put(requests[i], results[i])
        return results  # type: ignore[return-value]

    def _sample(self, requests: Sequence[Request]) -> list[str]:
        import torch

        from core.features.gradients import _MODEL_LOCKS
        from core.features.models import load_model

        loaded = load_model(self.model_id)
        tok = loaded.tokenizer
        texts = [tok.apply_chat_template([{"role": ro, "content": c} for ro, c in r.messages], tokenize=False,
                                         add_generation_prompt=True) for r in requests]
        tok.padding_side = "left"  # generation continues from the right edge
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        tok.padding_side = "right"
        r0 = requests[0]
        seed = int(stable_hash([r.payload() for r in requests], length=8), 16)
        lock = _MODEL_LOCKS.setdefault(id(loaded.model), threading.Lock())
        with lock, torch.no_grad():
            torch.manual_seed(seed)
            out = loaded.model.generate(**enc, do_sample=r0.temperature > 0, temperature=max(r0.temperature, 1e-5),
                                        top_p=r0.top_p, max_new_tokens=r0.max_tokens, pad_token_id=tok.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        return [tok.decode(row, skip_special_tokens=True).strip() for row in new]


class OpenAIGenerator:
    """Any OpenAI-compatible chat endpoint, with bounded concurrency, timeouts and retries with backoff + jitter.

    The API key lives in this object only: it is read from the argument or the environment and never written to the
    store, logs, exports or the cache key.
    """

    RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}

    def __init__(self, store: Store, *, base_url: str, model: str, api_key: str | None = None,
                 concurrency: int = 4, timeout: float = 60.0, max_retries: int = 4, backoff: float = 0.5,
                 max_backoff: float = 20.0):
        from openai import OpenAI

        self.name = f"openai:{model}"
        self.model = model
        self.base_url = base_url.rstrip("/")
        key = api_key or os.environ.get("PRISM_API_KEY") or os.environ.get("OPENAI_API_KEY") or "none"
        # the client's own retries are off: ours count attempts, honour Retry-After and add jitter
        self._client = OpenAI(base_url=self.base_url, api_key=key, timeout=timeout, max_retries=0)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.cache = RequestCache(store, {"backend": "openai", "base_url": self.base_url, "model": model})
        self.stats = {"requests": 0, "retries": 0, "errors": 0}
        self._stats_lock = threading.Lock()

    def test_connection(self) -> str:
        """One tiny request; returns the reply or raises with the endpoint's error."""
        resp = self._client.chat.completions.create(model=self.model, messages=[{"role": "user", "content": "Say OK"}],
                                                    max_tokens=4)
        return _content(resp)

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._one, requests))

    def _one(self, request: Request) -> Result:
        cached = self.cache.get(request)
        if cached is not None:
            return cached
        rng = random.Random(self.cache.key(request))
        attempt = 0
        while True:
            attempt += 1
            with self._stats_lock:
                self.stats["requests"] += 1
            try:
                resp = self._client.chat.completions.create(
                    model=self.model, messages=[{"role": r, "content": c} for r, c in request.messages],
                    temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens)
                result = Result(_content(resp), attempts=attempt)
                self.cache.put(request, result)
                return result
            except Exception as exc:  # classify, then retry or give up with a reason
                retryable, wait = self._classify(exc)
                if not retryable or attempt > self.max_retries:
                    with self._stats_lock:
                        self.stats["errors"] += 1
                    result = Result(None, f"{type(exc).__name__}: {_short(exc)}", attempts=attempt)
                    if not retryable:
                        self.cache.put(request, result)
                    return result
                with self._stats_lock:
                    self.stats["retries"] += 1
                delay = wait if wait is not None else min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + rng.random()))  # jitter: concurrent clients do not retry in lockstep

    def _classify(self, exc: Exception) -> tuple[bool, float | None]:
        import openai

        if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
            return True, None
        if isinstance(exc, openai.APIStatusError):
            retry_after = exc.response.headers.get("retry-after") if exc.response is not None else None
            try:
                wait = min(self.max_backoff, float(retry_after)) if retry_after else None
            except ValueError:
                wait = None
            return exc.status_code in self.RETRYABLE_STATUS, wait
        if isinstance(exc, (json.JSONDecodeError, ValueError, openai.APIResponseValidationError)):
            return True, None  # a truncated or garbled body is usually transient
        return False, None


def _content(resp) -> str:
    if isinstance(resp, str):  # some servers answer 200 with a non-JSON body; the client hands back the text
        raise ValueError(f"non-JSON response body: {resp[:80]!r}")
    try:
        text = resp.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as exc:
        raise ValueError(f"response without choices[0].message.content: {exc}") from exc
    if text is None:
        raise ValueError("empty message content")
    return text


def _short(exc: Exception, limit: int = 300) -> str:
    text = str(exc).replace("\n", " ")
    return text[:limit]


def make_generator(store: Store, kind: str, *, model: str | None = None, base_url: str | None = None,
                   api_key: str | None = None, **kwargs) -> Generator:
    if kind == "embedded":
        return EmbeddedGenerator(store, model=model or DEFAULT_MODEL)
    if kind == "openai":
        if not base_url or not model:
            raise ValueError("the openai generator needs --base-url and --model")
        return OpenAIGenerator(store, base_url=base_url, model=model, api_key=api_key, **kwargs)
    raise ValueError(f"unknown generator {kind!r}: use embedded or openai")
