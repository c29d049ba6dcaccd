"""After an exclusion the kept rows are re-analysed from cached features only: the map keeps the rows where it drew
them (no UMAP), the scores are those of the kept rows; and the map's cluster names never overlap (placed_labels)."""
import numpy as np


def test_refresh_after_an_exclusion_keeps_the_rows_where_the_map_drew_them(store):
    from core.analysis import cache
    from core.analysis.analyse import AnalysisOptions, cached_overview
    from core.analysis.demo import load_demo
    from core.analysis.diversity import vendi_score
    from core.analysis.refresh import can_refresh, refresh

    opts = AnalysisOptions()
    load_demo(store, opts)
    key, dim = opts.feature_config().key(), opts.feature_config().dim
    before = cache.latest_map(store, "demo", key)
    gone = before.ids[:10]
    store.mark("demo", gone, "exclude")
    assert cached_overview(store, "demo", opts) is None  # the kept rows changed: no score of them yet
    assert not can_refresh(store, "demo", opts) and can_refresh(store, "demo", opts, before)
    result = refresh(store, "demo", opts, before)
    ids, X = store.load_features("demo", key, dim)
    assert result["n"] == 290 and abs(cached_overview(store, "demo", opts)["g_vendi"] - vendi_score(X)) < 1e-3
    after = cache.latest_map(store, "demo", key)
    at = {i: j for j, i in enumerate(before.ids)}
    assert len(after.ids) == 290 and not set(gone) & set(after.ids)
    np.testing.assert_allclose(after.xy, before.xy[[at[i] for i in after.ids]], atol=1e-5)
    store.undo(store.actions("demo")[0].action_id, dataset_name="demo")
    assert can_refresh(store, "demo", opts)  # every row again: the first layout is still cached
    assert refresh(store, "demo", opts)["n"] == 300


def test_placed_labels_never_overlap_and_keep_the_order():
    from core.plots import LABEL_BOX, placed_labels

    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 10, size=(40, 2))
    centres[5] = np.nan  # an empty cluster
    order = list(range(39, -1, -1))
    shown = placed_labels(centres, order, limit=12)
    assert 0 < len(shown) <= 12 and 5 not in shown and shown[0] == 39
    assert shown == [c for c in order if c in shown]  # priority order kept
    scaled = (centres - np.nanmin(centres, axis=0)) / (np.nanmax(centres, axis=0) - np.nanmin(centres, axis=0))
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            dx, dy = np.abs(scaled[a] - scaled[b])
            assert dx >= LABEL_BOX[0] or dy >= LABEL_BOX[1]
    near = np.array([[0.0, 0.0], [0.01, 0.0], [5.0, 5.0]])
    assert placed_labels(near, [0, 1, 2]) == [0, 2]  # a name on top of another is left to the hover
