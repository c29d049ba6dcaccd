"""Featurisation speed and agreement, side by side in one run (ratios, not absolute times, are the result).

    python bench/featurize.py [--n 64] [--pool-per-source 40] [--mixtures 36] [--json]

Speed, on the same N GSM8K samples with the embedded SmolLM2 on this CPU:
  forward  a plain batched no-grad forward (full logits): the floor, no gradient feature is cheaper
  fast     factored per-layer sketches of the top blocks + head (the default)
  full     exact per-sample backward + CountSketch (this project's reference)
  paper    exact per-sample backward + dense Rademacher projection generated block by block once per batch, as
           TRAK's CPU projector does; the projection is timed on a slice of the parameters and scaled up linearly
Agreement: G-Vendi of fast vs full over mixtures of GSM8K / SVAMP / minerva_math of equal size (Spearman ρ).
Memory (--memory, bench/featurize_memory.py): peak RSS and time of the real `features` CLI before (an older
commit's worktree, --before-tree) and after, interleaved, and two featurisers side by side.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SHARED = ROOT.parent / "shared" / "data"


def load_source(name: str) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in open(SHARED / name)]
    if name.startswith("gsm8k"):
        return [(r["question"], r["answer"]) for r in rows]
    if name.startswith("svamp"):
        return [(f"{r['Body'].strip()} {r['Question'].strip()}", f"{r['Equation'].strip()} = {r['Answer']:g}")
                for r in rows]
    return [(r["problem"], r["solution"]) for r in rows]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--pool-per-source", type=int, default=40)
    ap.add_argument("--mixtures", type=int, default=36)
    ap.add_argument("--mixture-size", type=int, default=30)
    ap.add_argument("--paper-fraction", type=float, default=0.01, help="share of parameters projected densely")
    ap.add_argument("--skip-agreement", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--forward-and-fast-only", action="store_true", help="speed: skip full and paper (quick check)")
    ap.add_argument("--fast-blocks", type=int, default=0, help="0 = all blocks (the default)")
    ap.add_argument("--sketch-dim", type=int, default=512)
    ap.add_argument("--cache", default=str(Path(__file__).resolve().parent / "results" / "cache"),
                    help="pool features are kept here, keyed by config, so variants reuse the full-mode pool")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--memory", action="store_true", help="peak RSS and time of the features CLI (see above)")
    ap.add_argument("--before-tree", help="--memory: a worktree of the commit to compare with")
    ap.add_argument("--repeats", type=int, default=3, help="--memory: interleaved repeats")
    args = ap.parse_args()
    if args.memory:
        from featurize_memory import report as memory_report, run_memory

        res = run_memory(args, lambda *a: print(*a, file=sys.stderr, flush=True))
        print(json.dumps(res)) if args.json else memory_report(res)
        return

    import torch

    from core.features.gradients import collate, encode_pair, make_featurizer
    from core.features.models import load_model
    from core.features.compute import feature_config

    log = (lambda *a: print(*a, file=sys.stderr, flush=True))
    loaded, load_s = timed(load_model)
    tok = loaded.tokenizer
    fast_cfg = feature_config(mode="fast", fast_blocks=args.fast_blocks or None, sketch_dim=args.sketch_dim)
    full_cfg = feature_config(mode="full")
    fast, full = (make_featurizer(loaded.model, c, tokenizer=tok) for c in (fast_cfg, full_cfg))
    pairs = load_source("gsm8k_test.jsonl")[: args.n]
    encoded = [encode_pair(tok, p, r, fast_cfg.max_length) for p, r in pairs]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    batches = [collate([encoded[i] for i in order[s:s + args.batch_size]], tok.pad_token_id)
               for s in range(0, len(order), args.batch_size)]
    tokens = sum(len(e.input_ids) for e in encoded)
    log(f"{args.n} samples, {tokens} tokens ({tokens / args.n:.0f}/sample), model load {load_s:.1f}s")

    def forward_all():
        with torch.no_grad():
            for b in batches:
                loaded.model(input_ids=b.input_ids, attention_mask=b.attention_mask)

    result = {"n": args.n, "tokens": tokens, "batch_size": args.batch_size, "fast_blocks": fast_cfg.fast_blocks,
              "sketch_dim": fast_cfg.sketch_dim, "dim": fast_cfg.dim}
    if not args.skip_speed:
        result |= speed(args, loaded, fast, full, batches, encoded, order, forward_all, log)
    if not args.skip_agreement:
        result |= agreement(args, fast, full, log)
    report(args, result)


def speed(args, loaded, fast, full, batches, encoded, order, forward_all, log):
    import torch

    from core.features.gradients import collate
    from core.features.projection import DenseRademacherProjector

    tok = loaded.tokenizer
    fast.features(batches[0])  # warm-up (allocator, kernels) for everyone
    _, forward_s = timed(forward_all)
    log(f"forward {forward_s:.1f}s")
    _, fast_s = timed(lambda: [fast.features(b) for b in batches])
    log(f"fast {fast_s:.1f}s")
    if args.forward_and_fast_only:
        return {"forward_s": forward_s, "fast_s": fast_s, "fast_over_forward": fast_s / forward_s}

    backward_s = sketch_s = 0.0
    for b in batches:
        per_sample, t = timed(lambda: full.gradients(b))
        backward_s += t
        _, t = timed(lambda: [full.projector.project(g) for g in per_sample])
        sketch_s += t
        del per_sample  # 540 MB per sample
    full_s = backward_s + sketch_s
    log(f"full {full_s:.1f}s (backward {backward_s:.1f}s + CountSketch {sketch_s:.1f}s)")

    # the paper's projection for one batch of 8 gradients, on a slice of every tensor, scaled to all parameters
    first8 = collate([encoded[i] for i in order[:8]], tok.pad_token_id)
    grads_for_paper = full.gradients(first8)
    stacked = [(name, torch.cat([g[k][1] for g in grads_for_paper])) for k, (name, _) in
               enumerate(grads_for_paper[0])]
    del grads_for_paper
    dense = DenseRademacherProjector(fast.config.dim, seed=0)
    _, slice_s = timed(lambda: dense.project(stacked, fraction=args.paper_fraction))
    del stacked
    paper_projection_s = slice_s / args.paper_fraction * (args.n / 8)
    paper_s = backward_s + paper_projection_s
    log(f"paper {paper_s:.1f}s (backward {backward_s:.1f}s + dense projection {paper_projection_s:.1f}s, "
        f"from {slice_s:.1f}s on {args.paper_fraction:.0%} of the parameters for 8 samples)")

    return {"forward_s": forward_s, "fast_s": fast_s, "full_s": full_s, "full_backward_s": backward_s,
            "full_sketch_s": sketch_s, "paper_s": paper_s, "paper_projection_s": paper_projection_s,
            "paper_extrapolated": True, "fast_over_forward": fast_s / forward_s, "paper_over_fast": paper_s / fast_s,
            "full_over_fast": full_s / fast_s}


def pool_features(featurizer, pool, args, log):
    from core.features.gradients import featurize_pairs

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"pool-{args.pool_per_source}-{featurizer.config.key()}.npy"
    if path.exists():
        return np.load(path)
    (X, _), t = timed(lambda: featurize_pairs(featurizer, pool, batch_size=args.batch_size))
    log(f"pool of {len(pool)}: {featurizer.config.mode} {t:.1f}s")
    np.save(path, X)
    return X


def agreement(args, fast, full, log):
    from scipy.stats import spearmanr

    from core.analysis.diversity import vendi_score

    rng = random.Random(0)
    sources = {"gsm8k": load_source("gsm8k_train.jsonl"), "svamp": load_source("svamp.jsonl"),
               "minerva": load_source("minerva_math.jsonl")}
    pool, labels = [], []
    for name, rows in sources.items():
        for p in rng.sample(rows, args.pool_per_source):
            pool.append(p)
            labels.append(name)
    Xf = pool_features(fast, pool, args, log)
    Xu = pool_features(full, pool, args, log)
    labels = np.array(labels)
    names = list(sources)
    mixtures = []
    for k in range(args.mixtures):
        n_sources = 1 + k % 3
        chosen = rng.sample(names, n_sources)
        weights = np.random.default_rng(k).dirichlet(np.ones(n_sources))
        counts = np.floor(weights * args.mixture_size).astype(int)
        counts[0] += args.mixture_size - counts.sum()
        idx = []
        for src, c in zip(chosen, counts):
            idx += rng.sample(list(np.flatnonzero(labels == src)), int(c))
        mixtures.append((n_sources, idx))
    gv_fast = [vendi_score(Xf[idx]) for _, idx in mixtures]
    gv_full = [vendi_score(Xu[idx]) for _, idx in mixtures]
    rho = spearmanr(gv_fast, gv_full).statistic
    by_sources = {m: {"fast": float(np.mean([g for (s, _), g in zip(mixtures, gv_fast) if s == m])),
                      "full": float(np.mean([g for (s, _), g in zip(mixtures, gv_full) if s == m]))}
                  for m in (1, 2, 3)}
    src_count = [s for s, _ in mixtures]
    return {"rho_fast_full": float(rho), "mixtures": len(mixtures), "mixture_size": args.mixture_size,
            "mean_g_vendi_by_sources": by_sources,
            "rho_sources_fast": float(spearmanr(src_count, gv_fast).statistic),
            "rho_sources_full": float(spearmanr(src_count, gv_full).statistic)}


def report(args, result):
    if args.json:
        print(json.dumps(result))
        return
    print(f"{'':10}{'seconds':>10}{'x forward':>11}{'per sample':>12}")
    if "full_s" in result:
        for key in ("forward", "fast", "full", "paper"):
            s = result[f"{key}_s"]
            print(f"{key:10}{s:10.1f}{s / result['forward_s']:11.2f}{s / args.n:12.3f}")
        print(f"fast / forward = {result['fast_over_forward']:.2f}x; paper / fast = {result['paper_over_fast']:.1f}x;"
              f" full / fast = {result['full_over_fast']:.1f}x (paper projection extrapolated from a slice)")
    if "rho_fast_full" in result:
        print(f"Spearman rho(G-Vendi fast, full) over {result['mixtures']} mixtures = {result['rho_fast_full']:.3f}")
        for m, v in result["mean_g_vendi_by_sources"].items():
            print(f"  {m} source(s): mean G-Vendi fast {v['fast']:.2f}, full {v['full']:.2f}")
        print(f"  rho(#sources, G-Vendi): fast {result['rho_sources_fast']:.3f}, full {result['rho_sources_full']:.3f}")


if __name__ == "__main__":
    main()
