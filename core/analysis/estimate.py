"""Before a long analysis: how long will it take on this machine, and a random sample to look at first.

The estimate times a probe batch of the dataset's own rows (their features are kept: nothing is wasted) and scales by
the tokens still to compute; the map and baselines are small next to the features and are left out."""
from __future__ import annotations

import dataclasses
import random
import time

from core.analysis import cache
from core.data.store import Store


@dataclasses.dataclass(frozen=True)
class Estimate:
    missing: int  # rows without features
    probe_rows: int
    seconds_per_row: float
    seconds: float  # for all missing rows

    def text(self) -> str:
        minutes = self.seconds / 60
        when = f"~{self.seconds:.0f} s" if minutes < 2 else f"~{minutes:.0f} min" if minutes < 120 else \
            f"~{minutes / 60:.1f} h"
        return f"{when} on this machine for {self.missing:,} rows ({self.seconds_per_row:.2f} s per row)"


def estimate(store: Store, dataset: str, config, *, probe: int = 8, seed: int = 0) -> Estimate:
    from core.features.gradients import featurize_pairs, featurizer_for

    missing = store.missing_feature_hashes(dataset, config)
    if not missing:
        return Estimate(0, 0, 0.0, 0.0)
    sample = random.Random(seed).sample(missing, min(probe, len(missing)))
    texts = store.texts_by_hash(sample)
    featurizer, _ = featurizer_for(config)  # the revision checked, as every feature pass does
    pairs = [texts[h] for h in sample]
    started = time.perf_counter()
    X, _ = featurize_pairs(featurizer, pairs)
    per_row = (time.perf_counter() - started) / len(sample)
    store.write_features(config, sample, X)
    rest = len(missing) - len(sample)
    # rows differ in length: scale by characters (a cheap stand-in for tokens) of a larger random sample
    probe_chars = sum(len(p) + len(r) for p, r in pairs) / len(pairs)
    others = store.texts_by_hash(random.Random(seed + 1).sample(missing, min(2000, len(missing))))
    mean_chars = sum(len(p) + len(r) for p, r in others.values()) / max(len(others), 1)
    scaled = per_row * mean_chars / max(probe_chars, 1.0)
    return Estimate(rest, len(sample), scaled, scaled * rest)


def peek_estimate(store: Store, dataset: str, config) -> Estimate | None:
    """The estimate last timed for the dataset's rows as they are under this feature config, or None."""
    found = cache.get(store, cache.estimate_key(store, dataset, config.key()))
    return Estimate(**found) if found else None


def remember_estimate(store: Store, dataset: str, config, est: Estimate) -> Estimate:
    """Keep `est` (estimate's answer) for peek_estimate."""
    cache.put(store, cache.estimate_key(store, dataset, config.key()), dataclasses.asdict(est))
    return est


def sample_dataset(store: Store, dataset: str, n: int, *, seed: int = 0) -> str:
    """A new dataset of n random rows of `dataset` (same ids and content, so every feature is shared)."""
    name = f"{dataset}-sample{n}"
    if store.has_dataset(name):
        return name
    from core.data.ingest import IngestReport

    samples = store.samples(dataset)
    picked = sorted(random.Random(seed).sample(range(len(samples)), min(n, len(samples))))
    report = IngestReport([samples[i] for i in picked], [], [], "sample")
    store.save_dataset(name, report, source=f"sample of {dataset}", extra={"sample_of": dataset, "seed": seed})
    return name
