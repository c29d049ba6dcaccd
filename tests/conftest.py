"""Shared fixtures: a fresh workspace per test, one de-quantised SmolLM2 cache for the whole run."""
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import DATA, LIGHT_FIELDS, ROOT, cli_env  # noqa: E402,F401  (the shared helpers: tests/helpers.py)


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory):
    """De-quantising the GGUF takes ~30 s: do it once per test run, not once per workspace."""
    cache = os.environ.get("PRISM_MODELS") or str(tmp_path_factory.mktemp("models"))
    os.environ["PRISM_MODELS"] = cache
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return Path(cache)


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
