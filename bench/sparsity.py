"""How strongly each sparse rule's flagged set is enriched in a mixture's minority source, and how stable it is.

    python bench/sparsity.py [--n 200] [--seeds 10]

For imbalanced mixtures (90% A + 10% B), enrichment = (share of minority rows flagged sparse) / (share of all rows
flagged sparse): 1 = no better than chance, 10 = every flagged row is a minority row. Measurements, not tuned.
Features: the default fast mode with the embedded SmolLM2, cached in a bench workspace (a re-run is quick).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-sparsity"))
    args = ap.parse_args()
    os.environ.setdefault("PRISM_HOME", args.workspace)
    from featurize import load_source

    from core.analysis.clusters import ClusterConfig, cluster
    from core.data.ingest import Sample, content_hash
    from core.data.ingest import IngestReport
    from core.features.compute import compute_features, feature_config
    from core.data.store import Store

    mixtures = {"gsm8k90+minerva10": ("gsm8k_train.jsonl", "minerva_math.jsonl"),
                "svamp90+gsm8k10": ("svamp.jsonl", "gsm8k_train.jsonl")}
    config = feature_config()
    results = {}
    with Store() as store:
        for name, (major, minor) in mixtures.items():
            rng = random.Random(0)
            n_minor = args.n // 10
            rows = [(p, r, "major") for p, r in rng.sample(load_source(major), args.n - n_minor)]
            rows += [(p, r, "minor") for p, r in rng.sample(load_source(minor), n_minor)]
            if not store.has_dataset(name):
                samples = [Sample(f"{i}", p, r, content_hash(p, r), {"part": part}) for i, (p, r, part) in
                           enumerate(rows)]
                store.save_dataset(name, IngestReport(samples, [], [], "bench"), source="bench")
            compute_features(store, name, config, progress=lambda d, t: print(f"\r{name} {d}/{t}", end="",
                                                                               file=sys.stderr))
            print(file=sys.stderr)
            ids, X = store.load_features(name, config.key(), config.dim)
            minority = np.array([s.meta["part"] == "minor" for s in store.samples(name)])
            per_rule = {}
            for rule in ("paper", "density"):
                enrich, flagged = [], []
                for seed in range(args.seeds):
                    c = cluster(X, ClusterConfig(seed=seed, rule=rule))
                    share_all = c.sparse_rows.mean()
                    share_minor = c.sparse_rows[minority].mean()
                    enrich.append(share_minor / share_all if share_all else float("nan"))
                    flagged.append(share_minor)
                per_rule[rule] = {"enrichment_mean": float(np.mean(enrich)), "enrichment_sd": float(np.std(enrich)),
                                  "minority_flagged_mean": float(np.mean(flagged)),
                                  "minority_flagged_min": float(np.min(flagged)),
                                  "minority_flagged_max": float(np.max(flagged)),
                                  "share_all_flagged_mean": float(np.mean(
                                      [cluster(X, ClusterConfig(seed=s, rule=rule)).sparse_rows.mean()
                                       for s in range(min(3, args.seeds))]))}
                r = per_rule[rule]
                print(f"{name:20} {rule:8} enrichment {r['enrichment_mean']:.2f} ± {r['enrichment_sd']:.2f}  "
                      f"minority flagged {r['minority_flagged_mean']:.0%} (min {r['minority_flagged_min']:.0%}, "
                      f"max {r['minority_flagged_max']:.0%}) over {args.seeds} seeds; all flagged "
                      f"{r['share_all_flagged_mean']:.0%}", flush=True)
            results[name] = per_rule
    print(json.dumps(results))


if __name__ == "__main__":
    main()
