"""Cluster summaries: size, sparse flag, distinctive words (class-based TF-IDF), examples and label mix."""
from __future__ import annotations

import dataclasses

import numpy as np


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
    out = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        mix = {col: {str(v): int(n) for v, n in frame[col].iloc[members].value_counts().items()}
               for col in label_columns}
        out.append(ClusterSummary(c, len(members), bool(sparse_clusters[c]), words[c],
                                  frame["id"].iloc[members[:examples]].tolist(), mix))
    return out


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
