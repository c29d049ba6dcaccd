"""How much of a first analysis the MiniLM baseline costs at n rows (issue 10: target <= 25% of featurisation).

    python bench/embedding_share.py [--n 2000] [--probe 64] [--json]

Measured in one process on the same GSM8K train rows: MiniLM embeddings of all n rows (as the analysis computes them:
prompt + response, batches of 64, sentence-transformers sorting by length), and the product's default fast features
of a seeded `--probe` of them, batched as the analysis batches. Featurising all n rows would take about an hour here,
so its time is the probe's rows/s scaled to n (stated as such in the output). Re-analyses and synthesis rounds read
embeddings from the workspace cache (embed_cached), so there MiniLM costs nothing again.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--probe", type=int, default=64)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from core.features.compute import feature_config
    from core.features.embeddings import embed_texts
    from core.features.gradients import featurize_pairs, make_featurizer
    from core.features.models import load_model

    rows = [json.loads(line) for line in open(SHARED / "gsm8k_train.jsonl")]
    pairs = [(r["question"], r["answer"]) for r in random.Random("share").sample(rows, args.n)]
    embed_texts(["warm up"])  # model load apart
    t = time.perf_counter()
    embed_texts([p + "\n" + r for p, r in pairs])
    embed_s = time.perf_counter() - t
    loaded = load_model()
    fast = make_featurizer(loaded.model, feature_config(), tokenizer=loaded.tokenizer)
    probe = random.Random(0).sample(pairs, args.probe)
    featurize_pairs(fast, probe[:4])  # warm-up
    t = time.perf_counter()
    featurize_pairs(fast, probe)
    probe_s = time.perf_counter() - t
    features_s = probe_s / args.probe * args.n
    out = {"n": args.n, "embedding_s": round(embed_s, 1), "embedding_rows_per_s": round(args.n / embed_s, 1),
           "probe_rows": args.probe, "probe_s": round(probe_s, 1),
           "features_s_scaled_from_probe": round(features_s), "embedding_share_of_features": round(embed_s / features_s, 4)}
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
