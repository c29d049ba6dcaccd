"""A synthesis loop without a model: a generator that records every request it is sent (and answers like
tests/openai_stub.py: problems derived from the first example, answers with \\boxed{}), and the loop's model calls
(the featuriser, the quality screen, the text embeddings) replaced by deterministic vectors. A candidate's vector is
its first example's seed vector plus noise, so it lands near the cluster it was written for (some are accepted,
and round 2 plans from a grown pool)."""
from __future__ import annotations

import hashlib
import re
from types import SimpleNamespace

import numpy as np

from core.synthesis.generators import Result
from tests.helpers import DATA, light_config


class RecordingGenerator:
    name = "fake:recorder"

    def __init__(self):
        self.problem_prompts: list[str] = []  # every problem-writing prompt, in the order sent
        self.solve_prompts: list[str] = []

    def generate(self, requests):
        out = []
        for r in requests:
            prompt = r.messages[-1][1]
            if "Example 1:" in prompt:
                self.problem_prompts.append(prompt)
                first = re.search(r"Example 1: (.*?)(?:\n\nExample 2:|\n\nWrite )", prompt, re.S).group(1).strip()
                out.append(Result(f"Problem 1: {first} [variant {len(self.problem_prompts)}]"))
            else:
                self.solve_prompts.append(prompt)
                out.append(Result("Adding gives 7.\nThe answer is \\boxed{7}."))
        return out


def _noise(key: str, dim: int) -> np.ndarray:
    seed = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(size=dim).astype(np.float32)


def seeded_store(store, name: str = "mix"):
    """`name` ingested from mixture_24.jsonl with fake features (unit vectors grouped by source, as real features
    are unit) and the quality read's losses, under the light config; returns the feature config."""
    from core.data.ingest import ingest_file
    from tests.app.fakes import fake_losses, grouped_vectors

    store.save_dataset(name, ingest_file(DATA / "mixture_24.jsonl"), source="test")
    fc = light_config()
    samples = store.samples(name)
    fake_losses(store, name, fc)
    X = grouped_vectors([str(s.meta.get("source", "")) for s in samples], fc.dim)
    store.write_features(fc, [s.content_hash for s in samples], X / np.linalg.norm(X, axis=1, keepdims=True))
    return fc


def no_model(monkeypatch, store, dataset: str, fc) -> None:
    """The loop's model calls replaced (see the module's docstring); the seed's features are fake_features'."""
    import core.features.compute as compute
    import core.features.embeddings as embeddings
    import core.features.gradients as gradients
    from core.synthesis import loop

    seed = {s.prompt: s.content_hash for s in store.samples(dataset)}
    seed_X = store.features_by_hash(fc.key(), fc.dim, list(seed.values()))

    def candidate_features(store_, featurizer, rows):
        if not rows:
            return np.zeros((0, fc.dim), np.float32)
        X = []
        for r in rows:
            base = next((seed_X[h] for p, h in seed.items() if r["problem"].startswith(p)), np.zeros(fc.dim))
            v = base + 0.35 * _noise(r["content_hash"], fc.dim) / np.sqrt(fc.dim)
            X.append((v / np.linalg.norm(v)).astype(np.float32))
        X = np.stack(X)
        store_.write_features(fc, [r["content_hash"] for r in rows], X)
        return X

    monkeypatch.setattr(compute, "compute_features", lambda *a, **k: None)
    monkeypatch.setattr(gradients, "featurizer_for", lambda config, device="auto", loaded=None:
                        (SimpleNamespace(config=config), None))
    monkeypatch.setattr(loop, "candidate_features", candidate_features)
    monkeypatch.setattr(loop, "screen", lambda store_, featurizer, rows, reference: np.zeros(len(rows), bool))
    monkeypatch.setattr(embeddings, "embed_cached", lambda store_, pairs: {h: _noise(h, 16) for h in pairs})
