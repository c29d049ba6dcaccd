"""Aim the data at an eval set (issue 22): targeted selection, the coverage definition, contamination, and time.

    python bench/target.py [--target gsm8k|svamp|minerva] [--pool-target 40] [--pool-other 60] [--eval 30]
                           [--planted 10] [--ks 10,20,30,40,60] [--max-length 32] [--scale 10000x1000] [--json]

Runs for several targets share one workspace (datasets TARGET-pool, TARGET-eval, TARGET-planted), so a row is
featurised once; on this loaded 2-core machine the first run (GSM8K, 220 rows to featurise) took 8 min, each other
target ~4 min more, and a run with every feature cached 20 s. README has the three targets' numbers.

Pool: `--pool-target` rows of the target source plus `--pool-other` rows of each other source (GSM8K train, SVAMP,
minerva_math); eval: `--eval` held-back rows of the target source (for GSM8K, its test split). Features: the light
config (top block, 64-wide sketch, 64 dims, `--max-length` tokens), computed once into a bench workspace.

1. Selection: the target source's share of K rows chosen by `select --toward` (greedy facility location plus the
   depth term), by facility location alone (--depth 0), with --blend 0.5, by plain diversity selection
   (selection.greedy), by LESS-style alignment with the eval mean gradient, and at random (mean of 5 seeds), beside
   the pool's base share (0.25) and the share's ceiling (the pool's target rows / K); and the eval set's coverage by
   each selection. K: up to the pool's 40 target rows (10, 20, 30, 40), where any share up to 1 is possible; and 60,
   past them, where the ceiling is 0.67 and 2x the base share (0.5) asks for 30 of the 40 target rows.
2. Coverage definition: coverage of the eval set by the pool's target-source rows, by its other rows, and by all of
   it, under the product's definition (median within-eval neighbour cosine), a fixed 0.85 and the mean nearest cosine.
3. Contamination: `--planted` copies of eval rows of each kind are added to the pool (exact copies, reworded copies:
   a lead-in and "How many" rephrased, as bench/dedup.py; copies with every number changed). Per signal (exact,
   normalised, contained, MinHash, gradient, any), before contamination.py's numbers rule and after it (the
   detector's output): recall per kind and precision. Copies with other numbers are a new problem to the model: they
   count neither as right nor as wrong in the precision; the share of them each signal flags is reported on its own.
   Copies that were already in the data (not planted) are labelled by a rule independent of the detector (leaks(): a
   training row holds the eval row's question, its prompt's last paragraph without a "Subproblem k:" label, and its
   response, both as normalised substrings): they count as right, and their recall is reported (`recall_existing`);
   any other hit is a false positive. Unplanted hits and variants are listed with their label.
4. The CLI on the same workspace: `coverage ... --json` and `select ... --toward ... --json`.
5. Time at `--scale` train x eval rows: synthetic clustered unit features (1024 dims), real texts.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
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
                 "facility_only": toward(X, E, k, depth=0.0).indices,
                 "diversity": greedy(X, k), "mean_alignment": aligned[:k].tolist()}
        ceiling = min(1.0, float(is_target.sum()) / k)  # the best share any K rows of this pool can have
        row = {"k": k, "ceiling": round(ceiling, 3)}
        for name, idx in picks.items():
            row[name] = {"share": round(float(is_target[idx].mean()), 3),
                         "coverage": round(coverage_at(X[idx], E, threshold), 3)}
        rand = [random_pick(len(X), k, seed=s) for s in range(5)]
        row["random"] = {"share": round(float(np.mean([is_target[r].mean() for r in rand])), 3),
                         "coverage": round(float(np.mean([coverage_at(X[r], E, threshold) for r in rand])), 3)}
        row["toward_meets_2x"] = row["toward"]["share"] >= 2 * out["base_share"] - 1e-9
        row["toward_above_diversity"] = row["toward"]["share"] > row["diversity"]["share"]
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


def item_of(text: tuple[str, str]) -> tuple[str, str]:
    """An eval row's item: the question its prompt ends with (the last paragraph, a "Subproblem k:" label dropped) and
    its response, both normalised."""
    from core.analysis.contamination import normalise

    question = [p for p in re.split(r"\n\s*\n", text[0]) if p.strip()][-1:] or [""]
    return normalise(re.sub(r"^\s*Subproblem \d+:", "", question[0])), normalise(text[1])


def leaks(eval_texts: list, train_texts: list, skip: set) -> dict:
    """The bench's independent label for copies that were already in the data (not planted): a training row holds the
    eval row's item, its question and its answer both verbatim (normalised substrings of the training row's text).
    Pairs in `skip` (the planted ones) are labelled by how they were made instead."""
    from core.analysis.contamination import joined, normalise

    found = {}
    items = [item_of(t) for t in eval_texts]
    for i, t in enumerate(train_texts):
        text = normalise(joined(t))
        for j, (question, answer) in enumerate(items):
            if (j, i) not in skip and question and answer and question in text and answer in text:
                found[(j, i)] = "existing"
    return found


def contamination(store, config, parts, target: str) -> dict:
    from core.analysis.contamination import KINDS, find_contamination, joined, minhashes

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
    truth = {}  # (eval row, training row) -> kind of planted copy, or "existing" (a copy already in the data)
    for c, (_, _, kind, j) in enumerate(parts["planted"]):
        truth[(e_index[f"eval-{j}"], t_index[f"planted-{n_pool + c}"])] = kind
    truth |= leaks(eval_texts, train_texts, set(truth))
    out = {"seconds": round(seconds, 2), "gradient_threshold": round(found.gradient_threshold, 4),
           "existing_copies": sum(k == "existing" for k in truth.values()), "signals": {}}
    copies = {p for p, k in truth.items() if k != "numbers"}
    planted_copies = {p for p, k in truth.items() if k in ("exact", "reworded")}
    for stage, pairs in (("raw", found.hits + found.variants), ("final", found.hits)):
        for signal in (*KINDS, "any"):
            pred = {(h.eval_index, h.train_index) for h in pairs if signal == "any" or signal in h.signals}
            judged = {p for p in pred if truth.get(p) != "numbers"}
            row = {"flagged_pairs": len(pred),
                   "precision": round(len(judged & copies) / len(judged), 3) if judged else None}
            for kind in COPY_KINDS:
                ks = {p for p, k in truth.items() if k == kind}
                row[f"recall_{kind}" if kind != "numbers" else "flags_numbers_changed"] = round(
                    len(ks & pred) / len(ks), 3)
            row["recall_exact_and_reworded"] = round(len(planted_copies & pred) / len(planted_copies), 3)
            existing = {p for p, k in truth.items() if k == "existing"}
            row["recall_existing"] = round(len(existing & pred) / len(existing), 3) if existing else None
            out["signals"][signal if stage == "final" else f"{signal}_before_numbers_rule"] = row
    out["variants"] = len(found.variants)
    out["variants_by_label"] = {}
    for h in found.variants:
        label = truth.get((h.eval_index, h.train_index), "none")
        out["variants_by_label"][label] = out["variants_by_label"].get(label, 0) + 1

    def listed(h):
        return {"eval": eval_ids[h.eval_index], "train": ids[h.train_index], "kind": h.kind,
                "signals": list(h.signals), "similarity": round(h.similarity, 3), "jaccard": round(h.jaccard, 3),
                "label": truth.get((h.eval_index, h.train_index), "none")}
    out["unplanted_hits"] = [listed(h) for h in found.hits if truth.get((h.eval_index, h.train_index)) not in
                             ("exact", "reworded")][:10]
    out["unplanted_variants"] = [listed(h) for h in found.variants
                                 if (h.eval_index, h.train_index) not in truth][:10]
    sims = {k: [float(E[j] @ T[i]) for (j, i), kk in truth.items() if kk == k] for k in COPY_KINDS}
    out["median_gradient_cosine_by_kind"] = {k: round(float(np.median(v)), 3) for k, v in sims.items()}
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
                "contaminated_by_kind": kinds, "variants": len(got["variants"]),
                "contaminated_first": got["contaminated"][:2]}
        else:
            got = {k2: got[k2] for k2 in ("budget", "method", "selected", "diversity", "random", "skipped_contaminated",
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
    ap.add_argument("--ks", default="10,20,30,40,60",
                    help="K for the selection table: up to the pool's target rows (40), and 60 beyond them")
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
    methods = ("toward", "toward_blend_0.5", "facility_only", "diversity", "mean_alignment", "random")
    print("  K  ceil " + "  ".join(f"{m:>22}" for m in methods) + "   (share / coverage)", file=sys.stderr)
    for row in s["rows"]:
        print(f"{row['k']:>3}  {row['ceiling']:.2f} " + "  ".join(
            f"{row[m]['share']:>13.3f} / {row[m]['coverage']:.3f}" for m in methods), file=sys.stderr)
    for name, d in r["definitions"].items():
        print(f"coverage by {name:12} {d}", file=sys.stderr)
    print(f"contamination: gradient threshold {r['contamination']['gradient_threshold']}", file=sys.stderr)
    for signal, row in r["contamination"]["signals"].items():
        print(f"contamination {signal:10} {row}", file=sys.stderr)


if __name__ == "__main__":
    main()
