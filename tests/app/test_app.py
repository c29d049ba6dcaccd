"""AppTest runs of every page: upload through file_uploader, mapping, the validation report, metrics, map, clusters;
and the defects of issue 10, each checked where it was seen (the demo opening analysed, re-clustering in place, widget
state following its data, settings in the URL, cancelling, form checks, the live synthesis view).

Datasets other than the uploaded ones are "analysed" with fakes.fake_analyse (features written directly): no model."""
import json
import threading
import time

import numpy as np
import pytest

from tests.app.fakes import fake_analyse, fake_shipped_file
from tests.conftest import DATA, ROOT
from tests import helpers

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def app_workspace(tmp_path_factory):
    from ui.analysis import PageOptions

    ws = tmp_path_factory.mktemp("app-ws")
    demo = fake_shipped_file(ws.parent / f"{ws.name}-demo.npz", PageOptions())
    with helpers.app_workspace(ws, env={"PRISM_DEMO_FEATURES": demo}):
        yield ws


new_app = helpers.open_app


def wait_for_jobs(timeout=600):
    from ui import get_runner

    runner = get_runner()
    deadline = time.time() + timeout
    for (job_id,) in runner.store.query("SELECT id FROM jobs WHERE status IN ('queued', 'running')"):
        job = runner.wait(job_id, timeout=max(1, deadline - time.time()))
        assert job.status == "done", (job.status, job.error)


def analysed(name: str, fixture: str = "mixture_24.jsonl") -> str:
    from core.data.datasets import ingest
    from ui import get_store
    from ui.analysis import PageOptions

    store = get_store()
    if not store.has_dataset(name):
        ingest(store, DATA / fixture, name=name)
        fake_analyse(store, name, PageOptions())
    return name


def jobs(kind: str | None = None) -> list[tuple]:
    from ui import get_store

    rows = get_store().query("SELECT kind, dataset, status FROM jobs")
    return [r for r in rows if kind is None or r[0] == kind]


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def by_label(elements, label: str):
    return next(e for e in elements if e.label == label)


def open_view(at, label: str):
    """Open one of the Gradient space page's tabs (only the open one is drawn), as a click on it would."""
    at.session_state["view"] = label
    at.run()
    assert not at.exception, at.exception
    return at


def drill(at):
    if not any(e.label.startswith("Drill into a cluster") for e in list(at.selectbox) + list(at.number_input)):
        open_view(at, "Clusters")
    return next(e for e in list(at.selectbox) + list(at.number_input) if e.label.startswith("Drill into a cluster"))


def figure(at, index=None):
    charts = at.get("plotly_chart")
    specs = [json.loads(c.proto.spec) for c in charts]
    if index is not None:
        return specs[index]
    return next(s for s in specs if any(t.get("type") == "scattergl" for t in s["data"]))  # the map


def mixed_jsonl() -> bytes:
    good = (DATA / "mixture_24.jsonl").read_text().splitlines()
    lines = good[:12] + ['{"question": "broken', json.dumps({"question": "no answer"})] + good[12:]
    return ("\n".join(lines) + "\n").encode()


