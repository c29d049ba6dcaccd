"""Cluster summaries: sizes, sparse flags, distinctive words, examples, label mix (missing labels left out)."""
import numpy as np
import pandas as pd

from core.analysis.summaries import guess_label_columns, summarise


def test_summaries_of_two_clusters():
    frame = pd.DataFrame({
        "id": [f"s{i}" for i in range(6)],
        "prompt": ["apples and pears", "apples in baskets", "pears and apples", "trains leave stations",
                   "stations with trains", "trains run late"],
        "response": ["fruit"] * 3 + ["rail"] * 3,
        "source": ["a", "a", "b", "c", "c", "c"],
        "type": [None, None, None, "rail", "rail", None],
        "note": [f"free text {i}" for i in range(6)],
    })
    assert guess_label_columns(frame) == ["source", "type"]  # 'note' has a distinct value per row
    labels = np.array([0, 0, 0, 1, 1, 1])
    s = summarise(frame, labels, np.array([False, True]))
    assert [x.size for x in s] == [3, 3] and [x.sparse for x in s] == [False, True]
    assert {"apples", "pears"} <= set(s[0].words[:3]) and "trains" in s[1].words[:3]
    assert s[0].examples == ["s0", "s1", "s2"]
    assert s[0].label_mix == {"source": {"a": 2, "b": 1}, "type": {}}
    assert s[1].label_mix == {"source": {"c": 3}, "type": {"rail": 2}}
