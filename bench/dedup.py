"""What each space calls a duplicate (issue 13): 2,000 GSM8K rows with 200 planted near-duplicates of four kinds,
found in gradient space (the product's fast features), MiniLM embedding space and by MinHash; then dedup's time,
memory and recall at scale (`--big`, default 100k rows; `--big 1000000 --scale-only` for the 1M run alone).

    python bench/dedup.py [--n 2000] [--planted 200] [--big 100000] [--subset 100000] [--scale-only] [--json]

At scale (ScaleData: clustered unit rows, 1% planted copies at cosine 0.86-0.99 to a random earlier row), a child
process holds the rows as the product's 1M path does (float16 unit rows past 250k) and times find_duplicates at the
default threshold; it reports peak RSS, the planted pairs it grouped, and recall against exact search (IndexFlatIP)
on a `--subset`-row subset holding every planted pair: of the pairs exact search finds at the threshold there, the
share the scale run put in one group.

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


class ScaleData:
    """n unit rows in 1024 dims (chunk by chunk, each chunk seeded by its start): rows around n/400 centres (spread
    0.7-1.5: neighbours in a cluster at cosine ~0.3-0.67, like untouched GSM8K rows' 0.55 median) and 5% rows unlike
    anything, then 1% planted copies (the last rows), each of a random earlier row at a cosine drawn from 0.86-0.99
    (above the default threshold 0.85)."""

    CHUNK = 50_000

    def __init__(self, n: int, dim: int = 1024, seed: int = 0):
        self.n, self.dim, self.seed = n, dim, seed
        rng = np.random.default_rng(seed)
        self.copies = n // 100
        self.base = n - self.copies
        self.n_cent = max(50, n // 400)
        self.cent = rng.standard_normal((self.n_cent, dim), dtype=np.float32)
        self.cent /= np.linalg.norm(self.cent, axis=1, keepdims=True)
        w = rng.lognormal(0, 1.0, self.n_cent)
        self.w = w / w.sum()
        self.spread = rng.uniform(0.7, 1.5, self.n_cent).astype(np.float32)
        self.sources = np.sort(rng.choice(self.base, self.copies, replace=False))
        self.cosine = rng.uniform(0.86, 0.99, self.copies)
        self._source_rows = None

    def _base_chunk(self, start: int) -> np.ndarray:
        r = np.random.default_rng([self.seed, start])
        m, d = min(self.CHUNK, self.base - start), self.dim
        noise = r.standard_normal((m, d), dtype=np.float32) / np.float32(np.sqrt(d))
        c = r.choice(self.n_cent, m, p=self.w)
        x = self.cent[c] + self.spread[c, None] * noise
        bg = r.random(m) < 0.05
        x[bg] = noise[bg]
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def _copy_rows(self, lo: int, hi: int) -> np.ndarray:
        """Copies lo..hi (0-based among the copies)."""
        if self._source_rows is None:
            src = self.sources
            self._source_rows = np.concatenate([
                self._base_chunk(s)[src[(src >= s) & (src < s + self.CHUNK)] - s]
                for s in range(0, self.base, self.CHUNK)])
        r = np.random.default_rng([self.seed, 1, lo, 1])  # the base chunks are seeded by [seed, start]
        noise = r.standard_normal((hi - lo, self.dim), dtype=np.float32) / np.float32(np.sqrt(self.dim))
        scale = np.sqrt(1.0 / self.cosine[lo:hi] ** 2 - 1.0).astype(np.float32)  # cos(x, x + s·g) ~ 1/sqrt(1+s²)
        x = self._source_rows[lo:hi] + scale[:, None] * noise
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def chunks(self):
        for start in range(0, self.base, self.CHUNK):
            yield self._base_chunk(start)
        for lo in range(0, self.copies, self.CHUNK):
            yield self._copy_rows(lo, min(lo + self.CHUNK, self.copies))

    def planted_pairs(self) -> np.ndarray:
        return np.stack([self.sources, self.base + np.arange(self.copies)], axis=1)


def big_child(n: int, subset: int, threshold: float) -> dict:
    """find_duplicates on n rows held as the product's 1M path holds them (float16 unit rows past
    neighbours.HALF_ROWS): seconds and peak RSS; then recall of the planted copies, at n and against exact search
    (faiss IndexFlatIP over the same stored rows) on a `subset`-row subset holding every planted pair."""
    import faiss

    from core.analysis.dedup import NEIGHBOURS, find_duplicates
    from core.analysis.neighbours import HALF_ROWS, fill_half_rows

    data = ScaleData(n)
    t = time.perf_counter()
    if n > HALF_ROWS:
        X = fill_half_rows(data.chunks(), n, data.dim)
    else:
        X = np.concatenate(list(data.chunks()))
    hold_s = time.perf_counter() - t
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    r = find_duplicates(X, threshold)
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    label = np.arange(n)
    for g, rows in enumerate(r.groups):
        label[rows] = n + g
    pairs = data.planted_pairs()
    same = label[pairs[:, 0]] == label[pairs[:, 1]]
    out = {"n": n, "storage": str(X.dtype), "threshold": threshold, "seconds": round(seconds, 1),
           "hold_data_s": round(hold_s, 1), "exact": r.exact, "flagged": int(r.flagged.sum()),
           "groups": len(r.groups), "planted": len(pairs), "recall_planted": round(float(same.mean()), 4),
           "rss_after_data_mb": round(rss_data), "peak_rss_mb": round(peak), "peak_rss_gb": round(peak / 1024, 2)}
    if subset:
        # the subset: every planted pair (sources and copies) and random other rows, up to `subset` rows
        rng = np.random.default_rng(1)
        planted_rows = np.unique(pairs)
        others = np.setdiff1d(np.arange(n), planted_rows)
        pick = np.sort(np.concatenate([planted_rows, rng.choice(others, max(0, subset - len(planted_rows)),
                                                                 replace=False)]))[:max(subset, len(planted_rows))]
        t = time.perf_counter()
        S = np.empty((len(pick), X.shape[1]), np.float32)
        for a in range(0, len(pick), 50_000):
            S[a:a + 50_000] = X[pick[a:a + 50_000]]
        S /= np.linalg.norm(S, axis=1, keepdims=True)
        index = faiss.IndexFlatIP(S.shape[1])
        index.add(S)
        sims, idx = index.search(S, NEIGHBOURS + 1)
        del S, index
        # exact pairs at the threshold among the subset's rows (each row's 10 nearest, itself left out, as dedup)
        rows = np.repeat(np.arange(len(pick)), NEIGHBOURS + 1)
        cols, ss = idx.reshape(-1), sims.reshape(-1)
        keep = (cols >= 0) & (cols != rows) & (ss >= threshold)
        a, b = pick[rows[keep]], pick[cols[keep]]
        exact_pairs = {(min(i, j), max(i, j)) for i, j in zip(a.tolist(), b.tolist())}
        planted_set = {(int(i), int(j)) for i, j in pairs}
        exact_planted = exact_pairs & planted_set
        found = [p for p in exact_planted if label[p[0]] == label[p[1]]]
        found_all = [p for p in exact_pairs if label[p[0]] == label[p[1]]]
        out["vs_exact_subset"] = {
            "rows": len(pick), "exact_pairs": len(exact_pairs), "exact_planted_pairs": len(exact_planted),
            "recall_planted": round(len(found) / max(len(exact_planted), 1), 4),
            "recall_all_pairs": round(len(found_all) / max(len(exact_pairs), 1), 4),
            "seconds": round(time.perf_counter() - t, 1)}
    return out


def big(n: int, subset: int = 100_000, threshold: float = 0.85) -> dict:
    """big_child in a child process (its own peak RSS)."""
    res = subprocess.run([sys.executable, __file__, "--big-child", str(n), "--subset", str(subset),
                          "--threshold", str(threshold)], capture_output=True, text=True, timeout=7200)
    return json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else {"error": res.stderr[-2000:]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--planted", type=int, default=200)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--subset", type=int, default=100_000, help="rows of the exact-search subset at scale")
    ap.add_argument("--threshold", type=float, default=None, help="threshold at scale (default: the product's)")
    ap.add_argument("--scale-only", action="store_true", help="only the run at --big rows (no GSM8K features)")
    ap.add_argument("--big-child", type=int)
    ap.add_argument("--workspace", default=os.path.join(tempfile.gettempdir(), "prism-bench-dedup"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from core.analysis.dedup import DEFAULT_THRESHOLD

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    if args.big_child:
        print(json.dumps(big_child(args.big_child, args.subset, threshold)))
        return
    if args.scale_only:
        result = {"at_scale": big(args.big, args.subset, threshold)}
        print(f"dedup at {args.big}: {result['at_scale']}", file=sys.stderr)
        print(json.dumps(result))
        return
    os.environ["PRISM_HOME"] = args.workspace
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
        result["at_scale"] = big(args.big, args.subset, threshold)
        print(f"dedup at {args.big}: {result['at_scale']}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
