"""AppTests of issue 21 on the Curate page: a text search's results and a duplicate group get the map's action bar
(ui/selection_actions.py: tag, exclude, include, more like this, compare with the rest, grow this region, undo), and
the page's sections survive an action (the open one is a keyed control, kept in the URL: an action used to send the
page back to its first tab, "Duplicates").

The dataset is mixture_24 with planted features (tests/app/test_curate.py: g1's vector is g0's, so they make one
duplicate group) and a fake analysis on top (a map, for the clusters that compare and grow read)."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_curate import new_app, planted, run
from tests.helpers import module_app_workspace

pytestmark = pytest.mark.filterwarnings("ignore")


ws = module_app_workspace("curate-actions-ws")


def analysed(name: str) -> str:
    from tests.app.fakes import fake_analyse
    from ui import get_store
    from ui.analysis import PageOptions

    planted(name)  # features by content: the fake analysis keeps them (g1 = g0) and adds the map
    fake_analyse(get_store(), name, PageOptions())
    return name


curate = new_app  # the Curate page on a dataset, a section open as a link would


def open_section(at, slug: str) -> AppTest:
    at.session_state["tab"] = slug  # as a click on the section's button
    return run(at)


def text(at) -> str:
    return " ".join(m.value for m in at.markdown)


def store():
    from ui import get_store

    return get_store()


def test_an_action_leaves_the_page_on_its_section_and_in_the_url(ws):
    name = analysed("kept-tab")
    at = curate(name)
    assert at.session_state["tab"] == "duplicates" and "tab" not in at.query_params  # the first: a clean URL
    open_section(at, "search")
    assert at.query_params["tab"] == "search"
    run(at.text_input(key=f"q-{name}").set_value("craft store"))
    run(at.button(key=f"sel-exclude-{name}-search").click())
    assert store().excluded(name) == ["g0"]
    # the action's rerun (and the message it put above the sections) left the page where it was
    assert at.session_state["tab"] == "search" and at.query_params["tab"] == "search"
    assert at.text_input(key=f"q-{name}").value == "craft store"
    assert any("0 row(s) match" in c.value for c in at.caption)
    assert at.button(key=f"sel-include-{name}-search").disabled is False  # the found row is still selected
    run(at.button(key=f"sel-undo-{name}-search").click())
    assert store().excluded(name) == [] and at.session_state["tab"] == "search"
    assert list(at.dataframe[0].value["id"]) == ["g0"]  # the result set is back
    opened = curate(name, tab="marks")  # a link (or a refresh) opens the section the URL names
    assert opened.session_state["tab"] == "marks" and not opened.get("slider")


def test_search_results_are_tagged_compared_and_more_like_them_listed(ws):
    name = analysed("search-acts")
    at = curate(name, tab="search")
    run(at.text_input(key=f"q-{name}").set_value("amount"))
    hits = list(at.dataframe[0].value["id"])
    assert len(hits) >= 2
    run(at.text_input(key=f"sel-tag-{name}-search").set_value("shops"))
    run(at.button(key=f"sel-tag-btn-{name}-search").click())
    assert sorted(store().tagged(name, "shops")) == sorted(hits) and at.session_state["tab"] == "search"
    run(at.button(key=f"sel-compare-{name}-search").click())
    assert f"**Selection vs the rest**: {len(hits)} rows" in text(at)
    run(at.button(key=f"sel-more-{name}-search").click())
    more = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    from core.analysis.row_detail import row_names

    assert len(more) == 10 and all(r.startswith("row ") for r in more["row"])
    assert not set(row_names(store(), name, hits).values()) & set(more["row"])  # none of the results themselves
    run(at.button(key=f"sel-more-take-{name}-search").click())  # they become the dataset's selection
    assert len(at.session_state[f"selection-{name}"]) == 10
    open_section(at, "marks")
    assert "The selection: 10 rows" in text(at)
    run(at.button(key=f"sel-undo-{name}-marks").click())  # the tag, undone from the selection's bar
    assert store().tagged(name, "shops") == []


def bar(at, name: str, action: str):
    """The duplicate group's action bar's widget (its scope names the group's kept row)."""
    widgets = at.text_input if action == "tag" else at.button
    return next(w for w in widgets if w.key and w.key.startswith(f"sel-{action}-{name}-dup-"))


def test_a_duplicate_group_is_tagged_excluded_included_and_undone(ws):
    name = analysed("dup-acts")
    at = curate(name)
    run(at.selectbox(key=f"dup-act-{name}").set_value(1))
    assert "Group 1: 2 rows" in text(at)
    run(bar(at, name, "tag").set_value("twins"))
    run(bar(at, name, "tag-btn").click())
    assert sorted(store().tagged(name, "twins")) == ["g0", "g1"]
    run(bar(at, name, "exclude").click())  # the whole group, its kept row too
    assert sorted(store().excluded(name)) == ["g0", "g1"] and at.session_state["tab"] == "duplicates"
    assert not [e for e in at.expander if e.label.startswith("Group ")]  # the kept rows hold no pair now
    assert "The group acted on: 2 rows" in text(at)  # still selected: its bar stays
    assert bar(at, name, "include").disabled is False and bar(at, name, "exclude").disabled is True
    run(at.toggle(key=f"curate-all-{name}").set_value(True))  # every row: the group is back, and still picked
    assert at.selectbox(key=f"dup-act-{name}").value == 1 and "Group 1: 2 rows" in text(at)
    run(bar(at, name, "include").click())
    assert store().excluded(name) == []
    run(bar(at, name, "undo").click())  # undoes the include: excluded again
    assert sorted(store().excluded(name)) == ["g0", "g1"] and at.session_state["tab"] == "duplicates"
    store().mark(name, ["g0", "g1"], "include")


def test_grow_this_region_from_a_search_opens_synthesis_with_its_clusters(ws):
    name = analysed("grow-acts")
    at = curate(name, tab="search")
    run(at.text_input(key=f"q-{name}").set_value("amount"))
    at.button(key=f"sel-grow-{name}-search").click()
    at = run(at)
    assert "grow-region" not in at.session_state  # handed over, consumed once by the Synthesis page
    note = next(i.value for i in at.info if "From the selection" in i.value)
    assert "of its clusters are sparse" in note


def test_more_like_a_row_by_its_number_and_excluded_rows_listed_by_name(ws):
    name = analysed("by-number")
    at = curate(name, tab="similar")
    run(at.text_input(key=f"mlt-id-{name}").set_value("row 3"))  # mixture_24's third line: g2
    table = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert table["id"][0] == "g2" and table["row"][0] == 3 and table["similarity"][0] == "1.00"
    store().mark(name, ["g5"], "exclude")
    at = curate(name, tab="marks")
    listed = next(e for e in at.expander if e.label.startswith("Excluded rows"))
    shown = " ".join(m.value for m in listed.markdown)
    assert "row 6 · " in shown and "g5" not in shown  # by its number and first words, not its id
    store().mark(name, ["g5"], "include")
