"""Does fast mode track the full gradient on every kind of text? Agreement of G-Vendi per family of mixtures.

    python bench/fidelity.py [--fast VARIANT ...] [--families all] [--json]

Families (from ../shared/data, each >= 24 mixtures of n = 40, seeded):
  sources         GSM8K / SVAMP / minerva_math in Dirichlet proportions (1-3 sources per mixture)
  length-gsm8k    GSM8K short answers ("The answer is N.") vs GSM8K full rationales, long share 0, 0.1, ..., 1
  length-minerva  minerva_math boxed answer alone vs its full LaTeX solution, long share 0 ... 1
  length-cross    SVAMP equation answers vs minerva_math full solutions, long share 0 ... 1
  within-gsm8k    GSM8K alone, only the number of distinct topics varies (1-8 of 8 TF-IDF k-means topics)

Scored by: `full` (the product's full mode: exact per-sample gradient of every parameter, CountSketch to 1024),
`ref` (the same exact gradients under an independent projection: CountSketch to 4096 with another seed; computed in
the same backward as full), and each fast variant. Per family: Spearman rho and the median ratio of G-Vendi for
fast vs full, full vs ref, fast vs ref. Cost: seconds of each fast variant / a plain batched no-grad forward on the
same 32 GSM8K rows, interleaved repeats, median.

Vectors are cached per variant and row content in bench/results/fidelity/ (a re-run or a new variant only computes
what is missing; kill it at any time).
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SHARED = ROOT.parent / "shared" / "data"
CACHE = Path(__file__).resolve().parent / "results" / "fidelity"
MIXTURE_N = 40
FAMILIES = ("sources", "length-gsm8k", "length-minerva", "length-cross", "within-gsm8k")

# Fast variants by name: FeatureConfig overrides of today's fast mode.
VARIANTS = {
    "default": {},
    "sd256": {"sketch_dim": 256},
    "sd1024": {"sketch_dim": 1024},
    "top15-sd512": {"fast_blocks": 15},
}
# The Kronecker sketches this issue started from (top 15 blocks + head, rank 16 = "before"), computed by the code of
# that time (commit 81eb723) into legacy-NAME.npz by bench/legacy_fast.py; read here with --legacy NAME.
LEGACY = ("before", "kron-top15-r64", "kron-all-r16")


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


# ---- data ------------------------------------------------------------------------------------------------------

def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in open(SHARED / name)]


def _gsm8k_final(answer: str) -> str:
    return answer.rsplit("####", 1)[-1].strip()


def _boxed(solution: str) -> str | None:
    """The last \\boxed{...} of a solution, braces balanced."""
    start = solution.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(solution)):
        depth += {"{": 1, "}": -1}.get(solution[j], 0)
        if depth == 0:
            return solution[start:j + 1]
    return None


def sources() -> dict[str, list[tuple[str, str]]]:
    gsm = _jsonl("gsm8k_train.jsonl")
    svamp = _jsonl("svamp.jsonl")
    minerva = [r for r in _jsonl("minerva_math.jsonl") if _boxed(r["solution"])]
    return {
        "gsm8k": [(r["question"], r["answer"]) for r in gsm],
        "gsm8k-short": [(r["question"], f"The answer is {_gsm8k_final(r['answer'])}.") for r in gsm],
        "svamp": [(f"{r['Body'].strip()} {r['Question'].strip()}", f"{r['Equation'].strip()} = {r['Answer']:g}")
                  for r in svamp],
        "minerva": [(r["problem"], r["solution"]) for r in minerva],
        "minerva-short": [(r["problem"], _boxed(r["solution"])) for r in minerva],
    }


def gsm8k_topics(rows: list[tuple[str, str]], k: int = 8, seed: int = 0) -> np.ndarray:
    """Topic of each GSM8K question: k-means on TF-IDF of the question text (a stand-in for problem templates)."""
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    X = TfidfVectorizer(stop_words="english", min_df=3, max_features=5000).fit_transform([q for q, _ in rows])
    return KMeans(k, n_init=4, random_state=seed).fit_predict(X)


def families(which: list[str]) -> dict[str, dict]:
    """{family: {"rows": [(prompt, response)], "mixtures": [(label, [row index, ...])]}} — seeded, deterministic."""
    src = sources()
    out = {}
    for fam in which:
        rng = random.Random(f"fidelity:{fam}")
        if fam == "sources":
            names = ["gsm8k", "svamp", "minerva"]
            pool = {s: rng.sample(range(len(src[s])), 60) for s in names}
            rows, index = [], {}
            for s in names:
                index[s] = list(range(len(rows), len(rows) + 60))
                rows += [src[s][i] for i in pool[s]]
            mixtures = []
            for m in range(30):
                chosen = rng.sample(names, 1 + m % 3)
                w = np.random.default_rng(m).dirichlet(np.ones(len(chosen)))
                counts = np.floor(w * MIXTURE_N).astype(int)
                counts[0] += MIXTURE_N - counts.sum()
                idx = [i for s, c in zip(chosen, counts) for i in rng.sample(index[s], int(c))]
                mixtures.append(("+".join(f"{s}:{c}" for s, c in zip(chosen, counts)), idx))
        elif fam.startswith("length-"):
            short, long_ = {"length-gsm8k": ("gsm8k-short", "gsm8k"), "length-minerva": ("minerva-short", "minerva"),
                            "length-cross": ("svamp", "minerva")}[fam]
            n_pool = 60
            picks = rng.sample(range(min(len(src[short]), len(src[long_]))), 2 * n_pool)
            rows = [src[short][i] for i in picks[:n_pool]] + [src[long_][i] for i in picks[n_pool:]]
            short_idx, long_idx = list(range(n_pool)), list(range(n_pool, 2 * n_pool))
            mixtures = []
            for share10 in range(11):
                for draw in range(3):
                    n_long = round(MIXTURE_N * share10 / 10)
                    idx = rng.sample(long_idx, n_long) + rng.sample(short_idx, MIXTURE_N - n_long)
                    mixtures.append((f"long {share10 / 10:.1f} #{draw}", idx))
        elif fam == "within-gsm8k":
            gsm = src["gsm8k"]
            candidates = rng.sample(range(len(gsm)), 3000)
            topics = gsm8k_topics([gsm[i] for i in candidates])
            rows, by_topic = [], []
            for t in range(8):
                members = [candidates[j] for j in np.flatnonzero(topics == t)]
                take = rng.sample(members, 40)
                by_topic.append(list(range(len(rows), len(rows) + 40)))
                rows += [gsm[i] for i in take]
            mixtures = []
            for m in range(1, 9):
                for draw in range(3):
                    chosen = rng.sample(range(8), m)
                    per = [MIXTURE_N // m + (1 if j < MIXTURE_N % m else 0) for j in range(m)]
                    idx = [i for t, c in zip(chosen, per) for i in rng.sample(by_topic[t], c)]
                    mixtures.append((f"{m} topics #{draw}", idx))
        else:
            raise SystemExit(f"unknown family {fam!r}: use {', '.join(FAMILIES)}")
        out[fam] = {"rows": rows, "mixtures": mixtures}
    return out


# ---- cached vectors ----------------------------------------------------------------------------------------------

class VectorCache:
    """content hash -> vector for one variant, in one .npz rewritten atomically after every batch."""

    def __init__(self, name: str):
        self.path = CACHE / f"{name}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            data = np.load(self.path)
            self.vectors = dict(zip(data["hashes"].tolist(), data["X"]))

    def missing(self, hashes: list[str]) -> list[str]:
        return [h for h in dict.fromkeys(hashes) if h not in self.vectors]

    def add(self, hashes: list[str], X: np.ndarray) -> None:
        self.vectors.update(zip(hashes, X))
        CACHE.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=CACHE, prefix=".tmp-", suffix=".npz")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, hashes=np.array(list(self.vectors)), X=np.stack(list(self.vectors.values())))
        os.replace(tmp, self.path)

    def matrix(self, hashes: list[str]) -> np.ndarray:
        return np.stack([self.vectors[h] for h in hashes])


def _hash(pair: tuple[str, str]) -> str:
    from core.data.ingest import content_hash

    return content_hash(*pair)


def compute_full_and_ref(loaded, rows: list[tuple[str, str]], *, batch: int = 4) -> tuple[VectorCache, VectorCache]:
    """The product's full mode and the independent reference from the same per-sample backward."""
    from core.features.compute import feature_config
    from core.features.gradients import collate, encode_pair, make_featurizer
    from core.features.projection import CountSketchProjector

    cfg = feature_config(mode="full")
    full = make_featurizer(loaded.model, cfg, tokenizer=loaded.tokenizer)
    ref_projector = CountSketchProjector(4096, seed=1001)
    full_cache, ref_cache = VectorCache(f"full-{cfg.key()}"), VectorCache(f"ref-cs4096-s1001-{cfg.key()}")
    hashes = [_hash(r) for r in rows]
    by_hash = dict(zip(hashes, rows))
    todo = sorted(set(full_cache.missing(hashes)) | set(ref_cache.missing(hashes)))
    started = time.perf_counter()
    for s in range(0, len(todo), batch):
        chunk = todo[s:s + batch]
        enc = [encode_pair(loaded.tokenizer, *by_hash[h], cfg.max_length) for h in chunk]
        grads = full.gradients(collate(enc, loaded.tokenizer.pad_token_id))
        X_full = np.concatenate([_unit(full.projector.project(g)) for g in grads])
        X_ref = np.concatenate([_unit(ref_projector.project(g)) for g in grads])
        del grads
        full_cache.add(chunk, X_full)
        ref_cache.add(chunk, X_ref)
        done = s + len(chunk)
        rate = (time.perf_counter() - started) / done
        log(f"full+ref {done}/{len(todo)} ({rate:.1f} s/row, ~{rate * (len(todo) - done) / 60:.0f} min left)")
    return full_cache, ref_cache


