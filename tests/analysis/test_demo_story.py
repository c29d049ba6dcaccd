"""The demo's story is told from its analysis (issue 21): the counts it gives are the map's, per source, and it
makes no claim about the SVAMP minority that the default rule's flags do not carry."""
import re

import numpy as np
import pytest

from core.analysis.demo_story import DemoStory, story, story_text


def counted(text: str, source: str) -> tuple[int, int]:
    """(flagged, total) the text gives for a source: '22 of the 270 GSM8K rows'."""
    found = re.search(rf"(\d+) of the (\d+) {source} rows", text)
    assert found, text
    return int(found.group(1)), int(found.group(2))


def test_the_real_demo_story_gives_the_default_maps_counts(store):
    from core.analysis import cache
    from core.analysis.analyse import AnalysisOptions
    from core.analysis.demo import load_demo

    opts = AnalysisOptions()
    assert load_demo(store, opts)["analysed"]
    gmap = cache.latest_map(store, "demo", opts.feature_config().key())
    assert gmap.rule == opts.rule  # the map the demo opens on is the default rule's
    sources = {s.id: s.meta["source"] for s in store.samples("demo")}
    flagged = {src: sum(1 for i, f in zip(gmap.ids, gmap.sparse_rows) if f and sources[i] == src)
               for src in ("gsm8k", "svamp")}
    text = story_text(story(gmap, sources))
    assert counted(text, "GSM8K") == (flagged["gsm8k"], 270) and counted(text, "SVAMP") == (flagged["svamp"], 30)
    assert f"Under the **{opts.rule}** rule" in text
    svamp_rate, gsm_rate = flagged["svamp"] / 30, flagged["gsm8k"] / 270
    if "thin in the model's eyes too" in text:  # the old promise, made only when the flags carry it
        assert svamp_rate > gsm_rate
    if "not thin under this rule" in text:
        assert flagged["svamp"] == 0


@pytest.mark.parametrize("svamp, gsm8k, says, never", [
    (12, 20, "thin in the model's eyes too", "not thin"),
    (0, 22, "not thin under this rule", "too:"),
    (2, 100, "flagged no more often than the rest", "thin in the model's eyes too"),
])
def test_the_words_follow_the_counts(svamp, gsm8k, says, never):
    s = DemoStory("mass", {"gsm8k": 270, "svamp": 30}, {"gsm8k": gsm8k, "svamp": svamp},
                  {"paper": {"gsm8k": 32, "svamp": 4}, "density": {"gsm8k": 150, "svamp": 0}})
    text = story_text(s)
    assert says in text and never not in text
    assert counted(text, "SVAMP") == (svamp, 30) and counted(text, "GSM8K") == (gsm8k, 270)
    assert "the paper rule flags 4 and the density rule 0" in text


def test_story_counts_the_maps_own_flags_and_the_other_rules_on_its_clusters():
    from types import SimpleNamespace

    ids = [f"r{i}" for i in range(8)]
    gmap = SimpleNamespace(ids=ids, rule="mass", labels=np.array([0, 0, 0, 0, 0, 1, 1, 2]), k=3,
                           sparse_rows=np.array([0, 0, 0, 0, 0, 0, 1, 1], dtype=bool),
                           density=np.linspace(0.1, 0.9, 8), mass=np.ones(8))
    sources = {i: ("svamp" if i in ("r6", "r7") else "gsm8k") for i in ids}
    s = story(gmap, sources)
    assert s.flagged == {"gsm8k": 0, "svamp": 2} and s.total == {"gsm8k": 6, "svamp": 2}
    assert s.other_rules["paper"] == {"gsm8k": 0, "svamp": 1}  # sizes 5, 2, 1: only cluster 2 is below the median
    assert set(s.other_rules) == {"paper", "density"} and s.minority == "svamp"
