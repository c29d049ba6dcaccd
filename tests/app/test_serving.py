"""Where and how the app serves (issue 17, hole 11): it refuses to serve when it listens on every interface unless
PRISM_ALLOW_REMOTE=1 says so on purpose (with the exact command to run instead), and its proxy-model box never
reaches for the Hugging Face Hub unless the user turns downloads on: a hub id missing from the local cache is refused
before any network access. Each test failed on the code before the fix."""

import pytest

from tests.conftest import DATA, ROOT
from tests.helpers import app_workspace, open_app

pytestmark = pytest.mark.filterwarnings("ignore")
NOT_CACHED = "prism-test-nobody/not-a-cached-model"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    with app_workspace(tmp_path_factory.mktemp("serving-ws")) as ws:
        from core.data.datasets import ingest
        from ui import get_store

        ingest(get_store(), DATA / "mixture_24.jsonl", name="mix")
        yield ws


new_app = open_app


def by_label(elements, label):
    return next(e for e in elements if e.label == label)


def test_listen_problem_refuses_every_interface_unless_asked():
    from ui.serving import listen_problem

    for address in (None, "", "0.0.0.0", "::"):
        problem = listen_problem(address, {})
        assert problem and "--server.address 127.0.0.1" in problem and "PRISM_ALLOW_REMOTE=1" in problem
        assert listen_problem(address, {"PRISM_ALLOW_REMOTE": "1"}) is None
    assert listen_problem("127.0.0.1", {}) is None and listen_problem("localhost", {}) is None


def test_the_app_shows_nothing_but_the_refusal_when_it_listens_everywhere(ws, monkeypatch):
    from streamlit import config

    old = config.get_option("server.address")
    config.set_option("server.address", "")  # what Streamlit has when no config.toml set it: every interface
    try:
        at = new_app()
        assert len(at.error) == 1 and "streamlit run" in at.error[0].value
        assert "--server.address 127.0.0.1" in at.error[0].value
        assert not at.title and not at.selectbox  # no page was drawn
        monkeypatch.setenv("PRISM_ALLOW_REMOTE", "1")
        at = new_app()
        assert not at.error and at.title
    finally:
        config.set_option("server.address", old)


@pytest.fixture()
def no_hub(monkeypatch):
    """Every way the app could reach the Hub, recorded (and failed) instead."""
    import huggingface_hub

    calls = []

    def network(*args, **kwargs):
        calls.append(args)
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", network)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", network)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", network)
    return calls


def test_a_hub_id_not_in_the_cache_is_refused_before_any_network(ws, no_hub):
    from core.config import DEFAULT_MODEL

    at = new_app("pages/gradient-space.py", dataset="mix")
    toggle = by_label(at.toggle, "Allow downloads from the Hugging Face Hub")
    assert toggle.value is False  # off unless the user turns it on
    by_label(at.text_input, "Proxy model").set_value(NOT_CACHED)
    by_label(at.button, "Apply").click()
    at.run()
    assert not at.exception, at.exception
    assert any(NOT_CACHED in e.value and "Allow downloads from the Hugging Face Hub" in e.value for e in at.error)
    assert "model" not in at.query_params and no_hub == []

    linked = new_app("pages/gradient-space.py", dataset="mix", model=NOT_CACHED)  # a shared link holds the id
    assert any(NOT_CACHED in w.value for w in linked.warning)
    assert by_label(linked.text_input, "Proxy model").value == DEFAULT_MODEL and no_hub == []


def test_hub_ids_pass_when_cached_or_allowed(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    from ui.analysis import model_problem

    assert model_problem(NOT_CACHED, allow_hub=False)
    assert model_problem(NOT_CACHED, allow_hub=True) is None
    assert model_problem(str(tmp_path), allow_hub=False) is None  # a local folder
    repo = tmp_path / "hub" / "models--prism-test--cached"  # the layout huggingface_hub's cache uses
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "config.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert model_problem("prism-test/cached", allow_hub=False) is None
