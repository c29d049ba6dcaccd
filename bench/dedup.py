"""What each space calls a duplicate (issue 13): 2,000 GSM8K rows with 200 planted near-duplicates of four kinds,
found in gradient space (the product's fast features), MiniLM embedding space and by MinHash; then dedup's time and
memory at 100k rows.

    python bench/dedup.py [--n 2000] [--planted 200] [--big 100000] [--json]

Kinds (50 each, from distinct source rows): numbers changed (every number in question and answer shifted), names
changed (first names swapped for others), sentences reordered (the question's first two sentences swapped), and
reworded by a template (the question rephrased around the same facts). A planted pair is found at threshold t when
the copy's similarity to its source is >= t; precision counts every pair of rows at >= t among all rows (kNN, 10 per
row). Reported per space: precision and recall (per kind) at the default threshold and at the best-F1 threshold.
Nothing is tuned to make one space agree with another: they answer different questions.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
NAMES = ["James", "Maria", "Ahmed", "Chen", "Olga", "Kofi", "Priya", "Lucas", "Aiko", "Diego", "Fatima", "Noah"]
TEMPLATES = ["Here is a problem for you. {q}", "{q} Please work it out carefully.",
             "Consider the following situation. {q}", "A student asks: {q}"]


def numbers_changed(q: str, a: str, rng) -> tuple[str, str]:
    mapping: dict[str, str] = {}

    def swap(m):
        return mapping.setdefault(m.group(), str(int(m.group()) + rng.randint(2, 9)))
    return re.sub(r"\d+", swap, q), re.sub(r"\d+", swap, a)


def names_changed(q: str, a: str, rng) -> tuple[str, str] | None:
    found = [w for w in dict.fromkeys(re.findall(r"\b[A-Z][a-z]+\b", q)) if w not in ("How", "What", "If", "The",
                                                                                        "A", "In", "On", "Each", "She",
                                                                                        "He", "They", "It", "There")]
    if not found:
        return None
    new = rng.sample([n for n in NAMES if n not in found], len(found[:3]))
    for old, n in zip(found[:3], new):
        q, a = re.sub(rf"\b{old}\b", n, q), re.sub(rf"\b{old}\b", n, a)
    return q, a


def sentences_reordered(q: str, a: str, rng) -> tuple[str, str] | None:
    parts = re.split(r"(?<=[.!])\s+", q)
    if len(parts) < 3:
        return None
    return " ".join([parts[1], parts[0]] + parts[2:]), a


def reworded(q: str, a: str, rng) -> tuple[str, str]:
    q2 = q.replace("How many", "What is the number of").replace("How much", "What amount")
    return rng.choice(TEMPLATES).format(q=q2), a


KINDS = {"numbers": numbers_changed, "names": names_changed, "reorder": sentences_reordered, "reworded": reworded}


def build(n: int, planted: int) -> tuple[list[tuple[str, str]], list[tuple[int, int, str]]]:
    rng = random.Random("dedup")
    rows = [json.loads(line) for line in open(SHARED / "gsm8k_train.jsonl")]
    base = [(r["question"], r["answer"]) for r in rng.sample(rows, n)]
    pairs, out = [], list(base)
    per_kind = planted // len(KINDS)
    used = set()
    for kind, make in KINDS.items():
        made = 0
        for i in rng.sample(range(n), n):
            if made == per_kind or i in used:
                continue
            copy = make(*base[i], rng)
            if copy is None or copy == base[i]:
                continue
            used.add(i)
            pairs.append((i, len(out), kind))
            out.append(copy)
            made += 1
    return out, pairs


def pr(sim_pairs: dict[tuple[int, int], float], planted, t: float) -> dict:
    predicted = {p for p, s in sim_pairs.items() if s >= t}
    truth = {(min(i, j), max(i, j)) for i, j, _ in planted}
    hit = predicted & truth
    by_kind = {}
    for kind in KINDS:
        ks = {(min(i, j), max(i, j)) for i, j, k in planted if k == kind}
        by_kind[kind] = round(len(ks & predicted) / max(len(ks), 1), 3)
    precision = len(hit) / len(predicted) if predicted else 1.0
    recall = len(hit) / len(truth)
    return {"threshold": round(t, 3), "precision": round(precision, 3), "recall": round(recall, 3),
            "f1": round(2 * precision * recall / max(precision + recall, 1e-9), 3), "recall_by_kind": by_kind}


def knn_pairs(X: np.ndarray, k: int = 10) -> dict[tuple[int, int], float]:
    from core.analysis.dedup import nearest_neighbours

    nb = nearest_neighbours(X, k)
    out = {}
    for i in range(len(X)):
        for j, s in zip(nb.idx[i], nb.sims[i]):
            if j >= 0:
                key = (min(i, int(j)), max(i, int(j)))
                out[key] = max(out.get(key, -1.0), float(s))
    return out


def minhash_pairs(texts: list[str]) -> dict[tuple[int, int], float]:
    from datasketch import MinHash, MinHashLSH

    lsh, hashes = MinHashLSH(threshold=0.3, num_perm=128), []
    for i, text in enumerate(texts):
        words = re.findall(r"\w+", text.lower())
        m = MinHash(num_perm=128, seed=1)
        m.update_batch([" ".join(words[j:j + 3]).encode() for j in range(max(1, len(words) - 2))])
        lsh.insert(str(i), m)
        hashes.append(m)
    return {(min(i, int(j)), max(i, int(j))): hashes[i].jaccard(hashes[int(j)])
            for i, m in enumerate(hashes) for j in lsh.query(m) if int(j) != i}


def sweep(pairs: dict, planted, n_rows: int, thresholds=(0.80, 0.82, 0.84, 0.85, 0.86, 0.88, 0.90, 0.92, 0.94, 0.95)
          ) -> dict:
    """Per threshold: precision, recall of the copies a model learns the same from (names, reorder, reworded) and of
    the numbers-changed ones, and false pairs; plus untouched rows' best-neighbour similarity (what the default must
    clear)."""
    truth = {(min(i, j), max(i, j)): k for i, j, k in planted}
    touched = {i for i, _, _ in planted} | {j for _, j, _ in planted}
    same = [p for p in truth if truth[p] != "numbers"]
    numbers = [p for p in truth if truth[p] == "numbers"]
    rows = []
    for t in thresholds:
        predicted = {p for p, s in pairs.items() if s >= t}
        hit = predicted & set(truth)
        rows.append({"threshold": t, "precision": round(len(hit) / max(len(predicted), 1), 3),
                     "recall_same_lesson": round(sum(p in hit for p in same) / len(same), 3),
                     "recall_numbers": round(sum(p in hit for p in numbers) / max(1, len(numbers)), 3),
                     "false_pairs": len(predicted - set(truth))})
    best = np.full(n_rows, -1.0)
    for (i, j), s in pairs.items():
        best[i], best[j] = max(best[i], s), max(best[j], s)
    untouched = best[[i for i in range(n_rows) if i not in touched]]
    return {"by_threshold": rows, "untouched_best_neighbour": {
        "median": round(float(np.median(untouched)), 3), "p99": round(float(np.percentile(untouched, 99)), 3),
        "max": round(float(untouched.max()), 3)}}


def evaluate(name: str, pairs: dict, planted, default: float) -> dict:
    per_t = [pr(pairs, planted, t) for t in np.arange(0.30, 1.0001, 0.01)]
    best = max(per_t, key=lambda r: r["f1"])
    planted_sims = {k: [pairs.get((min(i, j), max(i, j)), 0.0) for i, j, kk in planted if kk == k] for k in KINDS}
    return {"default": pr(pairs, planted, default), "best": best,
            "median_similarity_by_kind": {k: round(float(np.median(v)), 3) for k, v in planted_sims.items()}}


def big(n: int) -> dict:
    """dedup of n random unit rows (with 1% planted copies) in a child process: seconds and peak RSS."""
    code = (f"import sys, time, json, resource; sys.path.insert(0, {str(ROOT)!r})\n"
            "import numpy as np\nfrom core.analysis.dedup import find_duplicates\n"
            f"rng = np.random.default_rng(0); X = rng.normal(size=({n}, 1024)).astype(np.float32)\n"
            f"k = {n} // 100; X[-k:] = X[:k] + 0.01 * rng.normal(size=(k, 1024)).astype(np.float32)\n"
            "t = time.perf_counter(); r = find_duplicates(X, 0.95); s = time.perf_counter() - t\n"
            "print(json.dumps({'n': len(X), 'seconds': round(s, 1), 'flagged': int(r.flagged.sum()), "
            "'exact': r.exact, 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    return json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else {"error": res.stderr[-500:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--planted", type=int, default=200)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-dedup"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ["PRISM_HOME"] = args.workspace
    from core.analysis.dedup import DEFAULT_THRESHOLD
    from core.data.ingest import IngestReport, Sample, content_hash
    from core.data.store import Store
    from core.features.compute import compute_features, feature_config
    from core.features.embeddings import embed_texts

    rows, planted = build(args.n, args.planted)
    result = {"n": len(rows), "planted": len(planted), "kinds": {k: sum(p[2] == k for p in planted) for k in KINDS}}
    with Store() as store:
        if not store.has_dataset("dedup"):
            samples = [Sample(str(i), q, a, content_hash(q, a), {}) for i, (q, a) in enumerate(rows)]
            store.save_dataset("dedup", IngestReport(samples, [], [], "bench"), source="bench")
        config = feature_config()
        compute_features(store, "dedup", config, progress=lambda d, t: print(f"\rfeatures {d}/{t}", end="",
                                                                                file=sys.stderr))
        print(file=sys.stderr)
        ids, X = store.load_features("dedup", config.key(), config.dim)
        X = X[np.argsort([int(i) for i in ids])]
    texts = [q + "\n" + a for q, a in rows]
    started = time.perf_counter()
    gradient_pairs = knn_pairs(X)
    result["gradient"] = evaluate("gradient", gradient_pairs, planted, DEFAULT_THRESHOLD)
    result["gradient"]["sweep"] = sweep(gradient_pairs, planted, len(rows))
    result["gradient"]["dedup_seconds"] = round(time.perf_counter() - started, 2)
    result["minilm"] = evaluate("minilm", knn_pairs(embed_texts(texts)), planted, DEFAULT_THRESHOLD)
    result["minhash"] = evaluate("minhash", minhash_pairs(texts), planted, 0.8)
    for space in ("gradient", "minilm", "minhash"):
        r = result[space]
        print(f"{space:8} default {r['default']}\n         best    {r['best']}\n         median sim by kind "
              f"{r['median_similarity_by_kind']}", file=sys.stderr)
    if args.big:
        result["at_scale"] = big(args.big)
        print(f"dedup at {args.big}: {result['at_scale']}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
