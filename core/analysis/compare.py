"""Comparing datasets fairly, from cached features only (no model).

G-Vendi grows with n, so raw values of datasets of different sizes say little: datasets are compared at one common n
(the smallest dataset's), on their diversity curves (curves.py) for G-Vendi, and on seeded random subsamples of that
size for the text baselines (distinct-n and compression depend on n too). All of them go on one shared 2-D map, so a
user sees which regions each one covers: either a map fitted on the union of their features (distinct rows once; a
seeded sample when large, the rest placed), or every dataset placed onto one reference dataset's own map.

Everything is cached in the workspace (cache.py: keys cover each dataset's content fingerprint and the feature key):
an edit of any dataset misses the cache, and a second look costs reads only.
"""
from __future__ import annotations

import dataclasses
import random

import numpy as np

from core.analysis import cache
from core.analysis.curves import Curve, cluster_contributions, diversity_curve
from core.analysis.layout import MapConfig, fit_layout
from core.data.store import Store

MAX_DATASETS = 5
SHARED_FIT_ROWS = 5_000  # the union map's UMAP is fitted on at most this many distinct rows; the rest are placed


@dataclasses.dataclass(frozen=True)
class CurveSettings:
    points: int = 10
    draws: int = 5
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class DatasetScores:
    """One dataset's row of the comparison table."""

    dataset: str
    n: int  # rows with features
    g_vendi: float  # at its own n (the end of its curve)
    g_vendi_common: float  # on its curve at the common n
    baselines: dict[str, float]  # text baselines on a seeded subsample of the common n (embedding Vendi if cached)


@dataclasses.dataclass(frozen=True)
class SharedMap:
    """Every dataset's rows on one 2-D map: point i is row ids[i] of names[owner[i]]."""

    names: list[str]
    owner: np.ndarray  # (m,) index into names
    ids: list[str]
    xy: np.ndarray  # (m, 2)
    method: str  # "union" or "reference"
    reference: str | None = None

    def of(self, name: str) -> np.ndarray:
        """Positions of one dataset's rows."""
        return self.xy[self.owner == self.names.index(name)]


@dataclasses.dataclass(frozen=True)
class Comparison:
    common_n: int
    curves: dict[str, Curve]
    scores: list[DatasetScores]
    shared: SharedMap | None


# ---- curves and contributions (cached) ------------------------------------------------------------------------------

def peek_curve(store: Store, dataset: str, config_key: str, dim: int,
               settings: CurveSettings = CurveSettings()) -> Curve | None:
    """The cached curve, or None: never computes (a page can decide how to compute it)."""
    found = cache.get(store, cache.curve_key(store, dataset, config_key, dim, settings))
    return Curve(**found) if found else None


def cached_curve(store: Store, dataset: str, config_key: str, dim: int,
                 settings: CurveSettings = CurveSettings()) -> Curve:
    """The dataset's diversity curve from its cached features, computed once per content and feature key."""
    def compute() -> dict:
        _, X = store.load_features(dataset, config_key, dim)
        if len(X) == 0:
            raise ValueError(f"{dataset}: no features under this configuration; analyse it first")
        return diversity_curve(X, points=settings.points, draws=settings.draws, seed=settings.seed).to_json()

    return Curve(**cache.cached(store, cache.curve_key(store, dataset, config_key, dim, settings), compute))


def peek_contributions(store: Store, map_key: str) -> np.ndarray | None:
    found = cache.get(store, cache.contributions_key(map_key))
    return np.asarray(found, dtype=np.float64) if found is not None else None


def cached_contributions(store: Store, gmap, dim: int) -> np.ndarray:
    """Per-cluster contribution to G-Vendi (how much it drops when the cluster is left out) for a map's clusters,
    computed once per map (its key covers the content, features and cluster settings)."""
    def compute() -> list[float]:
        ids, X = store.load_features(gmap.dataset, gmap.config_key, dim)
        if ids != list(gmap.ids):  # the map's rows are load_features' rows; anything else is a stale map
            raise ValueError(f"{gmap.dataset}: the map no longer matches the dataset's features")
        return [float(v) for v in cluster_contributions(X, gmap.labels, gmap.k)]

    return np.asarray(cache.cached(store, cache.contributions_key(gmap.key), compute), dtype=np.float64)


