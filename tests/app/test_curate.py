"""AppTests of the Curate page (issue 13): duplicates with the G-Vendi they cost and their exclusion, search and
tagging, more like this, undo, imported vectors (a bad file stores nothing); and the word-diff helper.

Features are written straight into the workspace (no model): grouped random vectors (same-group cosine ~0.74, below
every threshold of the curve) with one planted duplicate: row g1 gets g0's vector exactly."""
import io
import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fakes import grouped_vectors
from tests.conftest import DATA, ROOT
from tests.helpers import app_workspace

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    with app_workspace(tmp_path_factory.mktemp("curate-ws")) as ws:
        yield ws


def planted(name: str, *, features: bool = True, fixture: str = "mixture_24.jsonl") -> str:
    """mixture_24 as `name`, with features where g1 duplicates g0 in gradient space (their texts differ), and g3 is
    near g2 (cosine 0.83: a duplicate only when the threshold is moved below the default 0.85)."""
    from core.data.datasets import ingest
    from ui import get_store
    from ui.analysis import PageOptions

    store = get_store()
    if store.has_dataset(name):
        return name
    ingest(store, DATA / fixture, name=name)
    if features:
        config = PageOptions().feature_config()
        samples = store.samples(name)
        X = grouped_vectors([str(s.meta.get("source", "")) for s in samples], config.dim, seed=3)
        X[1] = X[0]
        x2 = X[2] / np.linalg.norm(X[2])
        noise = np.random.default_rng(4).normal(size=config.dim)
        noise -= (noise @ x2) * x2
        # cosine exactly 0.83 to g2: below the default threshold (0.85), above the slider's lowest (0.80)
        X[3] = np.linalg.norm(X[2]) * (0.83 * x2 + np.sqrt(1 - 0.83 ** 2) * noise / np.linalg.norm(noise))
        store.write_features(config, [s.content_hash for s in samples], X)
    return name


