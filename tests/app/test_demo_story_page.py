"""AppTest (issue 21): the Data page's note under the demo's button says what the demo's map flags per source, the
same counts the map's sparse rows give, and before the demo is loaded it makes no claim about what a rule flags."""
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.fakes import fake_shipped_file
from tests.conftest import ROOT
from tests.helpers import app_workspace

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from ui.analysis import PageOptions

    ws = tmp_path_factory.mktemp("demo-story-ws")
    demo = fake_shipped_file(ws.parent / f"{ws.name}-demo.npz", PageOptions())
    with app_workspace(ws, env={"PRISM_DEMO_FEATURES": demo}):
        yield ws


def note(at) -> str:
    return next(c.value for c in at.caption if "GSM8K" in c.value and "SVAMP" in c.value)


def test_the_demo_note_gives_the_maps_flags_per_source(ws):
    from core.analysis import cache
    from ui import get_store
    from ui.analysis import PageOptions

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    before = note(at)
    # before the demo has a map: what it holds, and no count of what a rule flags
    assert not re.search(r"\d+ of the \d+ (GSM8K|SVAMP) rows", before) and "minority by count" in before
    next(b for b in at.button if b.label.startswith("Load the demo")).click()
    at.run()
    assert not at.exception, at.exception
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()  # the Data page again, demo loaded
    text = note(at)
    opts = PageOptions()
    gmap = cache.latest_map(get_store(), "demo", opts.feature_config().key())
    source = {s.id: s.meta["source"] for s in get_store().samples("demo")}
    for src, name, total in (("gsm8k", "GSM8K", 270), ("svamp", "SVAMP", 30)):
        flagged = sum(1 for i, f in zip(gmap.ids, gmap.sparse_rows) if f and source[i] == src)
        assert re.search(rf"\b{flagged} of the {total} {name} rows", text), (src, flagged, text)
    assert f"Under the **{gmap.rule}** rule" in text
