"""A run's generator settings and the checks of everything a launch needs, in words a user can act on: the one set
of form checks the CLI, the app and make_generator share (the app shows them before launch, the CLI prints them as
its one-line error)."""
from __future__ import annotations

import dataclasses
from urllib.parse import urlparse

from core.data.store import Store
from core.synthesis.config import SynthesisConfig

KINDS = ("embedded", "transformers", "openai")
EXAMPLE_URL = "http://127.0.0.1:8000/v1"


@dataclasses.dataclass(frozen=True)
class GeneratorSettings:
    """Which generator writes and solves the problems. The API key lives in memory only (never in a repr, a job's
    params or the store); None: the environment's key for this URL, if any (credentials.py)."""

    kind: str = "embedded"  # embedded (llama.cpp), transformers (the same model in process), openai (an endpoint)
    model: str | None = None  # the embedded model's id, or the endpoint's model name
    base_url: str | None = None  # openai only
    api_key: str | None = dataclasses.field(default=None, repr=False)
    concurrency: int | None = None  # openai only: requests in flight (None: the client's default)
    timeout: float | None = None  # openai only: seconds per request (None: the client's default)

    def client_options(self) -> dict:
        """The endpoint client's options that were set (concurrency, timeout)."""
        if self.kind != "openai":
            return {}
        return {k: v for k, v in (("concurrency", self.concurrency), ("timeout", self.timeout)) if v is not None}


def endpoint_problems(base_url: str | None, model: str | None) -> list[str]:
    """What is missing or malformed in an OpenAI-compatible endpoint's address and model (empty: usable)."""
    problems = []
    url = (base_url or "").strip()
    parsed = urlparse(url)
    if not url:
        problems.append(f"Base URL is empty: give the endpoint's address, e.g. {EXAMPLE_URL}.")
    elif parsed.scheme not in ("http", "https") or not parsed.netloc:
        problems.append(f"Base URL {url!r} is not an http(s) address, e.g. {EXAMPLE_URL}.")
    if not (model or "").strip():
        problems.append("Model is empty: give the model's name as the endpoint knows it (its /v1/models lists them).")
    return problems


def generator_problems(settings: GeneratorSettings) -> list[str]:
    """What keeps these generator settings from making a generator (empty: ready)."""
    if settings.kind not in KINDS:
        return [f"Unknown generator {settings.kind!r}: use one of {', '.join(KINDS)}."]
    problems = endpoint_problems(settings.base_url, settings.model) if settings.kind == "openai" else []
    if settings.concurrency is not None and settings.concurrency < 1:
        problems.append(f"Concurrency must be 1 or more, not {settings.concurrency}.")
    if settings.timeout is not None and not settings.timeout > 0:
        problems.append(f"Timeout must be more than 0 seconds, not {settings.timeout}.")
    return problems


COUNTS = ("requests_per_round", "problems_per_request", "few_shot", "solutions_per_problem", "request_batch",
          "max_problem_tokens", "max_solution_tokens")


def check_settings(store: Store, dataset: str, config: SynthesisConfig,
                   generator: GeneratorSettings | None) -> list[str]:
    """Every reason the run cannot be launched as set, one clear sentence each (empty: it can): the seed and the pool
    exist, the generator's form is complete, the counts are positive."""
    problems = []
    if not store.has_dataset(dataset):
        problems.append(f"No dataset named {dataset!r} in this workspace.")
    if config.k is not None and config.k < 2:
        problems.append(f"K (clusters per round) must be 2 or more, not {config.k}.")
    if config.toward is not None:
        if not store.has_dataset(config.toward):
            problems.append(f"No eval dataset named {config.toward!r} to grow toward: ingest it first.")
        elif config.toward in (dataset, config.pool):
            own = "seed" if config.toward == dataset else "pool"
            problems.append(f"The eval set {config.toward!r} is the run's own {own}: grow toward another dataset.")
    if config.source == "pool":
        if not store.has_dataset(config.pool):
            problems.append(f"No candidate pool named {config.pool!r} in this workspace: ingest it first.")
        if config.pool_batch < 1:
            problems.append(f"Pool batch must be 1 or more, not {config.pool_batch}.")
        return problems
    if generator is None:
        return problems + ["No generator set: pick the embedded model or an OpenAI-compatible endpoint."]
    problems += generator_problems(generator)
    for field in COUNTS:
        value = getattr(config, field)
        if value < 1:
            problems.append(f"{field.replace('_', ' ').capitalize()} must be 1 or more, not {value}.")
    return problems