def test_home_upload_report_then_gradient_space(app_workspace, light_features):
    """The one app test whose analysis job runs the real model (with the light feature config: the job's wiring and
    the page are the subject; tests/test_cli.py featurises with the default config)."""
    at = new_app()
    assert any("No datasets yet" in i.value for i in at.info)
    at.file_uploader[0].set_value(("mixture.jsonl", mixed_jsonl(), "application/json"))
    at.run()
    assert not at.exception, at.exception
    assert "question/answer" in " ".join(m.value for m in at.markdown)
    assert len(at.dataframe) >= 2  # the preview, and the malformed lines it met
    assert any("malformed line" in w.value for w in at.warning)
    assert list(at.dataframe[1].value["line"]) == [13]  # the broken JSON line; the row without answer is JSON
    at.text_input[0].set_value("mixture")
    by_label(at.button, "Ingest and analyse").click()
    at.run()
    assert not at.exception, at.exception
    success = " ".join(s.value for s in at.success)
    assert "24 samples kept" in success and "2 rows rejected" in success and "mixture.jsonl" in success
    assert "mixture" in list(at.dataframe[0].value["dataset"])  # the datasets table is refreshed at once
    bad = at.dataframe[-1].value
    assert list(bad["line"]) == [13, 14]
    assert any("rejected rows" in d.label for d in at.get("download_button"))
    wait_for_jobs()

    at.switch_page("pages/gradient-space.py")
    at.run()
    assert not at.exception, at.exception
    labels = metrics(at)
    assert float(labels["G-Vendi"]) > 1 and float(labels["Embedding Vendi"]) > 1
    assert labels["Samples"] == "24" and labels["Clusters k"] == "2"
    assert 0 < float(labels["Distinct-1"]) <= 1
    fig = figure(at)
    points = [t for t in fig["data"] if t.get("type") == "scattergl" and t.get("customdata") is not None]
    assert sum(json_len(t["customdata"]) for t in points) == 24  # one point per sample, rows in customdata
    assert not at.dataframe  # the map's view: the cluster tables are not drawn until their tab is opened
    pick = drill(at)
    assert at.query_params.get("view") == "clusters" and not at.get("plotly_chart")  # only the open tab is drawn
    chosen = pick.options[-1]
    pick.set_value(int(chosen.split()[1])).run()
    assert not at.exception, at.exception
    chosen = int(chosen.split()[1])
    assert set(at.dataframe[-1].value["cluster"]) == {chosen}
    assert any(f"Cluster {chosen}" in m.value for m in at.markdown)
    open_view(at, "Map")
    assert "view" not in at.query_params  # the default view leaves the URL clean
    radio = by_label(at.radio, "Colour by")
    assert "source" in radio.options  # the label column can colour the map
    radio.set_value("source").run()
    assert not at.exception


def json_len(array) -> int:
    """Length of a plotly array as it travels: a list, or a typed array {dtype, bdata, shape}."""
    if isinstance(array, dict):
        return int(str(array["shape"]).split(",")[0])
    return len(array)


def test_column_mapping_upload_and_none_detected_picks_columns(app_workspace):
    rows = [json.loads(line) for line in (DATA / "mixture_24.jsonl").read_text().splitlines()][:6]
    csv = "Q,A,origin\n" + "".join(f"\"{r['question']}\",\"{r['answer']}\",{r['source']}\n" for r in rows)
    at = new_app()
    at.file_uploader[0].set_value(("mapped.csv", csv.encode(), "text/csv"))
    at.run()
    assert "none" in " ".join(m.value for m in at.markdown)  # no known shape: the user maps the columns
    prompt, response = by_label(at.selectbox, "Prompt column"), by_label(at.selectbox, "Response column")
    assert "(auto-detect)" not in prompt.options  # auto-detect cannot work here: not offered
    assert (prompt.value, response.value) == ("Q", "A")  # the likeliest columns, already picked
    assert not at.success  # the previous file's report is not shown under this one
    by_label(at.button, "Ingest and analyse").click()
    at.run()
    assert not at.exception, at.exception
    assert "6 samples kept" in " ".join(s.value for s in at.success)
    from ui import get_store

    samples = get_store().samples("mapped")
    assert samples[0].meta == {"origin": rows[0]["source"]} and samples[0].prompt == rows[0]["question"]
    wait_for_jobs()


def test_load_demo_opens_the_map_with_no_analysis_job(app_workspace):
    at = new_app()
    next(b for b in at.button if b.label.startswith("Load the demo")).click()
    at.run()
    assert not at.exception, at.exception
    assert at.query_params.get("dataset") == "demo" and "job" not in at.query_params
    labels = metrics(at)
    assert labels["Samples"] == "300" and float(labels["G-Vendi"]) > 1
    help_text = by_label(at.metric, "G-Vendi").help
    assert "min(n, d) = min(300, 1024) = 300" in help_text and "max = d" not in help_text
    assert any("fast mode" in c.value for c in at.caption)  # mode and model beside the scores
    assert not [j for j in jobs("analyse") if j[1] == "demo"]
    assert json_len(next(t for t in figure(at)["data"] if t.get("customdata") is not None)["customdata"]) > 0
    open_view(at, "Sparse rules")
    rules = next(d.value for d in at.dataframe if "rows flagged" in d.value.columns)
    assert set(rules["rule"].str.split().str[0]) == {"paper", "density", "mass"}
    assert all("svamp" in mix and "/30" in mix for mix in rules["flagged by source"])  # each rule's SVAMP count
    open_view(at, "Diversity curve")
    curve = figure(at, 0)
    assert [t["name"] for t in curve["data"] if t.get("mode") == "lines+markers"] == ["demo"]
    refreshed = new_app("pages/gradient-space.py", **at.query_params)  # a refresh opens the same view
    assert refreshed.query_params.get("view") == "curve" and len(refreshed.get("plotly_chart")) == 1


