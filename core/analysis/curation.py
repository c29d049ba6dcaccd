"""What the curation commands report: a dedup of a dataset, with what removing the flagged rows does to G-Vendi."""
from __future__ import annotations

from core.analysis.dedup import DEFAULT_THRESHOLD, find_duplicates, minhash_groups
from core.analysis.diversity import vendi_score
from core.data.store import Store


def dedup_report(store: Store, dataset: str, config_key: str, dim: int, *, threshold: float | None = None,
                 minhash_threshold: float = 0.8, view: str = "kept") -> dict:
    """{"dataset", "threshold", "groups": [[id, ...]] (kept id first), "rows_flagged", "g_vendi_before",
    "g_vendi_after" (without the flagged rows: one kept per group), "curve", "text_groups", "index"}."""
    ids, X = store.load_features(dataset, config_key, dim, view=view)
    if len(ids) < 2:
        raise ValueError(f"{dataset}: {len(ids)} rows have features; dedup needs at least 2")
    t = DEFAULT_THRESHOLD if threshold is None else threshold
    result = find_duplicates(X, t)
    frame = store.samples_frame(dataset, view).set_index("id").loc[ids]
    texts = (frame["prompt"] + "\n" + frame["response"]).tolist()
    return {"dataset": dataset, "threshold": t, "groups": [[ids[i] for i in g] for g in result.groups],
            "rows_flagged": int(result.flagged.sum()), "g_vendi_before": vendi_score(X),
            "g_vendi_after": vendi_score(X[~result.flagged]), "curve": {f"{k:.2f}": v for k, v in result.curve.items()},
            "text_groups": [[ids[i] for i in g] for g in minhash_groups(texts, threshold=minhash_threshold)],
            "index": "exact" if result.exact else "approximate (cells + 4-bit codes, exact re-ranking)"}
