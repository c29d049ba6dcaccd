"""One Prismatic Synthesis run with the embedded SmolLM2 generator on a seed pool from ../shared/data.

    python bench/synthesis.py [--gsm8k 90 --svamp 10] [--requests 6] [--json]

Prints candidates per minute, the acceptance rate, rejections by reason, and G-Vendi of the filtered pool vs. the
control (same number of valid candidates, no sparse filter), plus a few raw generations to judge them by eye.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gsm8k", type=int, default=90)
    ap.add_argument("--svamp", type=int, default=10)
    ap.add_argument("--requests", type=int, default=6)
    ap.add_argument("--solutions", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-synthesis"))
    args = ap.parse_args()
    os.environ.setdefault("PRISM_HOME", args.workspace)
    from featurize import load_source

    from core.data.ingest import IngestReport, Sample, content_hash
    from core.synthesis.embedded import EmbeddedGenerator
    from core.features.compute import compute_features, feature_config
    from core.data.store import Store
    from core.synthesis.loop import SynthesisConfig, candidates_frame, run_synthesis

    rng = random.Random(0)
    rows = [(p, r, "gsm8k") for p, r in rng.sample(load_source("gsm8k_train.jsonl"), args.gsm8k)]
    rows += [(p, r, "svamp") for p, r in rng.sample(load_source("svamp.jsonl"), args.svamp)]
    name = f"seed-{args.gsm8k}-{args.svamp}"
    with Store() as store:
        if not store.has_dataset(name):
            samples = [Sample(f"{src}-{i}", p, r, content_hash(p, r), {"source": src}) for i, (p, r, src) in
                       enumerate(rows)]
            store.save_dataset(name, IngestReport(samples, [], [], "bench"), source="bench")
        fc = feature_config()
        compute_features(store, name, fc)
        config = SynthesisConfig(rounds=1, requests_per_round=args.requests, solutions_per_problem=args.solutions,
                                 max_problem_tokens=args.max_tokens, max_solution_tokens=args.max_tokens)
        t = time.perf_counter()
        summary = run_synthesis(store, name, config, EmbeddedGenerator(store), fc)
        minutes = (time.perf_counter() - t) / 60
        frame = candidates_frame(store, summary["run_id"])
    problems = frame[frame["problem"].notna()]
    result = {"pool": len(rows), "minutes": minutes, "candidates": len(frame), "problems_parsed": len(problems),
              "candidates_per_minute": len(frame) / minutes if minutes else None,
              "problems_per_minute": len(problems) / minutes if minutes else None,
              "accepted": summary["accepted"], "rejected": summary["rejected"],
              "acceptance_rate_of_voted": summary["accepted"] / max(1, int(frame["reason"].isin(
                  ["accepted", "dense cluster", "duplicate"]).sum())),
              "acceptance_rate_of_all": summary["accepted"] / max(1, len(frame)),
              "g_vendi_before": summary["g_vendi_before"], "g_vendi_after": summary["g_vendi_after"],
              "g_vendi_control": summary["g_vendi_control"],
              "examples": problems["problem"].head(3).tolist()}
    if args.json:
        print(json.dumps(result))
        return
    for k, v in result.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
