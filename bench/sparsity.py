"""Do the sparse rules find thin regions? Enrichment of a known minority in each rule's flagged set (issue 11).

    python bench/sparsity.py [--seeds 5] [--ks 10 20 40] [--json]

Families of n = 200 rows from ../shared/data where the truth is known:
  diverse-minority      20 long minerva_math solutions, mutually unlike, among 180 short GSM8K answers
  homogeneous-minority  30 SVAMP rows (alike) among 270 GSM8K rows: an under-represented kind of problem
  duplicated-block      30 near-copies of one GSM8K problem (only its numbers changed) among 170 GSM8K rows:
                        redundant, not thin: a good rule flags it LESS than the rest (enrichment < 1)
  balanced              70 GSM8K + 70 SVAMP + 60 minerva_math: nothing is rare; enrichment of each source ~1
Enrichment = P(flagged | minority) / P(flagged): 1 = chance; at most 1 / P(flagged). For `balanced`, the largest
enrichment over the three sources (1 = no source singled out). Mean and range over k (clusters) and seeds.

Rules: paper (clusters below the median size), density (10-NN mean cosine below the median; clusters where most
members are), mass (x_iᵀ S x_i below the median; clusters whose mean mass is below the clusters' median),
consensus (the paper rule over 5 k-means seeds, a row is sparse if its cluster is in most of them). Each per-sample
rule is also scored by the AUC of its score for finding the minority (1 = every minority row ranks thinner).
Features: the product's default fast mode, cached in a bench workspace.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def change_numbers(text: str, rng: random.Random) -> str:
    return re.sub(r"\d+", lambda m: str(max(1, int(m.group()) + rng.randint(1, 9))), text)


def build_families() -> dict[str, tuple[list[tuple[str, str]], np.ndarray]]:
    """{family: (rows, minority label per row)}; for `balanced` the label is the source index."""
    from fidelity import sources

    src = sources()
    rng = random.Random("sparsity")
    gsm, short, svamp, minerva = src["gsm8k"], src["gsm8k-short"], src["svamp"], src["minerva"]
    fams = {}
    pick = rng.sample(range(len(short)), 180)
    rows = [short[i] for i in pick] + rng.sample(minerva, 20)
    fams["diverse-minority"] = (rows, np.array([0] * 180 + [1] * 20))
    rows = rng.sample(gsm, 270) + rng.sample(svamp, 30)
    fams["homogeneous-minority"] = (rows, np.array([0] * 270 + [1] * 30))
    base = rng.choice(gsm)
    copies = [(change_numbers(base[0], rng), change_numbers(base[1], rng)) for _ in range(30)]
    rows = rng.sample(gsm, 170) + list(dict.fromkeys(copies))
    fams["duplicated-block"] = (rows, np.array([0] * 170 + [1] * (len(rows) - 170)))
    rows = rng.sample(gsm, 70) + rng.sample(svamp, 70) + rng.sample(minerva, 60)
    fams["balanced"] = (rows, np.array([0] * 70 + [1] * 70 + [2] * 60))
    return fams


def features(fams, workspace: str) -> dict[str, np.ndarray]:
    os.environ["PRISM_HOME"] = workspace
    from core.data.ingest import IngestReport, Sample, content_hash
    from core.data.store import Store
    from core.features.compute import compute_features, feature_config

    config = feature_config()
    out = {}
    with Store() as store:
        for name, (rows, _) in fams.items():
            if not store.has_dataset(name):
                samples = [Sample(str(i), p, r, content_hash(p, r), {}) for i, (p, r) in enumerate(rows)]
                store.save_dataset(name, IngestReport(samples, [], [], "bench"), source="bench")
            compute_features(store, name, config,
                             progress=lambda d, t: print(f"\r{name} {d}/{t}", end="", file=sys.stderr))
            print(file=sys.stderr)
            ids, X = store.load_features(name, config.key(), config.dim)
            out[name] = X[np.argsort([int(i) for i in ids])]
    return out


def rule_flags(X: np.ndarray, k: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """{rule: (flagged rows, per-sample score or None)} for one k and seed."""
    from core.analysis.clusters import spherical_kmeans
    from core.analysis.sparsity import (Scores, apply_rule, below_quantile, gradient_mass, knn_density,
                                        majority_sparse, paper_sparse)

    labels, _ = spherical_kmeans(X, k, seed=seed)
    sizes = np.bincount(labels, minlength=k)
    density, mass = knn_density(X, 10), gradient_mass(X)
    votes = np.zeros(len(X))
    for s in range(5):
        lab, _ = spherical_kmeans(X, k, seed=seed * 5 + s)
        votes += paper_sparse(np.bincount(lab, minlength=k))[lab]
    scores = Scores(density=density, mass=mass)
    out = {rule: (apply_rule(rule, labels, sizes, scores)[0], {"paper": None, "density": density, "mass": mass}[rule])
           for rule in ("paper", "density", "mass")}
    out["mass-median"] = (below_quantile(mass, 0.5), mass)  # the same score, half the rows flagged always
    out["consensus"] = (votes > 2.5, None)
    return out


def auc(score: np.ndarray, minority: np.ndarray) -> float:
    """P(a minority row scores thinner (lower) than a majority row)."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(-score[minority], -score[~minority]).statistic / (minority.sum() * (~minority).sum()))


def evaluate(X: np.ndarray, labels: np.ndarray, balanced: bool, ks, seeds) -> dict:
    per_rule: dict[str, dict[str, list]] = {}
    for k in ks:
        for seed in range(seeds):
            for rule, (flags, score) in rule_flags(X, k, seed).items():
                r = per_rule.setdefault(rule, {"enrichment": [], "recall": [], "flagged": [], "auc": []})
                share = flags.mean()
                groups = [labels == g for g in np.unique(labels)] if balanced else [labels == 1]
                enrich = [flags[g].mean() / share if share else float("nan") for g in groups]
                r["enrichment"].append(max(enrich))
                r["recall"].append(float(flags[groups[-1]].mean()))
                r["flagged"].append(float(share))
                if score is not None and not balanced:
                    r["auc"].append(auc(score, labels == 1))
    return {rule: {m: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v))}
                   for m, v in r.items() if v} for rule, r in per_rule.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--ks", type=int, nargs="*", default=[10, 20, 40])
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-sparsity"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    fams = build_families()
    feats = features(fams, args.workspace)
    results = {name: evaluate(feats[name], fams[name][1], name == "balanced", args.ks, args.seeds)
               for name in fams}
    if args.json:
        print(json.dumps(results))
        return
    for name, rules in results.items():
        print(name)
        for rule, r in rules.items():
            e = r["enrichment"]
            line = (f"  {rule:10} enrichment {e['mean']:.2f} [{e['min']:.2f}, {e['max']:.2f}]  "
                    f"recall {r['recall']['mean']:.0%}  flagged {r['flagged']['mean']:.0%}")
            if "auc" in r:
                line += f"  AUC {r['auc']['mean']:.2f}"
            print(line)


if __name__ == "__main__":
    main()