def test_k_and_rule_recluster_in_place_and_stay_in_the_url(app_workspace):
    name = analysed("recluster")
    at = new_app("pages/gradient-space.py", dataset=name)
    assert metrics(at)["Clusters k"] == "2"
    form_k = by_label(at.number_input, "Clusters k (0 = n/10)")
    form_k.set_value(4)
    by_label(at.selectbox, "Sparse rule").set_value("density")
    by_label(at.button, "Apply").click()
    at.run()
    assert not at.exception, at.exception
    assert not any("no analysis" in i.value for i in at.info)
    assert metrics(at)["Clusters k"] == "4" and "density rule" in by_label(at.metric, "Sparse clusters").help
    assert at.query_params.get("k") == "4" and at.query_params.get("rule") == "density"
    assert not [j for j in jobs("analyse") if j[1] == name]  # small: re-clustered in the page, no job

    again = new_app("pages/gradient-space.py", **at.query_params)  # a refresh: a new session, the same URL
    assert metrics(again)["Clusters k"] == "4"
    assert by_label(again.selectbox, "Sparse rule").value == "density"
    bad = new_app("pages/gradient-space.py", dataset=name, k="many", rule="<script>")  # never a traceback
    assert metrics(bad)["Clusters k"] == "2"


def test_drilldown_and_colour_follow_the_map_they_label(app_workspace):
    name = analysed("follow")
    at = new_app("pages/gradient-space.py", dataset=name)
    by_label(at.radio, "Colour by").set_value("source").run()
    assert any(t.get("name", "").startswith(("gsm8k", "svamp")) for t in figure(at)["data"])
    pick = drill(at)  # the Clusters tab
    last = pick.options[-1]
    pick.set_value(int(last.split()[1])).run()
    by_label(at.number_input, "Clusters k (0 = n/10)").set_value(3)  # change only k: another map, same page
    by_label(at.button, "Apply").click()
    at.run()
    assert not at.exception, at.exception
    pick = drill(at)
    shown = int(str(pick.value))
    rows = at.dataframe[-1].value
    assert set(rows["cluster"]) == {shown}  # the picker names the cluster whose rows are listed
    assert any(f"Cluster {shown}" in m.value for m in at.markdown)
    open_view(at, "Map")
    radio = by_label(at.radio, "Colour by")  # the new map's radio keeps the choice (it is in the URL)...
    assert radio.value == "source" and at.query_params.get("color") == "source"
    names = [t.get("name", "") for t in figure(at)["data"]]  # ...and the new map shows it
    assert {n.split()[0] for n in names if n.startswith(("gsm8k", "svamp"))} == {"gsm8k", "svamp"}
    radio.set_value("cluster").run()
    assert not at.exception, at.exception
    names = [t.get("name", "") for t in figure(at)["data"]]
    assert "dense-region sample" in names and not any(n.startswith(("gsm8k", "svamp")) for n in names)
    assert "color" not in at.query_params  # the default colouring leaves the URL clean


def test_cancel_shows_cancelling_until_the_worker_stops(app_workspace):
    from ui import get_runner

    name = analysed("cancelme")
    release = threading.Event()

    def work(ctx):
        ctx.progress(1, 10, stage="gradient features")
        release.wait(60)
        ctx.check_cancel()

    job_id = get_runner().start("analyse", name, {"test": "cancel"}, work)
    try:
        at = new_app("pages/gradient-space.py", dataset=name)
        cancel = next(b for b in at.button if b.label == "Cancel")
        cancel.click()
        at.run()
        assert not at.exception, at.exception
        assert any("Cancelling" in (p.proto.text or "") for p in at.get("progress"))
        assert next(b for b in at.button if b.label == "Cancel").disabled
    finally:
        release.set()
    assert get_runner().wait(job_id, 30).status == "cancelled"


