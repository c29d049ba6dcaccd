"""Rows, datasets and the product passes for bench/quality.py (issue 18): clean rows from GSM8K, SVAMP and
minerva_math, junk of every kind in bench/junk.py planted into rows of the same sources, and each dataset's features,
losses and quality read through the product's own code (compute_features(quality=True), read_quality)."""
from __future__ import annotations

import random
import sys
import time

import numpy as np

from junk import KINDS, plant

SOURCES = ("gsm8k", "svamp", "minerva")
SIGNALS = ("loss", "loss_alone", "ifd", "overlap", "compression", "symbols", "length")


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def build_rows(sizes: dict[str, int], per_kind: int) -> tuple[list[dict], dict[str, list[dict]]]:
    """(clean rows, {kind: junk rows}). Junk is planted into rows of the three sources in turn (never rows of the
    clean base: each junk row has its own prompt); `mismatched` takes the response of a row of another source."""
    from fidelity import sources

    src = sources()
    rng = random.Random("quality")
    spare = {}
    clean = []
    for s, n in sizes.items():
        picks = rng.sample(range(len(src[s])), n + min(len(src[s]) - n, per_kind * len(KINDS)))
        clean += [{"id": f"{s}-{j:03d}", "prompt": src[s][i][0], "response": src[s][i][1], "source": s, "junk": None}
                  for j, i in enumerate(picks[:n])]
        spare[s] = [{"prompt": src[s][i][0], "response": src[s][i][1], "source": s} for i in picks[n:]]
    junk = {}
    for kind in KINDS:
        junk[kind] = []
        for j in range(per_kind):
            s = SOURCES[j % 3]
            other = spare[SOURCES[(j + 1 + rng.randrange(2)) % 3]].pop()
            row = plant(spare[s].pop(), kind, rng, other)
            junk[kind].append({"id": f"junk-{kind}-{j:02d}", **row})
    return clean, junk


def shuffled(rows: list[dict], name: str) -> list[dict]:
    out = list(rows)
    random.Random(f"order:{name}").shuffle(out)
    return out


def save(store, name: str, rows: list[tuple[str, str, str]]) -> None:
    """(id, prompt, response) rows as dataset `name` (replacing it: features and losses stay cached by content)."""
    from core.data.ingest import IngestReport, Sample, content_hash

    samples = [Sample(i, p, r, content_hash(p, r), {}) for i, p, r in rows]
    store.save_dataset(name, IngestReport(samples, [], [], "bench"), source="bench", replace=True)


def passes(store, name: str, config) -> float:
    """Features and losses of the dataset's missing rows (the product's pass, quality=True); seconds taken."""
    from core.features.compute import compute_features

    t = time.perf_counter()
    compute_features(store, name, config, quality=True,
                     progress=lambda d, tot: print(f"\r{name}: {d}/{tot}", end="", file=sys.stderr, flush=True))
    print(file=sys.stderr)
    return time.perf_counter() - t


def read(store, name: str, ids: list[str], config) -> dict:
    """Features, suspect mask, reason codes and signals of the dataset, in the order of `ids`."""
    from core.analysis.quality import read_quality

    fids, X = store.load_features(name, config.key(), config.dim)
    q = read_quality(store, name, config.key())
    fpos, qpos = {i: j for j, i in enumerate(fids)}, {i: j for j, i in enumerate(q.ids)}
    f, r = [fpos[i] for i in ids], [qpos[i] for i in ids]
    return {"X": X[f], "suspect": q.suspect[r], "codes": [[c for c, _ in q.reasons[j]] for j in r],
            "reasons": [[t for _, t in q.reasons[j]] for j in r],
            "signals": {k: q.signals[k][r] for k in SIGNALS}, "quality": q}


def time_passes(rows: list[dict], config, repeats: int) -> dict:
    """Feature pass vs quality pass (losses alone + the read) on the same rows, each repeat in a fresh workspace,
    alternating; the model is loaded once beforehand (neither pass pays for it). Median seconds and the ratio."""
    import tempfile

    from core.analysis.quality import read_quality
    from core.data.store import Store
    from core.features.compute import compute_features
    from core.features.models import load_model
    from core.features.response_loss import compute_losses

    loaded = load_model(config.model)
    feat, qual = [], []
    for r in range(repeats):
        with tempfile.TemporaryDirectory(prefix="prism-bench-quality-cost-") as tmp, \
                Store(f"{tmp}/prism.duckdb") as store:
            save(store, "cost", [(x["id"], x["prompt"], x["response"]) for x in rows])
            t = time.perf_counter()
            compute_features(store, "cost", config, loaded=loaded)
            feat.append(time.perf_counter() - t)
            t = time.perf_counter()
            done = compute_losses(store, "cost", config, loaded=loaded)
            read_quality(store, "cost", config.key())
            qual.append(time.perf_counter() - t)
            log(f"cost repeat {r + 1}/{repeats}: features {feat[-1]:.1f} s, quality {qual[-1]:.1f} s ({done})")
    f, q = float(np.median(feat)), float(np.median(qual))
    return {"rows": len(rows), "repeats": repeats, "feature_s": [round(x, 2) for x in feat],
            "quality_s": [round(x, 2) for x in qual], "feature_median_s": round(f, 2),
            "quality_median_s": round(q, 2), "ratio": round(q / f, 3),
            "ratios": [round(b / a, 3) for a, b in zip(feat, qual)]}


def example(row: dict, got: dict, j: int) -> dict:
    """A row as evidence: what it is, why it was (or was not) flagged, its signals."""
    return {"id": row["id"], "source": row["source"], "junk": row["junk"], "response": row["response"][:80],
            "codes": got["codes"][j], "reasons": got["reasons"][j],
            **{k: (round(float(v[j]), 3) if np.isfinite(v[j]) else None) for k, v in got["signals"].items()}}
