"""AppTests of issue 21's guards: a failed analysis is never restarted by a rerun (its error and a Retry button only),
a dataset too small for a map is told so and starts no job, and at upload a mapping without text is refused, an
empty file says it is empty and a too-small file is told so (no analysis started).

No model: features and embeddings are written straight into the workspace (tests/app/fakes.py)."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fakes import fake_analyse, fake_losses, grouped_vectors
from tests.conftest import DATA, ROOT
from tests.helpers import app_workspace, open_app

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    with app_workspace(tmp_path_factory.mktemp("guards-ws")) as ws:
        yield ws


def open_page(page: str, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params.update(query)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def rerun(at: AppTest, times: int) -> AppTest:
    for _ in range(times):
        at.run()
        assert not at.exception, at.exception
    return at


def jobs_of(dataset: str) -> list[tuple[str, str]]:
    from core.jobs import list_jobs
    from ui import get_store

    return [(j.kind, j.status) for j in list_jobs(get_store(), dataset=dataset)]


def wait_all() -> None:
    from ui import get_runner

    for (job_id,) in get_runner().store.query("SELECT id FROM jobs WHERE status IN ('queued','running')"):
        get_runner().wait(job_id, timeout=120)


def tiny(name: str, rows: int = 2) -> str:
    """A dataset of `rows` rows with features, embeddings and losses written (what the analysis would compute)."""
    from core.data.datasets import ingest
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY
    from ui import get_store
    from ui.analysis import PageOptions

    store = get_store()
    path = DATA / "mixture_24.jsonl"
    small = store.path.parent / f"{name}.jsonl"
    small.write_text("".join(path.read_text().splitlines(keepends=True)[:rows]))
    ingest(store, small, name=name)
    config = PageOptions().feature_config()
    samples = store.samples(name)
    store.register_config(config)
    store.write_features(config, [s.content_hash for s in samples], grouped_vectors(["a"] * rows, config.dim))
    store.write_vectors(EMBEDDING_KEY, EMBEDDING_DIM, [s.content_hash for s in samples],
                        grouped_vectors(["a"] * rows, EMBEDDING_DIM, 1))
    fake_losses(store, name, config)
    return name


def test_two_rows_the_upload_job_fails_once_and_reruns_start_none(ws):
    """The issue's case: an analysis of a 2-row dataset fails ('a map needs at least 3'); opening Gradient space and
    rerunning it many times starts no other job."""
    from core.analysis.analyse import run_analysis
    from ui import get_runner, get_store
    from ui.analysis import PageOptions, job_params

    name = tiny("two-rows")
    opts = PageOptions()
    store = get_store()
    job_id = get_runner().start("analyse", name, job_params(opts), lambda ctx: run_analysis(store, name, opts, ctx))
    assert get_runner().wait(job_id, timeout=120).status == "failed"  # as the Data page's upload started it
    at = rerun(open_page("pages/gradient-space.py", dataset=name, job=job_id), 6)
    wait_all()
    assert jobs_of(name) == [("analyse", "failed")]
    shown = " ".join(e.value for e in list(at.warning) + list(at.error))
    assert "at least 3" in shown


def test_a_failed_analysis_shows_retry_and_is_never_restarted_by_a_rerun(ws, monkeypatch):
    """Any failed analysis (here one made to fail on a dataset big enough): reruns show its error and a Retry
    button, and start nothing; only Retry starts a job."""
    import ui.analysis

    name = "fails"
    from core.data.datasets import ingest
    from ui import get_store
    from ui.analysis import PageOptions

    store = get_store()
    ingest(store, DATA / "mixture_24.jsonl", name=name)
    fake_analyse(store, name, PageOptions(), seed=1)

    def boom(*args, **kwargs):
        raise ValueError("planted failure")

    monkeypatch.setattr(ui.analysis, "run_analysis", boom)
    monkeypatch.setattr(ui.analysis, "INLINE_RECLUSTER_ROWS", 0)  # a new k goes to the analyse job
    at = open_page("pages/gradient-space.py", dataset=name, k="5")
    wait_all()
    rerun(at, 5)
    wait_all()
    rerun(at, 3)
    assert jobs_of(name) == [("analyse", "failed")]
    assert any("planted failure" in e.value for e in at.error)
    retry = next(b for b in at.button if b.label == "Retry the analysis")
    retry.click()
    rerun(at, 1)
    wait_all()
    assert jobs_of(name) == [("analyse", "failed"), ("analyse", "failed")]  # the button, and only it, started one


def test_a_tiny_dataset_opened_in_gradient_space_starts_no_job(ws):
    from core.analysis.analyse import run_analysis
    from ui import get_store
    from ui.analysis import PageOptions

    name = tiny("tiny-scored")
    store = get_store()
    with pytest.raises(ValueError, match="at least 3"):
        run_analysis(store, name, PageOptions())  # the scores are stored; the map cannot be
    at = rerun(open_page("pages/gradient-space.py", dataset=name), 3)
    assert jobs_of(name) == []
    assert any("at least 3" in w.value for w in at.warning)
def uploaded(name: str, content: bytes) -> AppTest:
    """The Data page with a CSV file given to its uploader."""
    at = open_app()
    at.file_uploader[0].set_value((name, content, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    return at


def test_upload_mapping_without_text_is_refused(ws):
    at = uploaded("ids.csv", b"id,label\n1,a\n2,b\n")
    next(b for b in at.button if b.label == "Ingest and analyse").click()
    at.run()
    assert not at.exception, at.exception
    assert not at.success
    assert any("text" in e.value for e in at.error), [e.value for e in at.error]
    from ui import get_store

    assert "ids" not in get_store().dataset_names()


def test_upload_of_an_empty_file_says_it_is_empty(ws):
    at = uploaded("nothing.csv", b"")
    assert any("empty" in e.value for e in at.error), [e.value for e in at.error]


def test_upload_of_a_two_row_file_says_it_is_too_small(ws):
    rows = (DATA / "mixture_24.jsonl").read_text().splitlines()[:2]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.file_uploader[0].set_value(("pair.jsonl", ("\n".join(rows) + "\n").encode(), "application/json"))
    at.run()
    next(b for b in at.button if b.label == "Ingest and analyse").click()
    at.run()
    assert not at.exception, at.exception
    assert any("at least 3" in w.value for w in at.warning), [w.value for w in at.warning]
    assert jobs_of("pair") == []  # an analysis that must fail is not started


def test_delete_asks_first_and_rename_keeps_the_rows(ws):
    """Delete on the Data page: the first button only asks (a rerun, Cancel: nothing deleted); 'Yes, delete' does.
    Rename: the dataset and its rows under the new name."""
    from core.data.datasets import ingest
    from ui import get_store

    store = get_store()
    for name in ("keep-me", "drop-me"):
        ingest(store, DATA / "gsm8k_8.jsonl", name=name)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.selectbox[0].set_value("drop-me").run()
    next(b for b in at.button if b.label == "Delete drop-me…").click().run()
    assert not at.exception, at.exception
    assert "drop-me" in store.dataset_names()  # asked, not deleted
    assert any("Delete **drop-me** for good" in w.value and "8 samples" in w.value for w in at.warning)
    rerun(at, 2)
    next(b for b in at.button if b.label == "Cancel").click().run()
    assert "drop-me" in store.dataset_names() and not any(b.label == "Yes, delete drop-me" for b in at.button)
    next(b for b in at.button if b.label == "Delete drop-me…").click().run()
    next(b for b in at.button if b.label == "Yes, delete drop-me").click().run()
    assert not at.exception, at.exception
    assert "drop-me" not in store.dataset_names() and store.count_rows("drop-me", "all") == 0
    assert "drop-me" not in list(at.dataframe[0].value["dataset"])

    at.selectbox[0].set_value("keep-me").run()
    at.text_input(key="rename-keep-me").set_value("kept").run()
    next(b for b in at.button if b.label == "Rename").click().run()
    assert not at.exception, at.exception
    assert "kept" in store.dataset_names() and "keep-me" not in store.dataset_names()
    assert store.count_rows("kept") == 8


def shown(table) -> "pd.DataFrame":
    """A st.dataframe as the browser draws it: its Styler's display values when it has them, else its data."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    arrow = table.proto.arrow_data
    if arrow.HasField("styler") and arrow.styler.display_values:
        return convert_arrow_bytes_to_pandas_df(arrow.styler.display_values)
    return table.value


