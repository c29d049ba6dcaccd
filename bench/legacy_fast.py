"""The fast mode this project started issue 11 from (Kronecker sketches), run by the code of that time.

    git worktree add ../wt-legacy 81eb723 && python bench/legacy_fast.py [before kron-top15-r64 kron-all-r16]

Computes, for every row of bench/fidelity.py's families, the fast features of the pre-change code (commit 81eb723,
checked out at $PRISM_LEGACY_CHECKOUT, default ../wt-legacy) into bench/results/fidelity/legacy-NAME.npz, which
`bench/fidelity.py --legacy NAME` then scores beside today's fast mode on exactly the same rows.
"""
import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OLD = Path(os.environ.get("PRISM_LEGACY_CHECKOUT", BENCH.parent.parent / "wt-legacy"))
sys.path.insert(0, str(OLD))  # its core/ package, not this checkout's
sys.path.insert(1, str(BENCH))

import fidelity as F  # noqa: E402  (this checkout's families and cache)

sys.path.remove(str(OLD))
sys.path.insert(0, str(OLD))  # fidelity put this checkout first on import: the old core/ must win
from core.features.compute import feature_config  # noqa: E402
from core.features.gradients import featurize_pairs, make_featurizer  # noqa: E402
from core.features.models import load_model  # noqa: E402

VARIANTS = {"before": dict(fast_blocks=15, fast_rank=16), "kron-top15-r64": dict(fast_blocks=15, fast_rank=64),
            "kron-all-r16": dict(fast_blocks=None, fast_rank=16)}

if __name__ == "__main__":
    loaded = load_model()
    fams = F.families(list(F.FAMILIES))
    rows = list({F._hash(r): r for f in fams.values() for r in f["rows"]}.values())
    for v in sys.argv[1:] or list(VARIANTS):
        cache = F.VectorCache(f"legacy-{v}")
        hashes = [F._hash(r) for r in rows]
        by_hash = dict(zip(hashes, rows))
        todo = cache.missing(hashes)
        feat = make_featurizer(loaded.model, feature_config(mode="fast", **VARIANTS[v]), tokenizer=loaded.tokenizer)
        for s in range(0, len(todo), 64):
            chunk = todo[s:s + 64]
            X, _ = featurize_pairs(feat, [by_hash[h] for h in chunk])
            cache.add(chunk, X)
            print(v, s + len(chunk), len(todo), flush=True)
