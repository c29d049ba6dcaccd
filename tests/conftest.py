"""Shared fixtures: a fresh workspace per test, one de-quantised SmolLM2 cache for the whole run."""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import DATA, LIGHT_FIELDS, ROOT, cli_env  # noqa: E402,F401  (the shared helpers: tests/helpers.py)


# the modules that take longest (a real model through many CLI children, Ray, the app's real analysis) run first, so
# that with `make test`'s two workers (pytest-xdist, whole files per worker) no long file starts last and runs alone
FIRST = ("tests/synthesis/test_synthesis.py", "tests/features/test_ray_engine.py", "tests/synthesis/test_pools.py",
         "tests/app/test_app.py", "tests/test_cli.py", "tests/features/test_imported.py",
         "tests/synthesis/test_redaction.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {path: i for i, path in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(FIRST)))  # stable: file order kept


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory):
    """De-quantising the GGUF takes ~30 s: do it once per test run, not once per workspace."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    if os.environ.get("PRISM_MODELS"):
        return Path(os.environ["PRISM_MODELS"])
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["PRISM_MODELS"] = str(tmp_path_factory.mktemp("models"))
        return Path(os.environ["PRISM_MODELS"])
    # parallel workers (make test: pytest-xdist) share one cache in the run's base folder; the first to get the lock
    # writes it (the rest would otherwise replace it under a worker reading it) and one thread each keeps the two
    # workers' torch from fighting over two cores
    import fcntl

    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # and one each for the CLI, server and Ray children they start
    cache = tmp_path_factory.getbasetemp().parent / "models"
    cache.mkdir(exist_ok=True)
    os.environ["PRISM_MODELS"] = str(cache)
    from core.features.models import DEFAULT_MODEL, ensure_embedded_cache

    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_embedded_cache(DEFAULT_MODEL)
    return cache


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    monkeypatch.setenv("PRISM_HOME", str(ws))
    return ws


@pytest.fixture()
def store(workspace):
    from core.data.store import Store

    s = Store()
    yield s
    s.close()


@pytest.fixture()
def light_features(monkeypatch):
    """Every feature config this process makes by default made light (tests/helpers.py; fields given explicitly win),
    as run_cli(..., light=True) does for a CLI child: for in-process tests of the real model (the app's jobs)."""
    import core.features.compute as compute

    default = compute.feature_config
    monkeypatch.setattr(compute, "feature_config", lambda **kw: default(**{**LIGHT_FIELDS, **kw}))
