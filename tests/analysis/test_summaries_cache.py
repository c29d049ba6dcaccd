"""Cached cluster summaries follow the label columns: a dataset replaced with the same texts but other labels (its
map key unchanged) gets a fresh label mix, not the one counted from the old labels."""
from types import SimpleNamespace

import numpy as np
import pandas as pd

from core.analysis import summaries
from core.analysis.summaries import cached_summaries


def test_cached_summaries_follow_a_label_change(store, monkeypatch):
    gmap = SimpleNamespace(key="map-1", labels=np.array([0, 0, 1, 1]), sparse_clusters=np.array([False, True]))
    frame = pd.DataFrame({"id": ["a", "b", "c", "d"], "prompt": ["apples", "pears", "trains", "buses"],
                          "response": ["fruit", "fruit", "rail", "road"], "source": ["x", "x", "y", "y"]})
    first = cached_summaries(store, gmap, frame, ["source"])
    assert [s.label_mix for s in first] == [{"source": {"x": 2}}, {"source": {"y": 2}}]

    relabelled = frame.assign(source=["x", "z", "y", "y"])  # same ids and texts: same map key
    again = cached_summaries(store, gmap, relabelled, ["source"])
    assert [s.label_mix for s in again] == [{"source": {"x": 1, "z": 1}}, {"source": {"y": 2}}]

    calls = []
    monkeypatch.setattr(summaries, "summarise", lambda *a, **k: calls.append(1) or [])
    assert [s.label_mix for s in cached_summaries(store, gmap, frame, ["source"])] == [s.label_mix for s in first]
    assert calls == []  # the same labels again: served from the cache
