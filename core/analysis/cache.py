"""Every derived result's cache key, and the one read-through that serves it: the only place a key is spelled.

A key is `key(kind, **parts)`: the stable hash (core.config.stable_hash) of everything that changes the result (the
rows' content fingerprint, the feature config key, every setting) plus the kind's version from KINDS, which is bumped
when the code that computes the result changes. An unknown kind is an error, so a key cannot be misspelt into a
silent miss. `Key.slot` names the kv_cache entry, `Key.artifact()` the .npz files beside the database; the storage
itself stays in core/data (Store.cache_get/cache_put, MapTables: checked artifacts and map_rows).

`cached(store, key, compute, load=, save=)` is the read-through: what `load` finds under the key, else `compute()`
stored by `save` (which hands back the value as `load` would read it). The defaults keep a JSON value in kv_cache.
The map's own storage (clusters in map_rows, layout and clustering arrays as artifacts, pointers from settings to
maps) is read and written here too, so that pages, jobs and the CLI find a map without knowing how it is kept.
"""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import numpy as np

from core.analysis.clusters import ClusterConfig, Clustering
from core.analysis.layout import Layout, MapConfig
from core.analysis.quality import QUALITY_VERSION, quality_state
from core.config import stable_hash
from core.data.store import Store

if TYPE_CHECKING:
    from core.analysis.gradient_map import GradientMap

S = TypeVar("S")
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Kind:
    version: int  # part of every key of the kind: bump it when the result's code changes
    what: str
    chars: int = 16  # hex digits of the digest


KINDS: dict[str, Kind] = {
    # 2: content-fingerprint keys, npz artifacts, sampled fit + kNN placement; 3: mass score; 4: suspect rows
    # (quality.py) left out of the rules
    "map": Kind(4, "a dataset's map: clusters, sparse flags, density, mass and the 2-D positions of its rows"),
    "layout": Kind(4, "a map's 2-D layout (PCA, fitted rows, positions): the cluster settings are not part of it"),
    "map-for": Kind(1, "pointer: the map made with these settings on the view's rows as they are now"),
    "latest-map": Kind(1, "pointer: the map last built on a view under a feature config (any cluster settings)"),
    "curve": Kind(1, "a dataset's diversity curve (G-Vendi of nested subsets)"),
    "contributions": Kind(1, "each cluster's contribution to a map's G-Vendi"),
    "baselines-at": Kind(1, "text baselines on a seeded subsample of n rows"),
    "shared-map": Kind(1, "several datasets' rows on one 2-D map"),
    "summaries": Kind(1, "a map's cluster summaries (words, examples, label mix)"),
    "estimate": Kind(1, "the time a feature pass would take here, timed on a probe batch"),
    "quality": Kind(QUALITY_VERSION, "what a quality read depends on besides content: ok tags, losses", chars=12),
    "suspects": Kind(QUALITY_VERSION, "a quality read's suspect rows", chars=12),
}


@dataclasses.dataclass(frozen=True)
class Key:
    kind: str
    digest: str

    @property
    def slot(self) -> str:
        """The kv_cache entry."""
        return f"{self.kind}:{self.digest}"

    def artifact(self, part: str | None = None) -> str:
        """The name of an .npz artifact stored under the key (`part`: when it has several)."""
        return f"{part or self.kind}-{self.digest}"


def key(kind: str, **parts: Any) -> Key:
    """The key of a result of `kind` computed from `parts` (JSON-able values; dataclasses as their dicts)."""
    if kind not in KINDS:
        raise KeyError(f"unknown cache kind {kind!r}: add it to cache.KINDS")
    if "v" in parts:
        raise ValueError("'v' is the kind's version, not a part")
    payload = {"v": KINDS[kind].version,
               **{k: dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p for k, p in parts.items()}}
    return Key(kind, stable_hash(payload, length=KINDS[kind].chars))


def get(store: Store, k: Key) -> Any | None:
    """The JSON value kept under the key, or None."""
    return store.cache_get(k.slot)


def put(store: Store, k: Key, value: Any) -> Any:
    store.cache_put(k.slot, value)
    return value


def cached(store: Store, k: Key, compute: Callable[[], S], *, load: Callable[[Store, Key], T | None] = get,
           save: Callable[[Store, Key, S], T] = put) -> T:
    """The read-through: load(store, k) if it finds the result, else compute() stored by save(store, k, value),
    which returns the result as load would read it."""
    found = load(store, k)
    if found is not None:
        return found
    return save(store, k, compute())