def test_estimate_offers_a_sample_of_a_large_dataset(app_workspace, monkeypatch):
    from core.analysis.estimate import Estimate
    from core.data.ingest import IngestReport, Sample, content_hash
    from ui import get_store
    import ui.start

    store = get_store()
    samples = [Sample(f"r{i}", f"How many apples are {i} plus {i}?", f"{2 * i}", content_hash(f"q{i}", f"{i}"), {})
               for i in range(1200)]
    store.save_dataset("large", IngestReport(samples, [], [], "test"), source="test")
    monkeypatch.setattr(ui.start, "estimate", lambda *a, **k: Estimate(1192, 8, 0.7, 834.4))
    started = []
    monkeypatch.setattr(ui.start, "start_analysis", lambda name, opts: started.append(name))
    at = new_app("pages/gradient-space.py", dataset="large")
    assert any("no analysis for these settings" in i.value for i in at.info)
    by_label(at.button, "Estimate time").click()
    at.run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "~14 min on this machine" in text and "random sample of 1,000 rows first?" in text
    by_label(at.button, "Analyse a random sample of 1,000 rows").click()
    at.run()
    assert started == ["large-sample1000"] and store.dataset_info("large-sample1000")["n"] == 1000
    assert at.query_params.get("dataset") == "large-sample1000"


def test_compare_two_datasets(app_workspace):
    analysed("cmp-a")
    analysed("cmp-b", "gsm8k_8.jsonl")
    at = new_app("pages/compare.py", compare="cmp-a,cmp-b")
    table = next(d.value for d in at.dataframe if "n" in d.value.columns)  # the 'All scores' popover's
    assert list(table["dataset"]) == ["cmp-a", "cmp-b"] and "G-Vendi at n = 8" in table.columns
    assert table.loc[table["dataset"] == "cmp-b", "G-Vendi at n = 8"].item() == \
        table.loc[table["dataset"] == "cmp-b", "G-Vendi (own n)"].item()
    # map first (issue 21): the settings in the sidebar, the scores on one line, the shared map, then the curves
    assert [w.label for w in at.sidebar.multiselect][0].startswith("Datasets to compare")
    assert any(r.label == "Shared map" for r in at.sidebar.radio) and not at.main.multiselect
    line = next(m.value for m in at.main.markdown if m.value.startswith("**G-Vendi at n = 8**"))
    for name in ("cmp-a", "cmp-b"):
        common = table.loc[table["dataset"] == name, "G-Vendi at n = 8"].item()
        assert f"{name.replace('-', chr(92) + '-')} **{common:.2f}**" in line
    shared, curves = figure(at, 0), figure(at, 1)
    assert sum(t.get("mode") == "lines+markers" for t in curves["data"]) == 2
    assert {t["name"].split(" (")[0] for t in shared["data"]} == {"cmp-a", "cmp-b"}


def test_synthesis_targets_preview_and_form_checks(app_workspace):
    """Picking target clusters changes the exact prompt shown; an incomplete endpoint form is said, not raised."""
    at = new_app()
    next(b for b in at.button if b.label.startswith("Load the demo")).click()
    at.run()
    at.switch_page("pages/synthesis.py")
    at.run()
    assert not at.exception, at.exception
    targets = next(m for m in at.multiselect if m.label.startswith("Sparse clusters to grow"))
    assert len(targets.value) == len(targets.options) >= 2
    before = at.code[0].value
    assert before.startswith("Here are some example problems") and "Example 1:" in before
    targets.set_value([targets.options[-1]]).run()
    assert not at.exception, at.exception
    after = at.code[0].value
    assert after != before
    assert f"from cluster {targets.options[-1].split()[1]}." in " ".join(c.value for c in at.caption)
    cost = next(d.value for d in at.dataframe if "requests" in d.value.columns)
    assert cost["requests"].item() == 8 + 8 * 2 * 3
    by_label(at.radio, "Generator").set_value("openai").run()
    by_label(at.text_input, "Model").set_value("").run()
    by_label(at.button, "Launch synthesis run").click()
    at.run()
    assert not at.exception, at.exception
    assert any("Model is empty" in e.value for e in at.error)
    by_label(at.button, "Test connection").click()
    at.run()
    assert any("Cannot test yet" in e.value and "--" not in e.value for e in at.error)
    assert not jobs("synthesize")