# ---- baselines at a common n ----------------------------------------------------------------------------------------

def subsample_ids(store: Store, dataset: str, n: int, seed: int = 0) -> list[str]:
    """n sample ids drawn at random (seeded) from the dataset's rows, in dataset order."""
    ids = store.sample_ids(dataset)
    if n >= len(ids):
        return ids
    picked = sorted(random.Random(f"{seed}:{dataset}").sample(range(len(ids)), n))
    return [ids[i] for i in picked]


def baselines_at(store: Store, dataset: str, n: int, *, seed: int = 0) -> dict[str, float]:
    """distinct-1/2, compression ratio and (when every row's embedding is cached) embedding Vendi on a seeded random
    subsample of n rows; cached per content."""
    from core.analysis import diversity
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY

    def compute() -> dict[str, float]:
        wanted = set(subsample_ids(store, dataset, n, seed))
        frame = store.samples_frame(dataset)
        frame = frame[frame["id"].isin(wanted)]
        texts = (frame["prompt"] + "\n" + frame["response"]).tolist()
        out = {"distinct_1": diversity.distinct_n(texts, 1), "distinct_2": diversity.distinct_n(texts, 2),
               "compression_ratio": diversity.compression_ratio(texts)}
        emb = store.features_by_hash(EMBEDDING_KEY, EMBEDDING_DIM, frame["content_hash"].tolist())
        if len(frame) and all(h in emb for h in frame["content_hash"]):
            out["embedding_vendi"] = diversity.vendi_score(np.stack([emb[h] for h in frame["content_hash"]]))
        return out

    def load(store: Store, key: cache.Key) -> dict | None:
        """A stored answer without embedding Vendi is recomputed once every row's embedding is cached."""
        found = cache.get(store, key)
        ok = found is not None and ("embedding_vendi" in found or not _has_all_embeddings(store, dataset, n, seed))
        return found if ok else None

    return cache.cached(store, cache.baselines_key(store, dataset, n, seed), compute, load=load)


def _has_all_embeddings(store: Store, dataset: str, n: int, seed: int) -> bool:
    from core.features.embeddings import EMBEDDING_DIM, EMBEDDING_KEY

    wanted = set(subsample_ids(store, dataset, n, seed))
    hashes = [h for i, h in store.content_hashes(dataset).items() if i in wanted]
    return len(store.features_by_hash(EMBEDDING_KEY, EMBEDDING_DIM, hashes)) == len(set(hashes))


# ---- the shared map -------------------------------------------------------------------------------------------------

def _rows(store: Store, dataset: str, config_key: str, dim: int) -> tuple[list[str], list[str], np.ndarray]:
    """(sample ids, content hashes, features) of the rows with features, in dataset order."""
    ids, X = store.load_features(dataset, config_key, dim)
    hash_of = store.content_hashes(dataset)
    return ids, [hash_of[i] for i in ids], X


def shared_map(store: Store, datasets: list[str], config_key: str, dim: int, *, method: str = "union",
               reference: str | None = None, seed: int = 0, fit_rows: int = SHARED_FIT_ROWS) -> SharedMap:
    """All datasets on one map, cached. union: UMAP fitted on the distinct rows of all of them (a seeded sample of
    `fit_rows` when more; the rest placed), so no dataset's shape is privileged. reference: every row placed onto
    `reference`'s own cached map (its rows keep their positions): cheap, and the map a user already knows, but regions
    the reference does not cover are squeezed onto its nearest ones."""
    if method not in ("union", "reference"):
        raise ValueError(f"method must be 'union' or 'reference', not {method!r}")
    reference = (reference or datasets[0]) if method == "reference" else None
    key = cache.shared_map_key(store, datasets, config_key, dim, method=method, reference=reference, seed=seed,
                               fit_rows=fit_rows)
    return cache.cached(store, key, lambda: _shared_map(store, datasets, config_key, dim, method, reference, seed,
                                                        fit_rows), load=_load_shared, save=_save_shared)


