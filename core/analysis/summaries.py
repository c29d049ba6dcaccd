"""Cluster summaries: size, sparse flag, distinctive words (class-based TF-IDF), examples and label mix."""
from __future__ import annotations

import dataclasses

import numpy as np

from core.analysis import cache
from core.analysis.clusters import members_by_cluster


@dataclasses.dataclass(frozen=True)
class ClusterSummary:
    cluster: int
    size: int
    sparse: bool
    words: list[str]
    examples: list[str]  # sample ids
    label_mix: dict[str, dict[str, int]]  # label column -> value -> count


def distinctive_words(texts: list[str], labels: np.ndarray, k: int, top: int = 8) -> list[list[str]]:
    """c-TF-IDF (BERTopic's form): term frequency per cluster x log(1 + mean words per cluster / term frequency)."""
    from sklearn.feature_extraction.text import CountVectorizer

    docs = [" ".join(texts[i] for i in np.flatnonzero(labels == c)) for c in range(k)]
    try:
        vec = CountVectorizer(stop_words="english", token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b", min_df=1)
        counts = vec.fit_transform(docs).astype(float)
    except ValueError:  # no words at all (numbers only)
        return [[] for _ in range(k)]
    tf = counts.multiply(1.0 / np.maximum(counts.sum(axis=1), 1)).tocsr()
    freq = np.asarray(counts.sum(axis=0)).ravel()
    avg_words = counts.sum() / max(k, 1)
    idf = np.log(1 + avg_words / np.maximum(freq, 1))
    scores = tf.multiply(idf).toarray()
    vocab = np.array(vec.get_feature_names_out())
    return [[vocab[j] for j in np.argsort(-row)[:top] if row[j] > 0] for row in scores]


def summarise(frame, labels: np.ndarray, sparse_clusters: np.ndarray, *, label_columns: list[str] | None = None,
              examples: int = 3) -> list[ClusterSummary]:
    """frame: the dataset's samples (id, prompt, response, metadata columns) in the same order as labels."""
    k = len(sparse_clusters)
    texts = (frame["prompt"] + " " + frame["response"]).tolist()
    words = distinctive_words(texts, labels, k)
    label_columns = label_columns if label_columns is not None else guess_label_columns(frame)
    sizes = np.bincount(labels, minlength=k)
    # one groupby per label column, not one pass per cluster: k is ~n/10
    mixes: dict[str, dict[int, dict[str, int]]] = {}
    for col in label_columns:  # missing values are left out, as value_counts() would
        counts = mixes.setdefault(col, {})
        for (c, value), n in frame.assign(_c=labels).groupby(["_c", col]).size().items():
            counts.setdefault(int(c), {})[str(value)] = int(n)
    ids = frame["id"].to_numpy()
    out = []
    for c, members in enumerate(members_by_cluster(labels, k)):
        mix = {col: mixes[col].get(c, {}) for col in label_columns}
        out.append(ClusterSummary(c, int(sizes[c]), bool(sparse_clusters[c]), words[c],
                                  ids[members[:examples]].tolist(), mix))
    return out


def cached_summaries(store, gmap, frame, label_columns: list[str]) -> list[ClusterSummary]:
    """Summaries of a map's clusters, computed once and kept in the workspace (k is ~n/10: worth caching)."""
    key = cache.summaries_key(gmap.key, label_columns, _labels_fingerprint(frame, label_columns))
    found = cache.cached(store, key, lambda: [dataclasses.asdict(s) for s in summarise(
        frame, gmap.labels, gmap.sparse_clusters, label_columns=label_columns)])
    return [ClusterSummary(**c) for c in found]


def _labels_fingerprint(frame, label_columns: list[str]) -> str:
    """A hash of the label columns' values in row order (what the label mix is counted from)."""
    import hashlib

    import pandas as pd

    if not label_columns:
        return "-"
    hashed = pd.util.hash_pandas_object(frame[label_columns].astype(str), index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()[:16]


def guess_label_columns(frame, max_values: int = 20) -> list[str]:
    """Metadata columns that look like labels: few distinct values, not free text."""
    skip = {"id", "prompt", "response", "content_hash"}
    cols = []
    for col in frame.columns:
        if col in skip:
            continue
        values = frame[col].dropna().astype(str)
        if len(values) and values.nunique() <= min(max_values, max(2, len(frame) // 2)):
            cols.append(col)
    return cols
