"""After an exclusion, an inclusion or an undo: the analysis of the kept rows again, from cached features only.

The kept rows' features, losses and embeddings are all cached by content, so re-analysing costs k-means, the scores
and the map's layout. The layout is the slow part (a UMAP fit): when the new kept rows all sit on a map drawn before
(an exclusion takes rows off a map), their places on it are recorded as the new rows' layout (seed_layout), so the
map does not move and no UMAP runs; rows back from an exclusion find the earlier layout of the same rows cached.
"""
from __future__ import annotations

from core.data.store import Store


def can_refresh(store: Store, dataset: str, options, previous_map=None) -> bool:
    """Whether refresh() would run without a model or a UMAP fit: features cover the kept rows and their layout is
    cached or can be taken from `previous_map`."""
    from core.analysis.cache import layout_cached
    from core.analysis.layout import MapConfig

    config = options.feature_config()
    n = store.count_rows(dataset, options.view)
    coverage = store.feature_coverage(dataset, config.key(), config.dim, options.view)
    if n == 0 or coverage < n:
        return False
    if layout_cached(store, dataset, config.key(), coverage, MapConfig(seed=options.seed), options.view):
        return True
    if previous_map is None or previous_map.config_key != config.key():  # another feature set's places: no
        return False
    excluded = set(store.excluded(dataset)) if options.view == "kept" else set()
    kept = (i for i in store.sample_ids(dataset) if i not in excluded)  # ids only: no vector is read
    on_map = set(previous_map.ids)
    return all(i in on_map for i in kept)


def refresh(store: Store, dataset: str, options, previous_map=None) -> dict:
    """Re-analyse the kept rows from cached features (see the module); returns run_analysis's result. Call only when
    can_refresh() says so, or a model load or a UMAP fit may follow."""
    import numpy as np

    from core.analysis.analyse import run_analysis
    from core.analysis.cache import layout_cached
    from core.analysis.gradient_map import seed_layout
    from core.analysis.layout import MapConfig

    config, mc = options.feature_config(), MapConfig(seed=options.seed)
    ids = store.load_features(dataset, config.key(), config.dim, view=options.view)[0]
    if (previous_map is not None and previous_map.config_key == config.key()
            and not layout_cached(store, dataset, config.key(), len(ids), mc, options.view)):
        at = {i: j for j, i in enumerate(previous_map.ids)}
        if all(i in at for i in ids):
            xy = np.asarray(previous_map.xy)[[at[i] for i in ids]]
            seed_layout(store, dataset, config.key(), config.dim, xy, mc, view=options.view)
    return run_analysis(store, dataset, options)
