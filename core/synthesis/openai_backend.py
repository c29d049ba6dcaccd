"""Any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp server, hosted APIs) through the openai client:
bounded concurrency, timeouts, retries with backoff and jitter, the request cache, and keys kept out of every text:
an endpoint that echoes the key (in an error, or inside a good reply's content) never gets it into a Result, so
neither the request cache, the candidates, the run summary nor any output sees it.
"""
from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from core.data.store import Store
from core.synthesis.credentials import environment_key, redact, redact_reply, register_secret
from core.synthesis.generators import CacheWriter, Request, RequestCache, Result, unique_requests

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
CONFIGURATION_STATUS = {401, 403, 404}  # the client's setup is wrong (key, model, URL): fix it, then retry


class OpenAIGenerator:
    """The API key lives in this object only: from the argument, or the environment's key meant for this base URL
    (credentials.py); never written to the store, logs, exports or the cache key, and redacted from every text the
    endpoint sends back (errors and replies alike)."""

    def __init__(self, store: Store, *, base_url: str, model: str, api_key: str | None = None,
                 concurrency: int = 4, timeout: float = 60.0, max_retries: int = 4, backoff: float = 0.5,
                 max_backoff: float = 20.0):
        from openai import OpenAI

        self.name = f"openai:{model}"
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._secret = api_key or environment_key(self.base_url)  # None: no key (the client sends "none")
        self._key = self._secret or "none"
        register_secret(self._secret)
        # the client's own retries are off: ours count attempts, honour Retry-After and add jitter
        self._client = OpenAI(base_url=self.base_url, api_key=self._key, timeout=timeout, max_retries=0)
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.cache = RequestCache(store, {"backend": "openai", "base_url": self.base_url, "model": model})
        self.stats = {"requests": 0, "retries": 0, "errors": 0}
        self._stats_lock = threading.Lock()

    def test_connection(self) -> str:
        """One tiny request; returns the reply, or raises RuntimeError with the endpoint's (redacted) error."""
        try:
            resp = self._client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": "Say OK"}], max_tokens=4)
            text = _content(resp)
        except Exception as exc:
            raise RuntimeError(self.describe(exc)) from None
        return redact_reply(text, self._secret)

    def describe(self, exc: Exception) -> str:
        """A one-line, key-free account of an endpoint error, in words a user can act on."""
        import openai

        status = getattr(exc, "status_code", None)
        hint = {401: "the endpoint refused the API key", 403: "the API key may not use this model",
                404: "no such model or URL at this endpoint"}.get(status, "")
        if isinstance(exc, openai.APIConnectionError):
            hint = f"cannot reach {self.base_url}"
        text = f"{type(exc).__name__}: {_short(exc)}"
        return redact((f"{hint} ({text})" if hint else text), self._secret)

    def generate(self, requests: Sequence[Request]) -> list[Result]:
        distinct, where = unique_requests(requests, self.cache.key)
        results = [r if r is None else self._clean(r) for r in self.cache.get_many(distinct)]
        todo = [i for i, r in enumerate(results) if r is None]
        with CacheWriter(self.cache) as writer, ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for i, result in zip(todo, pool.map(lambda r: self._one(r, writer), [distinct[i] for i in todo])):
                results[i] = result
        return [results[i] for i in where]

    def _one(self, request: Request, writer: CacheWriter) -> Result:
        rng = random.Random(self.cache.key(request))
        attempt = 0
        while True:
            attempt += 1
            with self._stats_lock:
                self.stats["requests"] += 1
            try:  # only the endpoint's answer is classified here: a local error (the store) is not its answer
                resp = self._client.chat.completions.create(
                    model=self.model, messages=[{"role": r, "content": c} for r, c in request.messages],
                    temperature=request.temperature, top_p=request.top_p, max_tokens=request.max_tokens,
                    seed=int(self.cache.key(request)[:8], 16) % 2**31)  # the same request samples the same way
                result, exc = Result(redact_reply(_content(resp), self._secret), attempts=attempt), None
            except Exception as err:
                result, exc = None, err
            if exc is None:
                writer.put(request, result)
                return result
            retryable, wait, cacheable = self._classify(exc)
            if not retryable or attempt > self.max_retries:
                with self._stats_lock:
                    self.stats["errors"] += 1
                result = Result(None, self.describe(exc), attempts=attempt)
                if cacheable:
                    writer.put(request, result)
                return result
            with self._stats_lock:
                self.stats["retries"] += 1
            delay = wait if wait is not None else min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            time.sleep(delay * (0.5 + rng.random()))  # jitter: concurrent clients do not retry in lockstep

    def _clean(self, result: Result) -> Result:
        """A cached result redacted again: a cache written before the key was known (or by an older version)."""
        import dataclasses

        return dataclasses.replace(result, text=redact_reply(result.text, self._secret),
                                   error=redact(result.error, self._secret))

    def _classify(self, exc: Exception) -> tuple[bool, float | None, bool]:
        """(retry it?, wait before retrying, cache the final error?)."""
        import openai

        if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
            return True, None, False
        if isinstance(exc, openai.APIStatusError):
            retry_after = exc.response.headers.get("retry-after") if exc.response is not None else None
            try:
                wait = min(self.max_backoff, float(retry_after)) if retry_after else None
            except ValueError:
                wait = None
            status = exc.status_code
            return status in RETRYABLE_STATUS, wait, status not in RETRYABLE_STATUS | CONFIGURATION_STATUS
        if isinstance(exc, (json.JSONDecodeError, ValueError, openai.APIResponseValidationError)):
            return True, None, True  # a truncated or garbled body is usually transient; if it persists, it is final
        return False, None, False


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
