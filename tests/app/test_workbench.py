"""AppTests of the map-first Gradient space page (issue 21): the settings in the sidebar, a selection's action bar
(exclude and undo refresh the scores from cached features, the selection survives), the row inspector (the chosen
row's full text, its neighbours open in it), and "grow this region" handing the rows' clusters to Synthesis.

AppTest cannot lasso a Plotly chart: selections are made with the panel's cluster picker (as a user may) or set in
the session as the chart's event would."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import DATA, ROOT
from tests.helpers import module_app_workspace

pytestmark = pytest.mark.filterwarnings("ignore")


ws = module_app_workspace("workbench-ws")


def analysed(name: str) -> str:
    from core.data.datasets import ingest
    from tests.app.fakes import fake_analyse
    from ui import get_store
    from ui.analysis import PageOptions

    store = get_store()
    if not store.has_dataset(name):
        ingest(store, DATA / "mixture_24.jsonl", name=name)
        fake_analyse(store, name, PageOptions())
    return name


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["dataset"] = name
    at.run()
    at.switch_page("pages/gradient-space.py")
    return run(at)


def run(at) -> AppTest:
    at = at.run()
    assert not at.exception, at.exception
    return at


def samples(at) -> int:
    return int(next(m.value for m in at.metric if m.label == "Samples").replace(",", ""))


def cluster_picker(at):
    return next(s for s in at.number_input if s.key and s.key.startswith("sel-cluster-"))


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def text(at) -> str:
    return " ".join(m.value for m in at.markdown)


def test_settings_in_the_sidebar_and_one_line_of_scores(ws):
    at = page(analysed("wb-layout"))
    assert any(e.label == "Clusters k (0 = n/10)" for e in at.sidebar.number_input)
    assert any(e.label == "Analysis settings" for e in at.sidebar.expander)
    assert not any(e.label == "Clusters k (0 = n/10)" for e in at.main.number_input)
    assert any(m.value.startswith("**G-Vendi** ") and "24 samples" in m.value for m in at.main.markdown)


def test_selection_exclude_then_undo_changes_the_kept_rows_and_back(ws):
    from ui import get_store

    name = analysed("wb-select")
    at = page(name)
    assert samples(at) == 24
    run(cluster_picker(at).set_value(0))  # k = 2: take the smaller cluster, so the rest still make a map
    if len(at.session_state[f"selection-{name}"]) > 12:
        run(cluster_picker(at).set_value(1))
    chosen = at.session_state[f"selection-{name}"]
    assert 0 < len(chosen) < 24 and f"Selected: {len(chosen)} samples" in text(at)
    run(button(at, "Exclude").click())
    assert sorted(get_store().excluded(name)) == sorted(chosen)
    assert samples(at) == 24 - len(chosen)  # refreshed from cached features in the page: no "not analysed"
    assert not any("no analysis" in i.value for i in at.info)
    assert at.session_state[f"selection-{name}"] == chosen and f"Selected: {len(chosen)} samples" in text(at)
    table = next(d.value for d in at.dataframe if "excluded" in d.value.columns)
    assert set(table["excluded"]) == {"yes"} and all(r.startswith("row ") for r in table["row"])
    run(button(at, "Undo").click())
    assert get_store().excluded(name) == [] and samples(at) == 24
    assert f"Selected: {len(chosen)} samples" in text(at)


def test_inspector_shows_the_chosen_row_and_opens_a_neighbour(ws):
    from ui import get_store

    name = analysed("wb-inspect")
    rows = get_store().samples(name)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.query_params["dataset"] = name
    at.run()
    at.switch_page("pages/gradient-space.py")
    at.session_state[f"inspect-{name}"] = rows[3].id  # as a click on its point would
    run(at)
    side = " ".join(m.value for m in at.sidebar.markdown)
    first_words = rows[3].prompt.split()[:3]
    assert all(w.strip(".,?!$") in side for w in first_words) and "row 4" in side
    assert rows[3].response.split()[0].strip(".,?!$") in side
    near = [b for b in at.sidebar.button if b.key and b.key.startswith(f"inspect-near-{name}-")]
    assert len(near) == 5 and all(" · row " in b.label for b in near)
    at.session_state[f"selection-{name}"] = [rows[3].id]  # the click selected it too: its cluster is one click away
    run(at)
    grow = next(b for b in at.button if b.label.startswith("Select all of cluster "))
    run(grow.click())
    from core.analysis import cache
    from ui.analysis import PageOptions

    cluster = int(grow.label.split()[4])
    gmap = cache.latest_map(get_store(), name, PageOptions().feature_config().key())
    members = [i for i, c in zip(gmap.ids, gmap.labels) if int(c) == cluster]
    assert rows[3].id in members and sorted(at.session_state[f"selection-{name}"]) == sorted(members)
    near = [b for b in at.sidebar.button if b.key and b.key.startswith(f"inspect-near-{name}-")]
    target = near[0].key.rsplit(f"inspect-near-{name}-", 1)[1]
    run(near[0].click())
    assert at.session_state[f"inspect-{name}"] == target
    opened = get_store().rows_by_id(name, [target])[target]
    assert opened.prompt.split()[0].strip(".,?!$") in " ".join(m.value for m in at.sidebar.markdown)


def test_compare_and_grow_this_region(ws):
    name = analysed("wb-grow")
    at = page(name)
    picker = cluster_picker(at)
    run(picker.set_value(1))
    run(button(at, "Compare with rest").click())
    assert "Selection vs the rest" in text(at)
    button(at, "Grow this region").click()
    at = run(at)
    assert "grow-region" not in at.session_state  # handed over, consumed once by the Synthesis page
    note = next(i.value for i in at.info if "From the selection" in i.value)
    targets = at.session_state[next(s.key for s in at.multiselect if s.key.startswith(f"targets-{name}-"))]
    assert f"{len(targets)} of its clusters are sparse" in note


def test_the_maps_pixel_ratio_is_the_screens_from_its_cookie_else_1():
    from ui.layout import DPR_COOKIE, gl_config, gl_pixel_ratio

    assert gl_pixel_ratio({}) == 1.0  # a first session: no cookie yet
    assert gl_pixel_ratio({DPR_COOKIE: "2"}) == 2.0
    assert gl_pixel_ratio({DPR_COOKIE: "1.25"}) == 1.25
    for bad, ratio in (("nan", 1.0), ("abc", 1.0), ("", 1.0), ("0.5", 1.0), ("9", 4.0), ("inf", 4.0)):
        assert gl_pixel_ratio({DPR_COOKIE: bad}) == ratio, bad  # plotly's range is 1-4
    assert gl_config() == {"plotGlPixelRatio": 1.0}  # no session: 1
