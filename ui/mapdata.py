"""What the Gradient space page draws, read once per map and kept in memory: the map, its rows as a frame (text,
labels, cluster, per-sample scores, the quality read: suspect, reasons, signals), the cluster summaries, and what
each sparse rule flags on it.

Everything is keyed by the map's key, which covers the dataset's content fingerprint, the feature key and the cluster
settings, so an edit or a new setting can never be served an old frame. Big frames are held with st.cache_resource
(shared, not copied: a 100k-row frame would cost a pickle round trip per rerun with st.cache_data) and are treated as
read-only: callers take slices or `.assign` copies, never write into them.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import cache
from core.analysis.gradient_map import GradientMap
from core.analysis.layout import MapConfig
from core.analysis.sparsity import RULE_HELP, relative_mass, rules_on_map
from core.analysis.summaries import ClusterSummary, cached_summaries, guess_label_columns
from core.data.store import Store
from ui.qualitydata import map_quality
from ui.state import get_store

SCORE_COLUMNS = ["cluster", "sparse", "suspect", "density", "rel. mass"]
TEXT_CHARS = 300  # text cells shown in tables (the whole text is in the downloads)


@dataclasses.dataclass(frozen=True)
class MapData:
    gmap: GradientMap
    frame: pd.DataFrame  # map order: id, prompt, response, label columns..., cluster, sparse, suspect, density,
    # rel. mass, reasons (a list per row), quality signals (qualitydata.SIGNAL_PREFIX + name)
    label_cols: list[str]

    @property
    def key(self) -> str:
        return self.gmap.key


def find_map_cached(dataset: str, config_key: str, dim: int, cluster_config, seed: int) -> GradientMap | None:
    """find_cached_map, remembered per settings key (cache.map_for_key: content, settings and quality state) and
    coverage: reading 100k map rows and checking the artifacts' hashes on every rerun is most of a cached page's server
    time. The quality state (ok tags, losses computed) is part of the key: an ok tag must not be served the map that
    set the row aside."""
    store = get_store()
    mc = MapConfig(seed=seed)
    settings = cache.map_for_key(store, dataset, config_key, cluster_config, mc)
    try:
        return _find_map(settings.slot, store.feature_coverage(dataset, config_key, dim), dim,
                         _args=(dataset, config_key, cluster_config, mc))
    except _Miss:
        return None


class _Miss(Exception):
    """Raised instead of returning None: exceptions are not cached, so a map built a second later is found."""


@st.cache_resource(max_entries=8, show_spinner=False)
def _find_map(settings: str, coverage: int, dim: int, _args: tuple) -> GradientMap:
    dataset, config_key, cc, mc = _args
    found = cache.find_cached_map(get_store(), dataset, config_key, dim, cc, mc)
    if found is None:
        raise _Miss
    return found


def map_data(gmap: GradientMap) -> MapData:
    return _map_data(gmap.key, _gmap=gmap)


@st.cache_resource(max_entries=3, show_spinner="Reading the map's rows…")
def _map_data(map_key: str, _gmap: GradientMap) -> MapData:
    """Keyed by the map's key, which covers the quality read's state (an ok tag, new losses): never a stale read."""
    return map_frame(get_store(), _gmap)


def map_frame(store: Store, gmap: GradientMap) -> MapData:
    """The map's rows (map order) with their text, label columns, scores and quality read: what the plot is fed."""
    frame = store.samples_frame(gmap.dataset).drop(columns=["content_hash"])
    frame = frame.set_index("id").loc[gmap.ids].reset_index()
    label_cols = guess_label_columns(frame)
    mass = gmap.mass if gmap.mass is not None else np.ones(len(gmap.ids), np.float32)
    suspect = gmap.suspect if gmap.suspect is not None else np.zeros(len(gmap.ids), dtype=bool)
    frame = frame.assign(cluster=gmap.labels, sparse=gmap.sparse_rows, suspect=suspect,
                         density=np.round(gmap.density.astype(np.float64), 4),
                         **{"rel. mass": np.round(relative_mass(mass).astype(np.float64), 3)},
                         **map_quality(store, gmap.dataset, gmap.config_key, gmap.ids))
    return MapData(gmap, frame, label_cols)


@st.cache_resource(max_entries=3, show_spinner="Summarising the clusters…")
def summaries(map_key: str, _data: MapData) -> list[ClusterSummary]:
    return cached_summaries(get_store(), _data.gmap, _data.frame, _data.label_cols)


def table_view(frame: pd.DataFrame, label_cols: list[str]) -> pd.DataFrame:
    """The rows-table columns of a slice, text cut for display."""
    out = frame[["id", *SCORE_COLUMNS, "prompt", "response", *label_cols]].copy()
    for col in ("prompt", "response"):
        out[col] = out[col].str.slice(0, TEXT_CHARS)
    return out


@dataclasses.dataclass(frozen=True)
class RuleReport:
    rule: str
    rows: int
    clusters: int
    label_mix: dict[str, str]  # label column -> "svamp 9/30 · gsm8k 40/270"
    help: str


@st.cache_data(max_entries=8, show_spinner=False)
def rule_reports(map_key: str, density_quantile: float, mass_fraction: float, _data: MapData) -> list[RuleReport]:
    """What each rule flags on this map's clusters and per-sample scores (no re-clustering: k-means is shared),
    with the label mix of the flagged rows, so a user sees on their own data what each rule finds."""
    frame = _data.frame
    out = []
    for rule, (rows, clusters) in rules_on_map(_data.gmap, quantile=density_quantile,
                                                mass_fraction=mass_fraction).items():
        mix = {}
        for col in _data.label_cols:
            values = frame[col].astype(str)
            total, flagged = values.value_counts(), values[rows].value_counts()
            mix[col] = " · ".join(f"{v} {int(flagged.get(v, 0))}/{int(t)}" for v, t in total.items())
        out.append(RuleReport(rule, int(rows.sum()), int(clusters.sum()), mix, RULE_HELP[rule]))
    return out
