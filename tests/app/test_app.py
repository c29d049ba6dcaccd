"""AppTest runs of every page: upload through file_uploader, mapping, the validation report, metrics, map, clusters."""
import json
import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import DATA, ROOT

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def app_workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("app-ws")
    old = os.environ.get("PRISM_HOME")
    os.environ["PRISM_HOME"] = str(ws)
    import streamlit as st

    st.cache_resource.clear()  # the store and runner are per process: start them on this workspace
    yield ws
    from ui import get_runner

    for job in get_runner().store.query("SELECT id FROM jobs WHERE status IN ('queued','running')"):
        get_runner().wait(job[0], timeout=300)
    st.cache_resource.clear()
    if old is None:
        os.environ.pop("PRISM_HOME", None)
    else:
        os.environ["PRISM_HOME"] = old


def new_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def wait_for_jobs(timeout=600):
    from ui import get_runner

    runner = get_runner()
    deadline = time.time() + timeout
    for (job_id,) in runner.store.query("SELECT id FROM jobs"):
        job = runner.wait(job_id, timeout=max(1, deadline - time.time()))
        assert job.status == "done", (job.status, job.error)


def mixed_jsonl() -> bytes:
    good = (DATA / "mixture_24.jsonl").read_text().splitlines()
    lines = good[:12] + ['{"question": "broken', json.dumps({"question": "no answer"})] + good[12:]
    return ("\n".join(lines) + "\n").encode()


def test_home_upload_report_then_gradient_space(app_workspace):
    at = new_app()
    assert any("No datasets yet" in i.value for i in at.info)
    at.file_uploader[0].set_value(("mixture.jsonl", mixed_jsonl(), "application/json"))
    at.run()
    assert not at.exception, at.exception
    assert "question/answer" in " ".join(m.value for m in at.markdown)
    assert len(at.dataframe) >= 1  # the preview
    at.text_input[0].set_value("mixture")
    submit = next(b for b in at.button if b.label == "Ingest and analyse")
    submit.click()
    at.run()
    assert not at.exception, at.exception
    success = " ".join(s.value for s in at.success)
    assert "24 samples kept" in success and "2 rows rejected" in success
    bad = at.dataframe[-1].value
    assert list(bad["line"]) == [13, 14]
    wait_for_jobs()

    at.switch_page("pages/gradient_space.py")
    at.run()
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert float(labels["G-Vendi"]) > 1 and float(labels["Embedding Vendi"]) > 1
    assert labels["Samples"] == "24" and labels["Clusters k"] == "2"
    assert 0 < float(labels["Distinct-1"]) <= 1
    assert at.get("plotly_chart"), "the map is drawn"
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert sum(len(t["hovertext"]) for t in figure["data"]) == 24  # x/y travel as typed arrays; hovertext as text
    pick = at.selectbox(key="cluster-pick")
    chosen = int(pick.options[-1].split()[1])  # options are labels like "cluster 3 · 5 samples"
    pick.set_value(chosen).run()
    assert not at.exception, at.exception
    drilled = at.dataframe[-1].value
    assert len(drilled) > 0 and set(drilled["cluster"]) == {chosen}
    assert any(f"Cluster {chosen}" in m.value for m in at.markdown)
    radio = at.radio[0]
    assert "source" in radio.options  # the label column can colour the map
    radio.set_value("source").run()
    assert not at.exception


def test_column_mapping_upload(app_workspace):
    rows = [json.loads(l) for l in (DATA / "mixture_24.jsonl").read_text().splitlines()][:6]
    csv = "Q,A,origin\n" + "".join(f"\"{r['question']}\",\"{r['answer']}\",{r['source']}\n" for r in rows)
    at = new_app()
    at.file_uploader[0].set_value(("mapped.csv", csv.encode(), "text/csv"))
    at.run()
    assert "none" in " ".join(m.value for m in at.markdown)  # no known shape: the user maps the columns
    at.selectbox[-2].set_value("Q")
    at.selectbox[-1].set_value("A")
    next(b for b in at.button if b.label == "Ingest and analyse").click()
    at.run()
    assert not at.exception, at.exception
    assert "6 samples kept" in " ".join(s.value for s in at.success)
    from ui import get_store

    samples = get_store().samples("mapped")
    assert samples[0].meta == {"origin": rows[0]["source"]} and samples[0].prompt == rows[0]["question"]
    wait_for_jobs()


def test_synthesis_page_launches_a_run_against_an_endpoint(app_workspace):
    """The Synthesis page with an OpenAI-compatible endpoint (a local stub): launch, watch, see results, export.
    The API key typed into the form reaches the endpoint and is stored nowhere."""
    from tests.openai_stub import Stub

    secret = "sk-apptest-SECRET-77"
    at = new_app()
    at.switch_page("pages/synthesis.py")
    at.run()
    assert not at.exception, at.exception
    assert any("No synthesis runs" in i.value for i in at.info)
    at.radio[0].set_value("openai").run()
    with Stub(api_key=secret) as stub:
        at.text_input[0].set_value(stub.url)
        at.text_input[1].set_value("stub-model")
        at.text_input[2].set_value(secret)
        at.run()
        next(b for b in at.button if b.label == "Test connection").click()
        at.run()
        assert any("Connected" in s.value for s in at.success), [e.value for e in at.error]
        requests = next(n for n in at.number_input if n.label == "Requests per round")
        requests.set_value(2)
        next(b for b in at.button if b.label == "Launch synthesis run").click()
        at.run()
        assert not at.exception, at.exception
        wait_for_jobs()
        assert stub.state.bad_auth == 0
    at.run()
    assert not at.exception, at.exception
    labels = {m.label: m.value for m in at.metric}
    assert "Accepted" in labels and "Control (no filter)" in labels
    assert len(at.get("download_button")) == 2
    assert any(len(df.value) >= 2 for df in at.dataframe)  # the candidates table
    for path in app_workspace.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