# ---- keys ------------------------------------------------------------------------------------------------------------

def content_part(store: Store, dataset: str, n_rows: int, view: str = "kept") -> str:
    """What a map's rows depend on: every (id, content) pair of the dataset's rows in the view (their fingerprint)
    and how many of them have features (features only ever get added, so the count names the subset)."""
    return f"{store.fingerprint(dataset, view)}:{n_rows}"


def map_key(dataset: str, config_key: str, content: str, cc: ClusterConfig, mc: MapConfig, quality: str = "") -> Key:
    """`quality`: quality.quality_state of the rows (which rows can be suspect): the rules leave those out."""
    return key("map", dataset=dataset, features=config_key, content=content, cluster=cc, map=mc, quality=quality)


def layout_key(config_key: str, content: str, mc: MapConfig) -> Key:
    """The layout does not depend on the cluster settings: switching k or the rule reuses it."""
    return key("layout", features=config_key, content=content, map=mc)


def map_for_key(store: Store, dataset: str, config_key: str, cc: ClusterConfig, mc: MapConfig,
                view: str = "kept") -> Key:
    """Where the map made with these settings is recorded, so a page finds it without reading the features."""
    return key("map-for", dataset=dataset, fp=store.fingerprint(dataset, view), features=config_key, cluster=cc,
               map=mc, quality=quality_state(store, dataset, config_key, view))


def latest_map_key(dataset: str, config_key: str, view: str = "kept") -> Key:
    return key("latest-map", dataset=dataset, features=config_key, view=view)


def curve_key(store: Store, dataset: str, config_key: str, dim: int, settings) -> Key:
    """`settings`: compare.CurveSettings."""
    return key("curve", fp=store.fingerprint(dataset), features=config_key, dim=dim,
               rows=store.feature_coverage(dataset, config_key, dim), **dataclasses.asdict(settings))


def contributions_key(map_key: str) -> Key:
    """A map's key covers its content, features and cluster settings."""
    return key("contributions", map=map_key)


def baselines_key(store: Store, dataset: str, n: int, seed: int) -> Key:
    return key("baselines-at", fp=store.fingerprint(dataset), n=n, seed=seed)


def shared_map_key(store: Store, datasets: list[str], config_key: str, dim: int, *, method: str,
                   reference: str | None, seed: int, fit_rows: int) -> Key:
    return key("shared-map", fps=[(d, store.fingerprint(d)) for d in datasets], features=config_key, dim=dim,
               method=method, reference=reference, seed=seed, fit_rows=fit_rows,
               rows=[store.feature_coverage(d, config_key, dim) for d in datasets])


def summaries_key(map_key: str, label_columns: list[str], labels: str) -> Key:
    """`labels`: a fingerprint of the label columns' values; the map key covers ids and texts only, and a replace may
    change the metadata without touching them."""
    return key("summaries", map=map_key, columns=list(label_columns), labels=labels)


def estimate_key(store: Store, dataset: str, config_key: str) -> Key:
    return key("estimate", fp=store.fingerprint(dataset), features=config_key)


# ---- the map's storage -----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class BuiltMap:
    """What build_map computed, before it is stored."""

    dataset: str
    config_key: str
    ids: list[str]
    clustering: Clustering
    cluster_config: ClusterConfig
    xy: np.ndarray
    layout_key: Key
    layout_sha256: str
    fitted_rows: int


def load_map(store: Store, map_key: str | Key) -> GradientMap | None:
    """The stored map (`map_key`: GradientMap.key), or None when it is not recorded or an artifact is not exactly the
    file recorded (maps.py's checked load_artifact)."""
    from core.analysis.gradient_map import GradientMap  # gradient_map builds through this module

    k = map_key if isinstance(map_key, Key) else Key("map", map_key)
    meta = store.cache_get(k.slot)
    if meta is None:
        return None
    arrays = store.load_artifact(k.artifact(), meta["sha256"])
    layout = store.load_artifact(Key("layout", meta["layout_key"]).artifact(), meta["layout_sha256"])
    if arrays is None or layout is None:
        return None
    res = store.map_rows(k.digest)
    return GradientMap(key=k.digest, dataset=meta["dataset"], config_key=meta["config_key"],
                       ids=[str(i) for i in res["sample_id"]], labels=np.asarray(res["cluster"], dtype=np.int64),
                       sparse_rows=np.asarray(res["sparse"], dtype=bool), density=np.asarray(res["density"]),
                       xy=np.stack([res["x"], res["y"]], axis=1), sizes=arrays["sizes"],
                       sparse_clusters=arrays["sparse_clusters"], k=int(meta["k"]), rule=meta["rule"],
                       centroids=arrays["centroids"], layout=Layout(**layout), fitted_rows=int(meta["fitted_rows"]),
                       mass=np.asarray(res["mass"], dtype=np.float32), suspect=np.asarray(res["suspect"], dtype=bool))


