"""Targeted growth (issue 22): the eval set's coverage before and after growing a seed toward it from a candidate
pool (`synthesize --source pool --toward EVAL`), against the run's control arm (as many valid candidates drawn at
random) and against the mean of `--draws` more random draws of the same size.

    python bench/target_growth.py [--target gsm8k|svamp|minerva] [--seed-target 5] [--max-length 32]
                                  [--workspace DIR] [--json]
    python bench/target_growth.py --source generator [--requests 12] [--solutions 3] [--max-tokens 256] ...

`--source generator`: the same seed grown toward the same eval set by the embedded SmolLM2-135M generator (llama.cpp;
`synthesize SEED --toward EVAL --generator embedded` on the light features), one round of `--requests` problem-writing
requests; the eval set's coverage by the seed, the filtered arm and the control arm, with the candidates' reasons.

Rows are bench/target.py's (its pool: 40 rows of the target source + 60 of each other source of GSM8K / SVAMP /
minerva_math; its eval: 30 held-back rows of the target, GSM8K's test split for GSM8K), featurised with the same light
config, in the same kind of workspace (run bench/target.py first with the same --workspace and every feature is
cached). Split: the seed is the pool's other-source rows with an even index plus `--seed-target` target rows; the
candidate pool is the rest (the other target rows and the other-source rows with an odd index). One round, one step
that draws every candidate. What the filter accepts and what the control draws are read from the run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from target import light_fields  # noqa: E402


def split(parts: dict, target: str, seed_target: int) -> tuple[list, list]:
    """(seed rows, candidate rows) of the pool, as (prompt, response, source)."""
    seed, cands, seen = [], [], 0
    for i, (p, r, s) in enumerate(parts["pool"]):
        if s == target:
            (seed if seen < seed_target else cands).append((p, r, s))
            seen += 1
        else:
            (seed if i % 2 == 0 else cands).append((p, r, s))
    return seed, cands


def save(store, name: str, rows: list) -> None:
    from core.data.ingest import IngestReport, Sample, content_hash

    if not store.has_dataset(name):
        samples = [Sample(f"{name}-{i}", p, r, content_hash(p, r), {"source": s}) for i, (p, r, s) in enumerate(rows)]
        store.save_dataset(name, IngestReport(samples, [], [], "bench"), source="bench")


def random_controls(store, config, seed_name: str, cand_name: str, frame, E, threshold: float, n: int,
                    draws: int) -> dict:
    """Coverage of E by the seed plus n of the run's valid candidates drawn at random, over `draws` draws."""
    from core.analysis.coverage import coverage_at
    from core.synthesis.acceptance import VALID

    _, S = store.load_features(seed_name, config.key(), config.dim)
    hash_of = store.content_hashes(cand_name)
    hashes = [hash_of[i] for i in frame.loc[frame["reason"].isin(VALID), "source_id"]]
    feats = store.features_by_hash(config.key(), config.dim, hashes)
    V = np.stack([feats[h] for h in hashes])
    rng = np.random.default_rng(0)
    covs = [coverage_at(np.concatenate([S, V[rng.choice(len(V), n, replace=False)]]), E, threshold)
            for _ in range(draws)]
    return {"draws": draws, "mean": round(float(np.mean(covs)), 4), "p10": round(float(np.quantile(covs, 0.1)), 4),
            "p90": round(float(np.quantile(covs, 0.9)), 4), "valid": int(len(V))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", choices=("gsm8k", "svamp", "minerva"), default="gsm8k")
    ap.add_argument("--pool-target", type=int, default=40)
    ap.add_argument("--pool-other", type=int, default=60)
    ap.add_argument("--eval", type=int, default=30)
    ap.add_argument("--seed-target", type=int, default=5, help="target-source rows in the seed")
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--draws", type=int, default=50, help="random draws beside the run's own control")
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-target"))
    ap.add_argument("--source", choices=("pool", "generator"), default="pool",
                    help="candidates drawn from the pool's other rows, or written by the embedded SmolLM2 generator")
    ap.add_argument("--requests", type=int, default=12, help="generator: problem-writing requests per round")
    ap.add_argument("--rounds", type=int, default=1, help="generator: rounds")
    ap.add_argument("--solutions", type=int, default=3, help="generator: solutions per problem (the answer vote)")
    ap.add_argument("--max-tokens", type=int, default=256, help="generator: tokens per problem and per solution")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["PRISM_HOME"] = args.workspace
    from target import featurise, ingest, names, rows_of

    from core.data.store import Store
    from core.features.compute import feature_config
    from core.jobs import JobRunner
    from core.synthesis.config import SynthesisConfig
    from core.synthesis.launch import launch

    started = time.perf_counter()
    parts = rows_of(argparse.Namespace(**vars(args), planted=0))
    seed_rows, cand_rows = split(parts, args.target, args.seed_target)
    d = names(args.target)
    seed_name, cand_name = f"{args.target}-growth-seed", f"{args.target}-growth-cands"
    with Store() as store:
        ingest(store, parts, args.target)
        config = feature_config(**light_fields(args.max_length))
        featurise(store, config, args.target)  # the pool's rows: the seed and the candidates are made of them
        save(store, seed_name, seed_rows)
        save(store, cand_name, cand_rows)
        if args.source == "generator":
            return generated(store, args, config, seed_name, seed_rows, d["eval"], started)
        run = SynthesisConfig(source="pool", pool=cand_name, toward=d["eval"], pool_batch=len(cand_rows),
                              rule="paper", k=max(2, len(seed_rows) // 10))
        summary = launch(store, JobRunner(store), seed_name, run, None, config).wait()
        frame = store.candidates_frame(summary["run_id"])
        _, E = store.load_features(d["eval"], config.key(), config.dim)
        t = summary["toward"]
        cand_frame = store.samples_frame(cand_name)
        sources = dict(zip(cand_frame["id"], cand_frame["source"]))
        acc = frame[frame["reason"] == "accepted"]
        ctrl = frame[frame["control"].fillna(False).astype(bool)]
        result = {"target": args.target, "seed": {"n": len(seed_rows), "target_rows": args.seed_target},
                  "candidates": {"n": len(cand_rows), "target_rows": sum(s == args.target for *_, s in cand_rows)},
                  "eval": len(E), "features": light_fields(args.max_length), "run_id": summary["run_id"],
                  "status": summary["status"], "accepted": summary["accepted"],
                  "control_accepted": summary["control_accepted"], "rejected": summary["rejected"],
                  "accepted_target_share": round(float(np.mean([sources.get(h) == args.target
                                                                for h in acc["source_id"]])), 3) if len(acc)
                  else None,
                  "control_target_share": round(float(np.mean([sources.get(h) == args.target
                                                               for h in ctrl["source_id"]])), 3) if len(ctrl)
                  else None,
                  **t, "random_same_size": random_controls(store, config, seed_name, cand_name, frame, E,
                                                           t["threshold"], summary["accepted"], args.draws)
                  if summary["accepted"] else None}
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"{args.target}: coverage {t['coverage_before']} -> toward {t['coverage_after']} vs control "
          f"{t['coverage_control']} (accepted {result['accepted']}, target share {result['accepted_target_share']} "
          f"vs control {result['control_target_share']})", file=sys.stderr)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


def generated(store, args, config, seed_name: str, seed_rows: list, eval_name: str, started: float) -> None:
    """Targeted growth with the embedded SmolLM2 generator (llama.cpp): `synthesize SEED --toward EVAL --generator
    embedded` on the light features; the eval set's coverage by the seed, the filtered arm and the control arm."""
    from core.jobs import JobRunner
    from core.synthesis.config import SynthesisConfig
    from core.synthesis.launch import launch
    from core.synthesis.settings import GeneratorSettings

    run = SynthesisConfig(source="generator", toward=eval_name, rounds=args.rounds, requests_per_round=args.requests,
                          solutions_per_problem=args.solutions, max_problem_tokens=args.max_tokens,
                          max_solution_tokens=args.max_tokens, rule="paper", k=max(2, len(seed_rows) // 10),
                          answer_mode="exact" if args.target == "svamp" else "math")
    summary = launch(store, JobRunner(store), seed_name, run, GeneratorSettings(kind="embedded"), config).wait()
    frame = store.candidates_frame(summary["run_id"])
    t = summary.get("toward") or {}
    problems = frame[frame["problem"].notna()] if "problem" in frame else frame.iloc[:0]
    reasons = frame["reason"].value_counts().to_dict() if len(frame) else {}
    acc = frame[frame["reason"] == "accepted"]
    result = {"target": args.target, "source": "generator", "generator": "embedded:smollm2-135m-instruct (llama.cpp)",
              "seed": {"n": len(seed_rows), "target_rows": args.seed_target}, "eval_name": eval_name,
              "features": light_fields(args.max_length), "run_id": summary["run_id"], "status": summary["status"],
              "requests": args.requests * args.rounds, "candidates": len(frame), "problems": len(problems),
              "reasons": {str(k): int(v) for k, v in reasons.items()}, "accepted": summary["accepted"],
              "control_accepted": summary["control_accepted"], **t,
              "accepted_examples": [str(p)[:300] for p in acc["problem"].head(3)] if "problem" in acc else []}
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"{args.target} (generator): coverage {t.get('coverage_before')} -> toward {t.get('coverage_after')} vs "
          f"control {t.get('coverage_control')} (accepted {result['accepted']} of {len(frame)} candidates)",
          file=sys.stderr)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
