"""Does growing the sparse regions pay? A candidate pool, the filtered arm beside the control arm, round by round,
for each sparse rule (issue 8).

    python bench/grow.py [--rounds 5] [--accept 40] [--rules paper density mass] [--json]

Seed: 200 GSM8K train rows. Candidate pool: 1,000 other rows, 500 GSM8K train + 300 SVAMP + 200 minerva_math
(../shared/data). Each round the filtered arm accepts `accept` pool rows that land in sparse clusters of its current
pool; the control arm takes as many of the same round's valid candidates at random. Per round and rule: G-Vendi and
embedding Vendi of both arms, the gain (filtered - control), and which sources the accepted rows came from. The
product's own code runs it (run_synthesis with --source pool), features cached in a bench workspace.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def build(store) -> None:
    from fidelity import sources

    from core.data.ingest import IngestReport, Sample, content_hash

    src = sources()
    rng = random.Random("grow")
    gsm = rng.sample(src["gsm8k"], 700)
    parts = {"seed": [(p, r, "gsm8k") for p, r in gsm[:200]],
             "pool": [(p, r, "gsm8k") for p, r in gsm[200:]] + [(p, r, "svamp") for p, r in rng.sample(src["svamp"], 300)]
             + [(p, r, "minerva") for p, r in rng.sample(src["minerva"], 200)]}
    for name, rows in parts.items():
        if not store.has_dataset(name):
            samples = [Sample(f"{name}-{i}", p, r, content_hash(p, r), {"source": s}) for i, (p, r, s) in enumerate(rows)]
            store.save_dataset(name, IngestReport(samples, [], [], "bench"), source="bench")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--accept", type=int, default=40)
    ap.add_argument("--rules", nargs="*", default=["paper", "density", "mass"])
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-grow"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["PRISM_HOME"] = args.workspace
    from core.data.store import Store
    from core.features.compute import compute_features, feature_config
    from core.synthesis.config import SynthesisConfig
    from core.synthesis.loop import run_synthesis

    fc = feature_config()
    result = {"seed": 200, "pool": 1000, "rounds": args.rounds, "accept_per_round": args.accept, "rules": {}}
    with Store() as store:
        build(store)
        for name in ("seed", "pool"):
            compute_features(store, name, fc, progress=lambda d, t: print(f"\r{name} {d}/{t}", end="", file=sys.stderr))
        print(file=sys.stderr)
        source_of = {s.id: s.meta["source"] for s in store.samples("pool", view="all")}
        for rule in args.rules:
            config = SynthesisConfig(source="pool", pool="pool", rounds=args.rounds, accept_per_round=args.accept,
                                     pool_batch=args.accept, rule=rule)
            summary = run_synthesis(store, "seed", config, None, fc)
            arms = {arm: store.arm_candidates(summary["run_id"], arm) for arm in ("filtered", "control")}
            per_round = []
            for r in summary["per_round"]:
                took = {arm: [c.source_id for c in cands if c.round == r["round"]] for arm, cands in arms.items()}
                per_round.append({
                    "round": r["round"] + 1, "accepted": r["accepted"], "n": r["n_after"],
                    "g_vendi_filtered": round(r["g_vendi_after"], 3), "g_vendi_control": round(r["g_vendi_control"], 3),
                    "gain": round(r["g_vendi_after"] - r["g_vendi_control"], 3),
                    "embedding_vendi_filtered": round(r["embedding_vendi_after"], 3),
                    "embedding_vendi_control": round(r["embedding_vendi_control"], 3),
                    "sources_filtered": dict(Counter(source_of[i] for i in took["filtered"])),
                    "sources_control": dict(Counter(source_of[i] for i in took["control"]))})
            result["rules"][rule] = {"status": summary["status"], "g_vendi_seed": round(summary["g_vendi_before"], 3),
                                     "per_round": per_round}
            last = per_round[-1] if per_round else {}
            print(f"{rule:8} final G-Vendi filtered {last.get('g_vendi_filtered')} vs control "
                  f"{last.get('g_vendi_control')} (gain {last.get('gain')}); accepted by source "
                  f"{dict(sum((Counter(r['sources_filtered']) for r in per_round), Counter()))}", file=sys.stderr)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