def test_live_run_shows_stage_counts_and_each_candidate_in_full(app_workspace):
    """A run in progress (a job held open) with recorded candidates: stage, counts by reason and each candidate's
    exact prompt, raw reply, solutions and answers."""
    from core.config import DEFAULT_MODEL
    from core.features.compute import feature_config
    from core.synthesis.config import SynthesisConfig
    from core.synthesis.loop import round_clustering
    from core.synthesis.runs import start_run, write_candidates
    from core.synthesis.plan import round_prompts
    from core.synthesis.stages import SOLVING, Stage
    from ui import get_runner, get_store

    store, fc = get_store(), feature_config()
    name = analysed("live")
    config = SynthesisConfig(requests_per_round=2, problems_per_request=1, solutions_per_problem=2)
    run_id = start_run(store, name, config, f"embedded:{DEFAULT_MODEL}", fc)
    X = np.stack([store.features_by_hash(fc.key(), fc.dim, [s.content_hash])[s.content_hash]
                  for s in store.samples(name)])
    round_clustering(store, run_id, 0, X, config)
    write_candidates(store, run_id, [
        {"round": 0, "request_idx": 0, "problem_idx": 0, "target_cluster": 1, "raw_output": "Problem 1: Two plus?",
         "problem": "Two plus?", "solutions": ["It is \\boxed{4}", "It is \\boxed{5}"], "answers": ["4", "5"],
         "votes": 1, "reason": "no majority"},
        {"round": 0, "request_idx": 1, "problem_idx": -1, "target_cluster": 1, "raw_output": "I cannot help.",
         "reason": "parse failure"}])
    release = threading.Event()

    def work(ctx):
        ctx.progress(1, 2, stage="synthesis", message=Stage(SOLVING, 0, 2, 1).text())  # as launch.py writes it
        release.wait(60)

    job_id = get_runner().start("synthesize", name, {"run_id": run_id, "generator": "test"}, work)
    try:
        at = new_app("pages/synthesis.py", dataset=name, synth_job=job_id)
        assert any("synthesis: round 1 of 1 · solving 2 (problem × sample)" in (p.proto.text or "")
                   for p in at.get("progress"))
        assert metrics(at) == {"no majority": "1", "parse failure": "1"}
        codes = [c.value for c in at.code]
        prompt = round_prompts(store, run_id)[(0, 0)][1]
        assert prompt in codes and "I cannot help." in codes and "It is \\boxed{5}" in codes
        assert any("answer: 5" in c.value for c in at.caption)
    finally:
        release.set()
        get_runner().wait(job_id, 30)


def test_synthesis_page_launches_a_run_against_an_endpoint(app_workspace):
    """The Synthesis page with an OpenAI-compatible endpoint (a local stub): launch, watch, see results, export.
    The API key typed into the form reaches the endpoint and is stored nowhere; the prompt previewed is sent."""
    from tests.openai_stub import Stub

    secret = "sk-apptest-SECRET-77"
    at = new_app("pages/synthesis.py", dataset=analysed("endpoint"))  # its own dataset: runs alone or in any order
    by_label(at.radio, "Generator").set_value("openai").run()
    with Stub(api_key=secret) as stub:
        at.text_input[0].set_value(stub.url)
        at.text_input[1].set_value("stub-model")
        at.text_input[2].set_value(secret)
        at.run()
        by_label(at.button, "Test connection").click()
        at.run()
        assert any("Connected" in s.value for s in at.success), [e.value for e in at.error]
        by_label(at.number_input, "Requests per round").set_value(2).run()
        preview = at.code[0].value
        by_label(at.button, "Launch synthesis run").click()
        at.run()
        assert not at.exception, at.exception
        wait_for_jobs()
        assert stub.state.bad_auth == 0
        sent = [json.loads(b)["messages"][-1]["content"] for b in stub.state.bodies]
        assert preview in sent  # the preview is exactly what the run sent
    at.run()
    assert not at.exception, at.exception
    labels = metrics(at)
    assert "Accepted (filtered)" in labels and "Control (no filter)" in labels
    assert len(at.get("download_button")) == 2
    assert any(len(df.value) >= 2 for df in at.dataframe)  # the candidates table
    for path in app_workspace.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