def new_app(dataset: str, tab: str | None = None) -> AppTest:
    """The Curate page on `dataset`, its section `tab` open (?tab=, as a link would; default: Duplicates)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["dataset"] = dataset
    at.run()
    at.switch_page("pages/curate.py")
    if tab:
        at.query_params["tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def run(target) -> AppTest:
    """Run the app after an interaction (a widget's run() runs its AppTest, and returns it)."""
    at = target.run()
    assert not at.exception, at.exception
    return at


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def marks_table(at, dataset):
    frames = [d.value for d in at.dataframe if list(d.value.columns) == ["mark", "tag", "rows"]]
    return frames[0] if frames else None


def open_section(at, slug: str) -> AppTest:
    """Open a section of the page, as a click on its button would (only the open one is drawn)."""
    at.session_state["tab"] = slug
    return run(at)


def excluded(dataset: str) -> list[str]:
    from ui import get_store

    return get_store().excluded(dataset)


def test_marked_diff_marks_only_changed_words_and_escapes():
    from ui.curatedata import changed_words, escape_md, exclusion_ids, marked_diff

    assert marked_diff("Tom has 3 apples", "Ann has 3 apples") == ":red[**Ann**] has 3 apples"
    assert marked_diff("Tom has 3 apples", "Tom has 3 apples") == "Tom has 3 apples"
    assert changed_words("Tom has 3 apples.", "Tom has 5 pears.") == ["5", "pears."]
    assert escape_md("$5 *each* [x](y) :smile:") == r"\$5 \*each\* \[x\]\(y\) \:smile\:"
    assert marked_diff("a", "a $b") == r"a :red[**\$b**]"
    assert exclusion_ids([["k1", "d1", "d2"], ["k2", "d3"]]) == ["d1", "d2", "d3"]


def test_duplicates_listed_excluded_then_undone(ws):
    name = planted("dups")
    at = new_app(name)
    groups = [e for e in at.expander if e.label.startswith("Group ")]
    assert len(groups) == 1 and groups[0].label.startswith("Group 1: 2 rows, keeps g")
    before = metrics(at)
    assert before["Rows flagged"] == "1"
    assert before["G-Vendi before"] != before["G-Vendi after"]
    assert any(":red[**" in m.value for m in at.markdown)  # the duplicate's other words are marked
    curve = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert curve["x"][0] == 0.8 and curve["y"][0] == 2 and curve["y"][-1] == 1 and len(curve["x"]) == 20

    run(at.button(key=f"dup-all-{name}").click())
    assert len(excluded(name)) == 1 and excluded(name)[0] in ("g0", "g1")
    after = metrics(at)
    assert after["Rows flagged"] == "0"
    assert after["G-Vendi before"] == before["G-Vendi after"]  # the kept rows are now what is scored
    assert not [e for e in at.expander if e.label.startswith("Group ")]
    assert any("1 row excluded" in s.value for s in at.success)
    open_section(at, "marks")
    assert list(marks_table(at, name)["rows"]) == [1]

    run(at.button(key=f"undo-{name}").click())
    assert excluded(name) == []
    assert marks_table(at, name) is None
    open_section(at, "duplicates")
    assert metrics(at) == before


def test_exclude_the_others_of_one_group_and_show_all(ws):
    name = planted("dups-one")
    at = new_app(name)
    group = next(e for e in at.expander if e.label.startswith("Group 1"))
    kept = group.label.rsplit(" ", 1)[-1]
    run(at.button(key=f"dup-ex-{name}-{kept}").click())
    assert excluded(name) == [{"g0": "g1", "g1": "g0"}[kept]]
    run(at.toggle(key=f"curate-all-{name}").set_value(True))  # every row again: the pair is back in view
    assert metrics(at)["Rows flagged"] == "1"


def test_threshold_slider_moves_the_report(ws):
    name = planted("dups-slider")
    at = new_app(name)
    assert metrics(at)["Rows flagged"] == "1"
    run(at.slider(key=f"dup-t-{name}").set_value(0.80))
    assert metrics(at)["Rows flagged"] == "2"
    groups = [e for e in at.expander if e.label.startswith("Group ")]
    assert len(groups) == 2 and "0.80" in groups[1].markdown[0].value  # the reason names the threshold in use
    run(at.slider(key=f"dup-t-{name}").set_value(0.99))
    assert metrics(at)["Rows flagged"] == "1"


def test_search_finds_row_tags_and_undo(ws):
    name = planted("search")
    at = new_app(name, tab="search")
    run(at.text_input(key=f"q-{name}").set_value("craft store"))
    table = at.dataframe[0].value
    assert list(table["id"]) == ["g0"]
    assert "craft store" in table["match"][0]
    run(at.text_input(key=f"sel-tag-{name}-search").set_value("crafts"))
    run(at.button(key=f"sel-tag-btn-{name}-search").click())
    from ui import get_store

    assert get_store().tags(name) == {"g0": ["crafts"]}
    run(at.button(key=f"sel-exclude-{name}-search").click())
    assert excluded(name) == ["g0"]
    assert any("0 row(s) match" in c.value for c in at.caption)  # the kept view no longer holds it
    open_section(at, "marks")
    assert list(marks_table(at, name)["tag"]) == ["crafts", ""]  # the tag, and the exclusion
    run(at.button(key=f"undo-{name}").click())
    assert excluded(name) == [] and get_store().tags(name) == {"g0": ["crafts"]}  # only the last action undone


def test_regex_search_and_bad_regex(ws):
    name = planted("search-regex")
    at = new_app(name, tab="search")
    run(at.checkbox(key=f"re-{name}").check())
    run(at.text_input(key=f"q-{name}").set_value(r"craft\s+store"))
    assert list(at.dataframe[0].value["id"]) == ["g0"]
    run(at.text_input(key=f"q-{name}").set_value("(unclosed"))
    assert any("not a valid regular expression" in e.value for e in at.error)


def test_more_like_this_lists_the_row_first(ws):
    name = planted("similar")
    at = new_app(name, tab="similar")
    run(at.text_input(key=f"mlt-id-{name}").set_value("g2"))
    table = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert table["id"][0] == "g2" and table["similarity"][0] == "1.00"
    assert len(table) == 10 and all(float(s) < 1.0 for s in table["similarity"][1:])
    run(at.text_input(key=f"mlt-id-{name}").set_value("g0"))  # its planted copy follows it at 1.00
    table = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert list(table["id"][:2]) == ["g0", "g1"] and list(table["similarity"][:2]) == ["1.00", "1.00"]
    run(at.text_input(key=f"mlt-id-{name}").set_value("nope"))
    assert any("no row 'nope'" in e.value for e in at.error)


def test_without_features_the_page_says_analyse_first(ws):
    name = planted("bare", features=False, fixture="pool_16.jsonl")  # rows no other dataset has
    at = new_app(name)
    assert sum("analyse it on the Gradient space page first" in i.value for i in at.info) == 1
    assert not at.metric
    open_section(at, "similar")
    assert sum("analyse it on the Gradient space page first" in i.value for i in at.info) == 1


def npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_import_bad_vectors_stores_nothing_then_good_ones(ws):
    from core.features.imported import imported_sets
    from ui import get_store

    name = planted("imports")
    rows = [s.id for s in get_store().samples(name)]
    ids = "\n".join(rows).encode()
    at = new_app(name, tab="import")
    at.file_uploader(key=f"imp-file-{name}").set_value(("vecs.npy", npy(np.ones(24, np.float32)), "application/octet-stream"))
    at.file_uploader(key=f"imp-ids-{name}").set_value(("ids.txt", ids, "text/plain"))
    run(at.text_input(key=f"imp-name-{name}").set_value("mine"))
    run(at.button(key=f"imp-btn-{name}").click())
    assert any("Nothing imported" in e.value and "shape" in e.value for e in at.error)
    assert imported_sets(get_store(), name) == {}
    assert len(at.selectbox(key=f"curate-features-{name}").options) == 1

    X = np.random.default_rng(0).normal(size=(24, 8)).astype(np.float32)
    X[5] = X[4]
    at.file_uploader(key=f"imp-file-{name}").set_value(("vecs.npy", npy(X), "application/octet-stream"))
    run(at.button(key=f"imp-btn-{name}").click())
    assert any("Imported feature set 'mine': 8 dims covering 24 rows" in s.value for s in at.success), \
        ([e.value for e in at.error], [s.value for s in at.success])
    features = at.selectbox(key=f"curate-features-{name}")
    assert len(features.options) == 2
    run(features.select(features.options[1]))
    open_section(at, "duplicates")
    group = next(e for e in at.expander if e.label.startswith("Group 1"))  # dedup on the imported vectors
    assert group.label.startswith("Group 1: 2 rows") and group.label.rsplit(" ", 1)[-1] in rows[4:6]


def test_gradient_space_after_an_exclusion_shows_the_kept_rows(ws):
    """Features cover the kept rows only once a row is excluded: the page compares them with the kept rows (against
    every row, it would ask for an analysis forever)."""
    from tests.app.fakes import fake_analyse
    from ui import get_store
    from ui.analysis import PageOptions

    name = planted("analysed-then-curated")
    store = get_store()
    store.mark(name, ["g0"], "exclude")
    fake_analyse(store, name, PageOptions())  # the kept rows analysed (as the Analyse button would)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["dataset"] = name
    at.run()
    at.switch_page("pages/gradient-space.py")
    run(at)
    assert not any("has no analysis" in i.value for i in at.info)
    assert "G-Vendi" in metrics(at)


def test_the_slider_opens_at_the_default_threshold_with_the_rows_each_threshold_flags(ws):
    """Issue 21: the slider opened at 0.80 on the demo; it starts at dedup's default (0.85), and the curve beside it
    gives the rows flagged at every threshold of the report, with a dotted line at the slider."""
    from core.analysis.dedup import DEFAULT_THRESHOLD

    name = planted("dups-default")
    at = new_app(name)
    assert at.slider(key=f"dup-t-{name}").value == pytest.approx(DEFAULT_THRESHOLD) == pytest.approx(0.85)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    (trace,) = fig["data"]
    curve = dict(zip(trace["x"], trace["y"]))
    assert curve[0.8] == 2 and curve[0.85] == 1 and curve[0.99] == 1  # g3 ~ g2 at 0.83; g1 = g0 at every one
    assert fig["layout"]["shapes"][0]["x0"] == pytest.approx(0.85)