def _shared_map(store: Store, datasets: list[str], config_key: str, dim: int, method: str, reference: str | None,
                seed: int, fit_rows: int) -> SharedMap:
    parts = [_rows(store, d, config_key, dim) for d in datasets]
    owner = np.concatenate([np.full(len(p[0]), i, np.int32) for i, p in enumerate(parts)])
    ids = [i for p in parts for i in p[0]]
    hashes = [h for p in parts for h in p[1]]
    if method == "union":
        first = {}
        for j, h in enumerate(hashes):
            first.setdefault(h, j)
        unique = list(first.values())
        X = np.concatenate([p[2] for p in parts])
        xy_unique, _, _ = fit_layout(X[unique], MapConfig(seed=seed, fit_max_rows=fit_rows))
        pos = {h: xy_unique[k] for k, h in enumerate(first)}
        xy = np.stack([pos[h] for h in hashes]).astype(np.float32)
    else:
        ref_map = cache.latest_map(store, reference, config_key)
        if ref_map is None or ref_map.layout is None:
            raise ValueError(f"{reference} has no map under these features: analyse it first")
        ref_hash = store.content_hashes(reference)
        own = {ref_hash[i]: p for i, p in zip(ref_map.ids, ref_map.xy)}  # a row of the reference, wherever it is
        xy = np.zeros((len(ids), 2), np.float32)
        others = []
        for j, h in enumerate(hashes):
            if h in own:
                xy[j] = own[h]
            else:
                others.append(j)
        if others:
            X = np.concatenate([p[2] for p in parts])
            xy[others] = ref_map.layout.place(X[others])
    return SharedMap(list(datasets), owner, ids, xy, method, reference)


def _save_shared(store: Store, key: cache.Key, m: SharedMap) -> SharedMap:
    # a checked artifact, like the map's own (core/data/maps.py)
    sha = store.save_artifact(key.artifact(), owner=m.owner, xy=m.xy, ids=np.array(m.ids, dtype=str))
    cache.put(store, key, {"sha256": sha, "names": m.names, "method": m.method, "reference": m.reference})
    return m


def _load_shared(store: Store, key: cache.Key) -> SharedMap | None:
    meta = cache.get(store, key)
    if meta is None:
        return None
    arrays = store.load_artifact(key.artifact(), meta["sha256"])
    if arrays is None:
        return None
    return SharedMap(meta["names"], arrays["owner"], [str(i) for i in arrays["ids"]], arrays["xy"], meta["method"],
                     meta["reference"])


# ---- the comparison -------------------------------------------------------------------------------------------------

def comparable(store: Store, datasets: list[str], config_key: str, dim: int) -> tuple[list[str], dict[str, str]]:
    """(datasets every row of which has features under config_key, {other dataset: why it cannot be compared})."""
    ok, why = [], {}
    for d in datasets:
        n = store.dataset_info(d)["n"]
        have = store.feature_coverage(d, config_key, dim)
        if have < max(n, 3):
            why[d] = f"{have} of {n} rows have features under these options: analyse it first"
        else:
            ok.append(d)
    return ok, why


def compare(store: Store, datasets: list[str], config_key: str, dim: int, *, method: str = "union",
            reference: str | None = None, seed: int = 0, with_map: bool = True,
            settings: CurveSettings = CurveSettings()) -> Comparison:
    """Curves, scores at the common n (the smallest dataset's) and, with_map, the shared map of 2-5 datasets."""
    if not 2 <= len(datasets) <= MAX_DATASETS or len(set(datasets)) != len(datasets):
        raise ValueError(f"compare 2 to {MAX_DATASETS} distinct datasets, not {datasets}")
    curves = {d: cached_curve(store, d, config_key, dim, settings) for d in datasets}
    common = min(c.sizes[-1] for c in curves.values())
    scores = [DatasetScores(d, curves[d].sizes[-1], curves[d].mean[-1], curves[d].at(common),
                            baselines_at(store, d, common, seed=seed)) for d in datasets]
    shared = shared_map(store, datasets, config_key, dim, method=method, reference=reference, seed=seed) \
        if with_map else None
    return Comparison(common, curves, scores, shared)