def save_map(store: Store, k: Key, m: BuiltMap) -> GradientMap:
    c = m.clustering
    sha = store.save_artifact(k.artifact(), centroids=c.centroids, sizes=c.sizes, sparse_clusters=c.sparse_clusters)
    store.write_map_rows(k.digest, m.ids, cluster=c.labels, sparse=c.sparse_rows, density=c.density, xy=m.xy,
                         mass=c.mass, suspect=c.suspect if c.suspect is not None else np.zeros(len(m.ids), dtype=bool))
    # meta last: its presence marks the map complete
    store.cache_put(k.slot, {"dataset": m.dataset, "config_key": m.config_key, "k": c.k, "rule": m.cluster_config.rule,
                             "cluster_config": dataclasses.asdict(m.cluster_config),
                             "layout_key": m.layout_key.digest, "layout_sha256": m.layout_sha256, "sha256": sha,
                             "fitted_rows": m.fitted_rows, "created_at": time.time()})
    return load_map(store, k)


def load_layout(store: Store, k: Key) -> tuple[np.ndarray, int, str] | None:
    """(every row's 2-D position, rows UMAP was fitted on, the layout artifact's sha256) of a stored layout."""
    ref = store.cache_get(k.slot)
    if not ref or not ref.get("xy_sha256") or store.load_artifact(k.artifact(), ref["sha256"]) is None:
        return None
    xy = store.load_artifact(k.artifact("xy"), ref["xy_sha256"])
    return None if xy is None else (xy["xy"], int(ref["fitted_rows"]), ref["sha256"])


def save_layout(store: Store, k: Key, fitted: tuple[np.ndarray, Layout, int]) -> tuple[np.ndarray, int, str]:
    """`fitted`: layout.fit_layout's (xy, layout, fitted rows)."""
    xy, layout, rows = fitted
    sha = store.save_artifact(k.artifact(), **dataclasses.asdict(layout))
    xy_sha = store.save_artifact(k.artifact("xy"), xy=np.asarray(xy, np.float32))
    store.cache_put(k.slot, {"sha256": sha, "xy_sha256": xy_sha, "fitted_rows": rows})
    return xy, rows, sha


def layout_cached(store: Store, dataset: str, config_key: str, n_rows: int, mc: MapConfig, view: str = "kept") -> bool:
    """Whether the layout of the view's first `n_rows` feature rows is stored (re-clustering would reuse it)."""
    return get(store, layout_key(config_key, content_part(store, dataset, n_rows, view), mc)) is not None


def record_map(store: Store, dataset: str, config_key: str, cc: ClusterConfig, mc: MapConfig, map_key: str, n: int,
               view: str = "kept") -> None:
    """Point the settings and the view's latest map at `map_key` (a map of n rows)."""
    put(store, map_for_key(store, dataset, config_key, cc, mc, view), {"key": map_key, "n": n})
    put(store, latest_map_key(dataset, config_key, view), {"key": map_key, "fp": store.fingerprint(dataset, view)})


def find_cached_map(store: Store, dataset: str, config_key: str, dim: int, cc: ClusterConfig, mc: MapConfig,
                    view: str = "kept") -> GradientMap | None:
    """The cached map for these settings if it still covers every feature row of the view as it is now."""
    ref = get(store, map_for_key(store, dataset, config_key, cc, mc, view))
    if ref is None or ref["n"] != store.feature_coverage(dataset, config_key, dim, view):
        return None
    return load_map(store, ref["key"])


def latest_map(store: Store, dataset: str, config_key: str, view: str = "kept") -> GradientMap | None:
    """The map last built for the view's current rows under this feature config (any cluster settings)."""
    ref = get(store, latest_map_key(dataset, config_key, view))
    if not ref or ref.get("fp") != store.fingerprint(dataset, view):
        return None
    return load_map(store, ref["key"])