def test_no_none_cells_in_the_data_page_and_curate_tables(ws):
    """A dataset not analysed yet has no G-Vendi, mode or model: the datasets table shows '—', never None/NaN, and
    its numbers stay numbers underneath; so do the paged tables (Curate's search and neighbours, the clusters' rows)
    and a preview with missing fields."""
    import pandas as pd

    from core.data.datasets import ingest
    from ui import get_store
    from ui.tables import MISSING, no_none

    ingest(get_store(), DATA / "gsm8k_8.jsonl", name="fresh")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    table = shown(at.dataframe[0])
    row = table[table["dataset"] == "fresh"].iloc[0]
    assert row["G-Vendi"] == MISSING and row["model"] == MISSING and row["status"] == "not analysed"
    assert not table.isna().any().any() and not table.astype(str).isin(["None", "nan", "NaN"]).any().any()
    frame = pd.DataFrame({"id": ["a", "b"], "source": ["gsm8k", None], "score": [1.5, float("nan")], "n": [3, 4]})
    assert no_none(frame).data["score"].dtype == float  # a Styler: the numbers stay numbers (they sort as such)
    text = no_none(frame).to_string()
    assert "None" not in text and "nan" not in text and text.count(MISSING) == 2 and "1.5" in text
    assert no_none(frame[["id", "n"]]) is not None and isinstance(no_none(frame[["id", "n"]]), pd.DataFrame)
    at.file_uploader[0].set_value(("ragged.jsonl", b'{"question": "q1?", "answer": "a1", "note": "x"}\n'
                                                   b'{"question": "q2?", "answer": "a2"}\n', "application/json"))
    at.run()
    assert list(shown(at.dataframe[1])["note"]) == ["x", MISSING]


def test_a_tiny_dataset_not_analysed_is_told_so_and_offered_no_analyse_button(ws):
    from core.data.datasets import ingest
    from ui import get_store

    small = get_store().path.parent / "one.jsonl"
    small.write_text((DATA / "mixture_24.jsonl").read_text().splitlines(keepends=True)[5])
    ingest(get_store(), small, name="one")
    at = rerun(open_page("pages/gradient-space.py", dataset="one"), 2)
    assert any("needs at least 3" in w.value for w in at.warning)
    assert not any(b.label == "Analyse" for b in at.button) and jobs_of("one") == []
