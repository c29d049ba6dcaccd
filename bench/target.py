"""Aim the data at an eval set (issue 22): targeted selection, the coverage definition, contamination, and time.

    python bench/target.py [--target gsm8k|svamp|minerva] [--pool-target 40] [--pool-other 60] [--eval 30]
                           [--planted 10] [--ks 10,20,40] [--max-length 32] [--scale 10000x1000] [--json]

Runs for several targets share one workspace (datasets TARGET-pool, TARGET-eval, TARGET-planted), so a row is
featurised once; on this loaded 2-core machine the first run (GSM8K, 220 rows to featurise) took 8 min, each other
target ~4 min more, and a run with every feature cached 20 s. README has the three targets' numbers.

Pool: `--pool-target` rows of the target source plus `--pool-other` rows of each other source (GSM8K train, SVAMP,
minerva_math); eval: `--eval` held-back rows of the target source (for GSM8K, its test split). Features: the light
config (top block, 64-wide sketch, 64 dims, `--max-length` tokens), computed once into a bench workspace.

1. Selection: the target source's share of K rows chosen by `select --toward` (greedy facility location), by plain
   diversity selection (selection.greedy), by LESS-style alignment with the eval mean gradient, and at random (mean of
   5 seeds), beside the pool's base share; and the eval set's coverage by each selection.
2. Coverage definition: coverage of the eval set by the pool's target-source rows, by its other rows, and by all of
   it, under the product's definition (median within-eval neighbour cosine), a fixed 0.85 and the mean nearest cosine.
3. Contamination: `--planted` copies of eval rows of each kind are added to the pool (exact copies, reworded copies:
   a lead-in and "How many" rephrased, as bench/dedup.py; copies with every number changed). Per signal (exact,
   normalised, MinHash, gradient, any): recall per kind and precision. Copies with other numbers are a new problem to
   the model: they count neither as right nor as wrong in the precision; the share of them each signal flags is
   reported on its own.
4. The CLI on the same workspace: `coverage ... --json` and `select ... --toward ... --json`.
5. Time at `--scale` train x eval rows: synthetic clustered unit features (1024 dims), real texts.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SHARED = ROOT.parent / "shared" / "data"
SOURCES = ("gsm8k", "svamp", "minerva")
COPY_KINDS = ("exact", "reworded", "numbers")


def light_fields(max_length: int) -> dict:
    return {"fast_blocks": 1, "sketch_dim": 64, "dim": 64, "max_length": max_length}


def rows_of(args) -> dict:
    """{"pool": [(prompt, response, source)], "eval": [(prompt, response)], "planted": [(prompt, response, kind,
    eval index)]}, seeded."""
    from dedup import numbers_changed, reworded
    from fidelity import sources

    src = sources()
    rng = random.Random("target")
    pool = []
    for s in SOURCES:
        rows = list(src[s])
        rng.shuffle(rows)
        n = args.pool_target if s == args.target else args.pool_other
        pool += [(p, r, s) for p, r in rows[:n]]
        if s == args.target:
            held = rows[n:]
    if args.target == "gsm8k":  # GSM8K's own test split is the held-back set
        held = [(r["question"], r["answer"]) for r in map(json.loads, open(SHARED / "gsm8k_test.jsonl"))]
        rng.shuffle(held)
    evals = held[:args.eval]
    planted = []
    order = rng.sample(range(len(evals)), len(evals))
    for k, kind in enumerate(COPY_KINDS):
        for j in order[k * args.planted:(k + 1) * args.planted]:
            q, a = evals[j]
            make = {"reworded": reworded, "numbers": numbers_changed}.get(kind)
            copy = (q, a) if make is None else make(q, a, rng)
            planted.append((*copy, kind, j))
    return {"pool": pool, "eval": evals, "planted": planted}


def names(target: str) -> dict[str, str]:
    """The bench's datasets for one target: runs for several targets share one workspace, and every row featurised
    once (features are kept by content)."""
    return {part: f"{target}-{part}" for part in ("pool", "eval", "planted")}


def ingest(store, parts: dict, target: str) -> None:
    from core.data.ingest import IngestReport, Sample, content_hash

    tables = {"pool": [(p, r, {"source": s}) for p, r, s in parts["pool"]],
              "eval": [(p, r, {}) for p, r in parts["eval"]],
              "planted": [(p, r, {"source": s}) for p, r, s in parts["pool"]]
              + [(p, r, {"source": "copy", "kind": k, "of": f"eval-{j}"}) for p, r, k, j in parts["planted"]]}
    for part, rows in tables.items():
        name = names(target)[part]
        if not store.has_dataset(name):
            samples = [Sample(f"{part}-{i}", p, r, content_hash(p, r), m) for i, (p, r, m) in enumerate(rows)]
            store.save_dataset(name, IngestReport(samples, [], [], "bench"), source="bench")


def featurise(store, config, target: str) -> None:
    from core.features.compute import compute_features

    for name in names(target).values():
        started = time.perf_counter()
        compute_features(store, name, config, quality=True,  # the losses too: the CLI's select reads them
                         progress=lambda d, t: print(f"\rfeatures {name} {d}/{t}", end="", file=sys.stderr))
        print(f"\rfeatures {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)


def selection(X, sources, E, ks, target) -> dict:
    from core.analysis.coverage import coverage_at, within_eval_nearest
    from core.analysis.selection import greedy, random_pick
    from core.analysis.target_selection import toward

    is_target = np.array([s == target for s in sources])
    threshold = float(np.median(within_eval_nearest(E)))
    aligned = np.argsort(-(X / np.linalg.norm(X, axis=1, keepdims=True)) @ E.mean(axis=0), kind="stable")
    out = {"base_share": round(float(is_target.mean()), 3), "threshold": round(threshold, 4), "rows": []}
    for k in ks:
        picks = {"toward": toward(X, E, k).indices, "toward_blend_0.5": toward(X, E, k, blend=0.5).indices,
                 "diversity": greedy(X, k), "mean_alignment": aligned[:k].tolist()}
        row = {"k": k}
        for name, idx in picks.items():
            row[name] = {"share": round(float(is_target[idx].mean()), 3),
                         "coverage": round(coverage_at(X[idx], E, threshold), 3)}
        rand = [random_pick(len(X), k, seed=s) for s in range(5)]
        row["random"] = {"share": round(float(np.mean([is_target[r].mean() for r in rand])), 3),
                         "coverage": round(float(np.mean([coverage_at(X[r], E, threshold) for r in rand])), 3)}
        out["rows"].append(row)
    return out


def definitions(X, sources, E, target) -> dict:
    from core.analysis.coverage import coverage, nearest_rows

    is_target = np.array([s == target for s in sources])
    out = {}
    for name, mask in (("target_rows", is_target), ("other_rows", ~is_target), ("all_rows", np.ones_like(is_target))):
        res = coverage(X[mask], E)
        sims = nearest_rows(X[mask], E)[0][:, 0]
        out[name] = {"n": int(mask.sum()), "coverage_median_rule": round(res.coverage, 3),
                     "coverage_fixed_0.85": round(float((sims >= 0.85).mean()), 3),
                     "mean_nearest_cosine": round(float(sims.mean()), 3), "threshold": round(res.threshold, 4),
                     "uncovered_clusters": len(res.uncovered_clusters)}
    return out


def contamination(store, config, parts, target: str) -> dict:
    from core.analysis.contamination import KINDS, find_contamination

    eval_ids, E = store.load_features(names(target)["eval"], config.key(), config.dim)
    ids, T = store.load_features(names(target)["planted"], config.key(), config.dim)
    frame_e = store.rows_by_id(names(target)["eval"], eval_ids)
    frame_t = store.rows_by_id(names(target)["planted"], ids)
    eval_texts = [(frame_e[i].prompt, frame_e[i].response) for i in eval_ids]
    train_texts = [(frame_t[i].prompt, frame_t[i].response) for i in ids]
    started = time.perf_counter()
    found = find_contamination(eval_texts, train_texts, E, T)
    seconds = time.perf_counter() - started
    e_index = {i: n for n, i in enumerate(eval_ids)}
    t_index = {i: n for n, i in enumerate(ids)}
    n_pool = len(parts["pool"])
    truth = {}  # (eval row, training row) -> kind of planted copy
    for c, (_, _, kind, j) in enumerate(parts["planted"]):
        truth[(e_index[f"eval-{j}"], t_index[f"planted-{n_pool + c}"])] = kind
    out = {"seconds": round(seconds, 2), "gradient_threshold": round(found.gradient_threshold, 4), "signals": {}}
    for signal in (*KINDS, "any"):
        pred = {(h.eval_index, h.train_index) for h in found.hits if signal == "any" or signal in h.signals}
        copies = {p for p, k in truth.items() if k != "numbers"}
        judged = {p for p in pred if truth.get(p) != "numbers"}
        row = {"flagged_pairs": len(pred),
               "precision": round(len(judged & copies) / len(judged), 3) if judged else None}
        for kind in COPY_KINDS:
            ks = {p for p, k in truth.items() if k == kind}
            row[f"recall_{kind}" if kind != "numbers" else "flags_numbers_changed"] = round(len(ks & pred) / len(ks), 3)
        row["recall_exact_and_reworded"] = round(len(copies & pred) / len(copies), 3)
        out["signals"][signal] = row
    false = [h for h in found.hits if (h.eval_index, h.train_index) not in truth]
    out["unplanted_hits"] = [{"eval": eval_ids[h.eval_index], "train": ids[h.train_index], "kind": h.kind,
                              "similarity": round(h.similarity, 3)} for h in false[:10]]
    sims = {k: [float(E[j] @ T[i]) for (j, i), kk in truth.items() if kk == k] for k in COPY_KINDS}
    out["median_gradient_cosine_by_kind"] = {k: round(float(np.median(v)), 3) for k, v in sims.items()}
    from core.analysis.contamination import joined, minhashes

    hashes_e = minhashes([joined(t) for t in eval_texts], found.config)
    hashes_t = minhashes([joined(t) for t in train_texts], found.config)
    jac = {k: [hashes_e[j].jaccard(hashes_t[i]) for (j, i), kk in truth.items() if kk == k] for k in COPY_KINDS}
    out["median_jaccard_by_kind"] = {k: round(float(np.median(v)), 3) for k, v in jac.items()}
    example = next((h for h in found.hits if truth.get((h.eval_index, h.train_index)) == "reworded"), None)
    if example is not None:
        out["example_reworded"] = found.to_json(eval_ids, ids, eval_texts, train_texts)[found.hits.index(example)]
    return out


def cli(workspace: str, max_length: int, k: int, target: str) -> dict:
    flags = [f"--{f.replace('_', '-')}={v}" for f, v in light_fields(max_length).items()]
    env = dict(os.environ, PRISM_HOME=workspace, PYTHONPATH=str(ROOT))
    out = {}
    d = names(target)
    for name, args in (("coverage", ["coverage", d["planted"], "--eval", d["eval"], "--no-evidence"]),
                       ("select_toward", ["select", d["pool"], "--budget", str(k), "--toward", d["eval"]])):
        started = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "core", *args, *flags, "--json"], env=env, capture_output=True,
                             text=True, timeout=900)
        if res.returncode:
            out[name] = {"error": res.stderr[-1500:]}
            continue
        got = json.loads(res.stdout)
        if name == "coverage":
            kinds: dict[str, int] = {}
            for h in got["contaminated"]:
                kinds[h["kind"]] = kinds.get(h["kind"], 0) + 1
            got = {k2: got[k2] for k2 in ("coverage", "threshold", "gradient_threshold", "contaminated_eval_rows",
                                           "contaminating_train_rows", "n_train", "n_eval")} | {
                "uncovered": len(got["uncovered"]), "uncovered_clusters": len(got["uncovered_clusters"]),
                "contaminated_by_kind": kinds, "contaminated_first": got["contaminated"][:2]}
        else:
            got = {k2: got[k2] for k2 in ("budget", "selected", "diversity", "random", "skipped_contaminated",
                                           "skipped_suspect", "seconds")}
        got["wall_seconds"] = round(time.perf_counter() - started, 1)
        out[name] = got
    return out


def scale(n: int, m: int, dim: int = 1024) -> dict:
    """coverage, contamination and select --toward at n training x m eval rows: synthetic features (rows around 200
    centres), real texts (every source's rows, then GSM8K train again with a lead-in, to n; eval: GSM8K test)."""
    from fidelity import sources

    from core.analysis.contamination import find_contamination
    from core.analysis.coverage import coverage
    from core.analysis.target_selection import toward

    src = sources()
    test = [(r["question"], r["answer"]) for r in map(json.loads, open(SHARED / "gsm8k_test.jsonl"))]
    texts = src["gsm8k"] + src["svamp"] + src["minerva"] + test[m:]
    i = 0
    while len(texts) < n:
        q, a = src["gsm8k"][i % len(src["gsm8k"])]
        texts.append((f"Once more ({i}): {q}", a))
        i += 1
    texts, eval_texts = texts[:n], (test * (m // len(test) + 1))[:m]
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    T = centres[rng.integers(0, 200, n)] + 1.2 * rng.normal(size=(n, dim)).astype(np.float32)
    E = centres[rng.integers(0, 200, m)] + 1.2 * rng.normal(size=(m, dim)).astype(np.float32)
    out = {"n": n, "m": m, "dim": dim}
    for name, fn in (("coverage", lambda: coverage(T, E)),
                     ("contamination", lambda: find_contamination(eval_texts, texts, E, T)),
                     ("toward_k100", lambda: toward(T, E, 100)),
                     ("toward_k1000", lambda: toward(T, E, 1000)),
                     ("toward_k100_blend0.5", lambda: toward(T, E, 100, blend=0.5))):
        started = time.perf_counter()
        fn()
        out[f"{name}_seconds"] = round(time.perf_counter() - started, 2)
        print(f"scale {name}: {out[f'{name}_seconds']} s", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", choices=SOURCES, default="gsm8k")
    ap.add_argument("--pool-target", type=int, default=40)
    ap.add_argument("--pool-other", type=int, default=60)
    ap.add_argument("--eval", type=int, default=30)
    ap.add_argument("--planted", type=int, default=10, help="copies of each kind")
    ap.add_argument("--ks", default="10,20,40")
    ap.add_argument("--max-length", type=int, default=32)
    ap.add_argument("--scale", default="10000x1000", help="train x eval rows for the timing ('' to skip)")
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-target"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if len(COPY_KINDS) * args.planted > args.eval:
        ap.error(f"--planted {args.planted} of each of {len(COPY_KINDS)} kinds needs --eval >= "
                 f"{len(COPY_KINDS) * args.planted} (each eval row is copied once)")
    os.environ["PRISM_HOME"] = args.workspace
    from core.data.store import Store
    from core.features.compute import feature_config

    started = time.perf_counter()
    ks = [int(k) for k in args.ks.split(",")]
    parts = rows_of(args)
    result = {"target": args.target, "pool": {s: sum(r[2] == s for r in parts["pool"]) for s in SOURCES},
              "eval": len(parts["eval"]), "planted_per_kind": args.planted, "features": light_fields(args.max_length)}
    with Store() as store:
        ingest(store, parts, args.target)
        config = feature_config(**light_fields(args.max_length))
        featurise(store, config, args.target)
        d = names(args.target)
        ids, X = store.load_features(d["pool"], config.key(), config.dim)
        meta = store.samples_frame(d["pool"]).set_index("id").loc[ids]
        _, E = store.load_features(d["eval"], config.key(), config.dim)
        result["selection"] = selection(X, meta["source"].tolist(), E, ks, args.target)
        result["definitions"] = definitions(X, meta["source"].tolist(), E, args.target)
        result["contamination"] = contamination(store, config, parts, args.target)
    if not args.skip_cli:
        result["cli"] = cli(args.workspace, args.max_length, ks[len(ks) // 2], args.target)
    if args.scale:
        n, m = (int(v) for v in args.scale.lower().split("x"))
        result["scale"] = scale(n, m)
    result["seconds"] = round(time.perf_counter() - started, 1)
    report(result)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


def report(r: dict) -> None:
    s = r["selection"]
    print(f"\ntarget {r['target']}: base share {s['base_share']}, coverage threshold {s['threshold']}",
          file=sys.stderr)
    print("  K  " + "  ".join(f"{m:>22}" for m in ("toward", "toward_blend_0.5", "diversity", "mean_alignment",
                                                   "random")) + "   (share / coverage)", file=sys.stderr)
    for row in s["rows"]:
        print(f"{row['k']:>3}  " + "  ".join(f"{row[m]['share']:>13.3f} / {row[m]['coverage']:.3f}" for m in (
            "toward", "toward_blend_0.5", "diversity", "mean_alignment", "random")), file=sys.stderr)
    for name, d in r["definitions"].items():
        print(f"coverage by {name:12} {d}", file=sys.stderr)
    print(f"contamination: gradient threshold {r['contamination']['gradient_threshold']}", file=sys.stderr)
    for signal, row in r["contamination"]["signals"].items():
        print(f"contamination {signal:10} {row}", file=sys.stderr)


if __name__ == "__main__":
    main()