def _unit(x) -> np.ndarray:
    x = x.detach().double().numpy()
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def fast_config(variant: str):
    from core.features.compute import feature_config

    return feature_config(mode="fast", **VARIANTS[variant])


def compute_fast(loaded, rows: list[tuple[str, str]], variant: str) -> VectorCache:
    from core.features.gradients import featurize_pairs, make_featurizer

    cfg = fast_config(variant)
    cache = VectorCache(f"fast-{cfg.key()}")
    hashes = [_hash(r) for r in rows]
    todo = cache.missing(hashes)
    if todo:
        by_hash = dict(zip(hashes, rows))
        feat = make_featurizer(loaded.model, cfg, tokenizer=loaded.tokenizer)
        for s in range(0, len(todo), 64):
            chunk = todo[s:s + 64]
            X, _ = featurize_pairs(feat, [by_hash[h] for h in chunk])
            cache.add(chunk, X)
            log(f"fast {variant} {s + len(chunk)}/{len(todo)}")
    return cache


# ---- agreement and cost ------------------------------------------------------------------------------------------

def agreement(a: list[float], b: list[float]) -> dict:
    from scipy.stats import spearmanr

    return {"rho": float(spearmanr(a, b).statistic), "median_ratio": float(np.median(np.array(a) / np.array(b)))}


