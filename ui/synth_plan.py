"""The synthesis plan (core/synthesis/plan.py) behind Streamlit's caches: round 0's clustering of the seed, computed
once per dataset fingerprint and settings, and the prompts of a run's clustered rounds."""
from __future__ import annotations

import streamlit as st

from core.synthesis.config import SynthesisConfig
from core.synthesis.plan import PoolClusters
from core.synthesis.plan import round_prompts as _round_prompts
from core.synthesis.plan import seed_clusters as _seed_clusters
from ui.state import get_store


def seed_clusters(dataset: str, config: SynthesisConfig, fc) -> PoolClusters | None:
    """Round 0's clustering of the seed as the run will compute it, or None while the seed has no features."""
    store = get_store()
    if store.feature_coverage(dataset, fc.key(), fc.dim) < store.count_rows(dataset):
        return None  # not cached: the features may land any moment
    return _cached_seed_clusters(dataset, store.fingerprint(dataset), fc.key(), fc, config.k, config.seed, config.rule)


@st.cache_resource(max_entries=8, show_spinner="Clustering the seed as round 0 will…")
def _cached_seed_clusters(dataset, fingerprint, feature_key, _fc, k, seed, rule) -> PoolClusters | None:
    return _seed_clusters(get_store(), dataset, SynthesisConfig(k=k, seed=seed, rule=rule), _fc)


@st.cache_data(max_entries=16, show_spinner=False)
def round_prompts(run_id: str, rounds_clustered: int) -> dict:
    """Exact prompts per (round, request), recomputed only when a new round has been clustered."""
    return _round_prompts(get_store(), run_id)
