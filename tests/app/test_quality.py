"""AppTests of the quality read in the app (issue 18): the Curate page lists planted junk as suspect rows with their
reasons, excludes one in one click and undoes it, and an ok tag moves a row to the overridden list (un-ok brings it
back); without the model's losses it says the read fell back to the text signals. The Gradient space page gives
G-Vendi with and without the suspect rows (the Data page's list too), and the map's data marks the suspect rows with
their reasons and signals to colour by; the Synthesis page gives a suspect candidate its reasons.

Datasets are "analysed" with fakes.fake_analyse (features and losses written directly): no model runs."""
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fakes import JUNK, JUNK_LOSSES, fake_analyse, junk_file
from tests.conftest import ROOT
from tests.helpers import app_workspace

pytestmark = pytest.mark.filterwarnings("ignore")
HEAD = re.compile(r"^\*\*(.+?)\*\* · (\d+) reasons?( · tagged ok)?")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    with app_workspace(tmp_path_factory.mktemp("quality-ws")) as ws:
        yield ws


def junk(ws, name: str, *, analyse: bool = True, seed: int = 0) -> str:
    """40 clean math rows and 3 planted junk rows (emoji, Chinese, an answer to another problem), analysed with the
    junk rows' losses planted too (the mismatched one: the prompt does not help, IFD 1.02)."""
    from core.data.datasets import ingest
    from ui import get_store
    from ui.analysis import PageOptions

    store = get_store()
    if not store.has_dataset(name):
        ingest(store, junk_file(ws / f"{name}.jsonl", seed=seed), name=name)
        if analyse:
            fake_analyse(store, name, PageOptions(), losses=JUNK_LOSSES)
    return name


