"""The gradient filter: a candidate is accepted when its gradient feature lands in a sparse cluster of the current
pool and it is no near-copy of a row already there; and the control arm's draw, which takes as many valid
candidates as the filter accepted, at random, without looking at clusters."""
from __future__ import annotations

import random

import numpy as np

from core.data.store import Store

# candidates that passed the source's checks: what the control draws from (off target: a run toward an eval set)
VALID = ("accepted", "dense cluster", "off target")


def candidate_features(store: Store, featurizer, rows: list[dict]) -> np.ndarray:
    """Features of the rows (cached by content hash under the run's feature config; the missing ones computed)."""
    from core.features.gradients import featurize_pairs

    config = featurizer.config
    hashes = [r["content_hash"] for r in rows]
    found = store.features_by_hash(config.key(), config.dim, hashes)
    todo = [i for i, h in enumerate(hashes) if h not in found]
    if todo:
        losses = np.zeros(len(todo), dtype=np.float32)
        X, _ = featurize_pairs(featurizer, [(rows[i]["problem"], rows[i]["solution"]) for i in todo], losses=losses)
        store.write_features(config, [hashes[i] for i in todo], X, losses=losses)
        found.update({hashes[i]: x for i, x in zip(todo, X)})
    return np.stack([found[h] for h in hashes]) if hashes else np.zeros((0, config.dim), np.float32)


def screen(store: Store, featurizer, rows: list[dict], reference) -> np.ndarray:
    """The quality read of candidates against the seed's own distribution (quality.Reference): a suspect candidate
    gets reason "suspect" and its reasons in words under "quality"; returns the (n,) suspect mask. Their loss came
    with their features (candidate_features); the response-alone loss is one forward pass more, cached by hash."""
    from core.analysis.quality import flags, text_signals
    from core.features.response_loss import candidate_losses_alone

    if not rows or reference is None:
        return np.zeros(len(rows), dtype=bool)
    hashes = [r["content_hash"] for r in rows]
    losses = store.losses_by_hash(featurizer.config.key(), hashes)
    alone = candidate_losses_alone(store, featurizer, hashes, [r["solution"] for r in rows])
    out = np.zeros(len(rows), dtype=bool)
    for i, (row, h) in enumerate(zip(rows, hashes)):
        loss = (losses.get(h) or (None, None))[0]
        ifd = loss / max(alone[h], 1e-6) if loss is not None and h in alone else None
        reasons = flags(text_signals(row["problem"], row["solution"]), loss, ifd, reference)
        if reasons:
            row["reason"], row["quality"], out[i] = "suspect", [t for _, t in reasons], True
    return out


def judge(rows: list[dict], X: np.ndarray, pool_X: np.ndarray, known: set[str], centroids: np.ndarray,
          sparse_clusters: np.ndarray, duplicate_cosine: float) -> np.ndarray:
    """Set each row's cluster and reason (accepted / dense cluster / duplicate); returns the accepted vectors.

    `pool_X` is the filtered pool so far (seed + accepted, this step's acceptances included as they happen), `known`
    its content hashes: an exact or near copy (cosine >= duplicate_cosine) of any of them is a duplicate."""
    accepted = []
    others = pool_X
    for row, v in zip(rows, X):
        row["cluster"] = int(np.argmax(centroids @ v))
        near = float(np.max(others @ v)) if len(others) else 0.0
        if row["content_hash"] in known or near >= duplicate_cosine:
            row["reason"] = "duplicate"
        elif sparse_clusters[row["cluster"]]:
            row["reason"] = "accepted"
            accepted.append(v)
            others = np.concatenate([others, v[None]])
        else:
            row["reason"] = "dense cluster"
        known.add(row["content_hash"])
    return np.stack(accepted) if accepted else np.zeros((0, X.shape[1] if X.ndim == 2 else 0), np.float32)


def control_draw(valid: list[tuple], n: int, seed: str) -> list[tuple]:
    """The control arm's picks: n of the round's valid candidates (keys), uniformly at random, seeded by the run and
    round so a resumed round draws the same ones."""
    return random.Random(seed).sample(valid, min(n, len(valid)))