def score_family(fam: dict, caches: dict[str, VectorCache]) -> dict:
    from core.analysis.diversity import vendi_score

    hashes = [_hash(r) for r in fam["rows"]]
    gv = {name: [vendi_score(c.matrix([hashes[i] for i in idx])) for _, idx in fam["mixtures"]]
          for name, c in caches.items()}
    out = {"mixtures": len(fam["mixtures"]), "mean_g_vendi": {k: float(np.mean(v)) for k, v in gv.items()},
           "full_vs_ref": agreement(gv["full"], gv["ref"])}
    for name in caches:
        if name not in ("full", "ref"):
            out[name] = {"vs_full": agreement(gv[name], gv["full"]), "vs_ref": agreement(gv[name], gv["ref"])}
    return out


def cost(loaded, variants: list[str], *, n: int = 32, repeats: int = 3) -> dict:
    """Seconds of each fast variant / a plain batched no-grad forward (full logits), interleaved, median."""
    import torch

    from core.features.gradients import collate, encode_pair, make_featurizer

    tok = loaded.tokenizer
    pairs = sources()["gsm8k"][:n]
    enc = sorted((encode_pair(tok, p, r, 1024) for p, r in pairs), key=lambda e: len(e.input_ids))
    batches = [collate(enc[s:s + 16], tok.pad_token_id) for s in range(0, n, 16)]
    feats = {v: make_featurizer(loaded.model, fast_config(v), tokenizer=tok) for v in variants}

    def forward():
        with torch.no_grad():
            for b in batches:
                loaded.model(input_ids=b.input_ids, attention_mask=b.attention_mask)

    runs = {"forward": forward} | {v: (lambda f=f: [f.features(b) for b in batches]) for v, f in feats.items()}
    for fn in runs.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for k, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    fwd = np.median(times["forward"])
    return {"n": n, "tokens": sum(len(e.input_ids) for e in enc), "forward_s": float(fwd),
            **{f"{v}_over_forward": float(np.median(times[v]) / fwd) for v in variants}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast", nargs="*", default=["default"], help=f"variants: {', '.join(VARIANTS)}")
    ap.add_argument("--legacy", nargs="*", default=[], help=f"cached pre-change variants: {', '.join(LEGACY)}")
    ap.add_argument("--families", nargs="*", default=list(FAMILIES))
    ap.add_argument("--skip-cost", action="store_true")
    ap.add_argument("--full-only", action="store_true", help="only compute (and cache) full + ref")
    ap.add_argument("--cost-only", action="store_true", help="only the cost of each --fast variant vs a forward")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from core.features.models import load_model

    loaded = load_model()
    if args.cost_only:
        result = {"cost": cost(loaded, args.fast)}
        print(json.dumps(result) if args.json else result)
        return
    fams = families(args.families)
    all_rows = list({_hash(r): r for f in fams.values() for r in f["rows"]}.values())
    log(f"{len(all_rows)} distinct rows over {len(fams)} families")
    full_cache, ref_cache = compute_full_and_ref(loaded, all_rows)
    if args.full_only:
        return
    caches = {"full": full_cache, "ref": ref_cache}
    for v in args.legacy:
        caches[v] = VectorCache(f"legacy-{v}")
        if caches[v].missing([_hash(r) for r in all_rows]):
            raise SystemExit(f"legacy-{v} is incomplete: run bench/legacy_fast.py first")
    for v in args.fast:
        caches[v] = compute_fast(loaded, all_rows, v)
    result = {"families": {name: score_family(f, caches) for name, f in fams.items()}, "variants":
              {v: fast_config(v).identity() for v in args.fast}}
    if not args.skip_cost:
        result["cost"] = cost(loaded, args.fast)
    if args.json:
        print(json.dumps(result))
        return
    for name, r in result["families"].items():
        print(f"{name:15} ({r['mixtures']} mixtures)  full vs ref: rho {r['full_vs_ref']['rho']:.3f} "
              f"ratio {r['full_vs_ref']['median_ratio']:.3f}")
        for v in args.legacy + args.fast:
            a, b = r[v]["vs_full"], r[v]["vs_ref"]
            print(f"   {v:18} vs full: rho {a['rho']:.3f} ratio {a['median_ratio']:.3f} | vs ref: rho {b['rho']:.3f} "
                  f"ratio {b['median_ratio']:.3f}")
    if "cost" in result:
        print("cost / forward:", {k: round(v, 2) for k, v in result["cost"].items() if k.endswith("_over_forward")})


if __name__ == "__main__":
    main()