def new_app(page: str, dataset: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["dataset"] = dataset
    at.run()
    at.switch_page(page)
    if page == "pages/curate.py":
        at.query_params["tab"] = "suspects"  # the Curate page's Suspect rows section, as a link to it opens it
    return run(at)


def run(target) -> AppTest:
    at = target.run()
    assert not at.exception, at.exception
    return at


def listed(at) -> list[tuple[str, int, bool]]:
    """(id, number of reasons, tagged ok) of every row the Suspect rows list shows, in order."""
    out = []
    for m in at.markdown:
        found = HEAD.match(m.value)
        if found:
            out.append((found.group(1).replace("\\", ""), int(found.group(2)), bool(found.group(3))))
    return out


def shown_text(at) -> str:
    return " ".join(e.value for e in [*at.markdown, *at.caption]).replace("\\", "")


def test_curate_lists_junk_as_suspect_excludes_in_one_click_undoes_and_ok_overrides(ws):
    from ui import get_store

    name = junk(ws, "junk-curate")
    store = get_store()
    at = new_app("pages/curate.py", name)
    assert listed(at) == [("junk-emoji", 3, False), ("junk-script", 2, False), ("junk-mismatched", 1, False)]
    text = shown_text(at)  # the reasons, in words, and the start of each row's text
    for words in ("100% of the response is symbols or emoji", "written in CJK script",
                  "the prompt does not help predict the response: IFD 1.02", JUNK["junk-mismatched"][0][:40]):
        assert words in text, words
    assert "falls back to the text signals" not in text  # the losses were there

    run(at.button(key=f"suspect-ex-{name}-junk-mismatched").click())  # one click
    assert store.excluded(name) == ["junk-mismatched"]
    assert [i for i, _, _ in listed(at)] == ["junk-emoji", "junk-script"]
    assert any("1 row excluded" in s.value for s in at.success)
    run(at.button(key=f"suspect-undo-{name}").click())  # the page's action history
    assert store.excluded(name) == []
    assert [i for i, _, _ in listed(at)] == ["junk-emoji", "junk-script", "junk-mismatched"]

    run(at.button(key=f"suspect-ok-{name}-junk-emoji").click())  # the user vouches for it: overridden
    assert store.tagged(name, "ok") == ["junk-emoji"]
    assert listed(at) == [("junk-script", 2, False), ("junk-mismatched", 1, False), ("junk-emoji", 3, True)]
    assert "Overridden: 1 row tagged ok" in shown_text(at)
    assert not [b for b in at.button if b.key == f"suspect-ex-{name}-junk-emoji"]
    run(at.button(key=f"suspect-unok-{name}-junk-emoji").click())
    assert store.tagged(name, "ok") == [] and listed(at)[0] == ("junk-emoji", 3, False)

    run(at.button(key=f"suspect-ex-all-{name}").click())  # every listed row at once, undone at once
    assert store.excluded(name) == ["junk-emoji", "junk-mismatched", "junk-script"]
    assert not listed(at) and any("No suspect rows" in i.value for i in at.info)
    run(at.button(key=f"suspect-undo-{name}").click())
    assert store.excluded(name) == [] and len(listed(at)) == 3


def test_without_losses_the_list_says_it_reads_text_signals_only(ws):
    name = junk(ws, "junk-no-losses", analyse=False, seed=1)  # rows no other dataset here has
    at = new_app("pages/curate.py", name)
    assert "falls back to the text signals" in shown_text(at)
    assert [i for i, _, _ in listed(at)] == ["junk-emoji", "junk-script"]  # 'unrelated' needs the losses


def test_gradient_space_and_data_pages_give_g_vendi_without_the_suspect_rows(ws):
    from core.analysis.scoring import clean_score
    from ui import get_store
    from ui.analysis import PageOptions

    name = junk(ws, "junk-score")
    store, opts = get_store(), PageOptions()
    key = opts.feature_config().key()
    clean, n_suspect = clean_score(store, name, key, opts.dim)
    g_vendi = store.get_score(name, key, "g_vendi")[0]
    assert n_suspect == 3 and abs(clean - g_vendi) > 0.005
    at = new_app("pages/gradient-space.py", name)
    assert f"G-Vendi {g_vendi:.2f} · {clean:.2f} without 3 suspect rows" in shown_text(at)
    radio = next(r for r in at.radio if r.label == "Colour by")
    assert {"loss", "IFD", "overlap", "compression", "symbols", "length"} <= set(radio.options)
    run(radio.set_value("IFD"))

    data = new_app("pages/data.py", name)
    table = data.dataframe[0].value.set_index("dataset")
    assert table.loc[name, "without suspect"] == round(clean, 2) and table.loc[name, "suspect rows"] == 3

    store.mark(name, ["junk-emoji"], "tag", "ok")  # vouched for: no longer set aside
    at = new_app("pages/gradient-space.py", name)
    assert "without 2 suspect rows" in shown_text(at)


def test_map_data_marks_suspect_rows_with_reasons_and_signals(ws):
    from core.analysis.gradient_map import latest_map
    from core.plots import map_figure
    from ui import get_store
    from ui.analysis import PageOptions
    from ui.mapdata import map_frame
    from ui.qualitydata import SIGNAL_PREFIX, signal_choices

    name = junk(ws, "junk-map")
    store = get_store()
    gmap = latest_map(store, name, PageOptions().feature_config().key())
    data = map_frame(store, gmap)
    frame = data.frame
    assert set(frame.loc[frame["suspect"], "id"]) == set(JUNK)
    assert not (frame["suspect"] & frame["sparse"]).any()  # never a sparse region
    reasons = dict(zip(frame["id"], frame["reasons"]))
    assert any("symbols or emoji" in r for r in reasons["junk-emoji"]) and reasons["c0"] == []
    ifd = dict(zip(frame["id"], frame[SIGNAL_PREFIX + "IFD"]))
    assert ifd["junk-mismatched"] > 1 > ifd["c0"]
    assert signal_choices(frame, data.label_cols) == ["loss", "IFD", "overlap", "compression", "symbols", "length"]

    suspect = frame["suspect"].to_numpy()
    fig = map_figure(frame, gmap.labels, gmap.sparse_rows, gmap.xy, suspect=suspect,
                     reasons=frame["reasons"].to_numpy())
    crosses = [t for t in fig.data if t.name == "suspect (3)"]
    assert len(crosses) == 1 and crosses[0].marker.symbol == "x"
    assert sorted(int(r) for r in np.asarray(crosses[0].customdata)[:, 0]) == list(np.flatnonzero(suspect))
    assert any("symbols or emoji" in h for h in crosses[0].hovertext)
    others = [t for t in fig.data if t.customdata is not None and t is not crosses[0]]
    assert not any(set(np.asarray(t.customdata)[:, 0]) & set(np.flatnonzero(suspect)) for t in others)


def test_synthesis_candidates_show_the_quality_reasons_of_suspect_ones():
    import pandas as pd

    from ui.synth_live import WHY, with_quality

    frame = pd.DataFrame({"reason": ["suspect", "accepted"],
                          "quality": ['["no number in the response", "the prompt does not help: IFD 1.10"]', None]})
    assert list(with_quality(frame)["quality"]) == ["no number in the response; the prompt does not help: IFD 1.10",
                                                    ""]
    assert list(with_quality(frame.drop(columns="quality"))["quality"]) == ["", ""]  # a run made before the read
    assert "quality read" in WHY["suspect"]


def test_a_large_map_draws_every_suspect_row_over_its_density_image():
    from core.plots import plan_points

    rng = np.random.default_rng(0)
    sparse, suspect = rng.random(1000) < 0.05, np.zeros(1000, dtype=bool)
    suspect[rng.choice(np.flatnonzero(~sparse), 7, replace=False)] = True
    plan = plan_points(sparse, suspect=suspect, max_points=200, sample=50)
    assert plan.image and set(np.flatnonzero(suspect)) <= set(plan.rows) and plan.suspect_drawn == 7
    assert set(np.flatnonzero(sparse)) <= set(plan.rows) and plan.sampled_dense == 50
    assert "and 7 suspect rows" in plan.note(1000)
