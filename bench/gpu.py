"""One prepared GPU check (issue 7): rows/s and tokens/s of forward, fast and full on CUDA in fp32 and bf16, Spearman
rho of G-Vendi bf16 vs fp32 over mixtures, and the CPU-vs-CUDA fp32 cosine row by row. Under 5 minutes, its own
timeout; also runs on a CPU (`--device cpu --n 32`) so it is checked where no GPU is.

    python bench/gpu.py [--device cuda] [--n 2048] [--timeout 280] [--json]

Rows: GSM8K test (plus SVAMP for the mixtures). fast/full/forward are timed on the same rows after a warm-up; full
mode (one backward per row) runs on the first `--full-n` rows only and is reported per row. The hours for 1M rows on
1 and 8 GPUs follow from the fast rows/s (8 GPUs = 8 independent workers, Ray Data, no communication).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def rows(n: int) -> list[tuple[str, str]]:
    gsm = [json.loads(line) for line in open(SHARED / "gsm8k_test.jsonl")]
    gsm += [json.loads(line) for line in open(SHARED / "gsm8k_train.jsonl")]
    return [(r["question"], r["answer"]) for r in gsm[:n]]


def svamp(n: int) -> list[tuple[str, str]]:
    out = [json.loads(line) for line in open(SHARED / "svamp.jsonl")][:n]
    return [(f"{r['Body'].strip()} {r['Question'].strip()}", f"{r['Equation'].strip()} = {r['Answer']:g}") for r in out]


def timed(fn):
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--full-n", type=int, default=64)
    ap.add_argument("--max-batch-tokens", type=int, default=None,
                    help="default 65536 on CUDA, the product's 4096 on a CPU (65536 took ~20 GB of RAM there)")
    ap.add_argument("--timeout", type=float, default=280.0, help="stop and report what was measured by then")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.max_batch_tokens is None:
        args.max_batch_tokens = 65536 if args.device.startswith("cuda") else 4096
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("time budget spent")))
    signal.alarm(int(args.timeout))
    result: dict = {"device": args.device, "n": args.n}
    try:
        measure(args, result)
    except TimeoutError as exc:
        result["stopped"] = str(exc)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


def measure(args, result: dict) -> None:
    import torch
    from scipy.stats import spearmanr

    from core.analysis.diversity import vendi_score
    from core.features.batches import collate
    from core.features.compute import feature_config
    from core.features.gradients import encode_all, featurize_pairs, make_featurizer, plan_batches
    from core.features.models import load_model

    dtypes = ["float32", "bfloat16"] if args.device.startswith("cuda") else ["float32"]
    loaded = load_model(device=args.device)
    tok = loaded.tokenizer
    pairs = rows(args.n)
    enc = encode_all(tok, pairs, 1024)
    tokens = sum(len(e.input_ids) for e in enc)
    result["tokens"] = tokens
    batches = [collate([enc[i] for i in b], tok.pad_token_id)
               for b in plan_batches([len(e.input_ids) for e in enc], max_batch_tokens=args.max_batch_tokens)]

    def forward():
        with torch.no_grad():
            for b in batches:
                loaded.model(input_ids=b.input_ids.to(args.device), attention_mask=b.attention_mask.to(args.device))

    forward()
    _, t = timed(forward)
    result["forward"] = {"rows_per_s": round(args.n / t, 1), "tokens_per_s": round(tokens / t)}
    feats = {}
    for dtype in dtypes:
        fast = make_featurizer(loaded.model, feature_config(dtype=dtype), tokenizer=tok)
        featurize_pairs(fast, pairs[:16], max_batch_tokens=args.max_batch_tokens)  # warm-up
        (X, _), t = timed(lambda: featurize_pairs(fast, pairs, max_batch_tokens=args.max_batch_tokens))
        feats[dtype] = X
        result[f"fast_{dtype}"] = {"rows_per_s": round(args.n / t, 1), "tokens_per_s": round(tokens / t),
                                   "over_forward": round(t / (args.n / result["forward"]["rows_per_s"]), 2)}
        full = make_featurizer(loaded.model, feature_config(mode="full", dtype=dtype), tokenizer=tok)
        full_rows = pairs[:args.full_n]  # fewer than --full-n when --n is smaller
        (_, _), t = timed(lambda: featurize_pairs(full, full_rows, batch_size=8))
        result[f"full_{dtype}"] = {"rows": len(full_rows), "rows_per_s": round(len(full_rows) / t, 2)}
        print(f"{dtype}: fast {result[f'fast_{dtype}']}, full {result[f'full_{dtype}']}", file=sys.stderr,
              flush=True)
    rows_per_s = result["fast_bfloat16" if "bfloat16" in dtypes else "fast_float32"]["rows_per_s"]
    result["hours_1m_rows"] = {"1_gpu": round(1e6 / rows_per_s / 3600, 2), "8_gpus": round(1e6 / rows_per_s / 3600 / 8, 2)}
    if "bfloat16" in feats:  # G-Vendi over mixtures of GSM8K and SVAMP: does bf16 rank them as fp32 does?
        sv = svamp(256)
        Xs = {d: featurize_pairs(make_featurizer(loaded.model, feature_config(dtype=d), tokenizer=tok), sv,
                                 max_batch_tokens=args.max_batch_tokens)[0] for d in dtypes}
        rng = np.random.default_rng(0)
        g = {d: [] for d in dtypes}
        for m in range(30):
            k = int(40 * (m % 11) / 10)
            gi, si = rng.choice(len(pairs), 40 - k, replace=False), rng.choice(len(sv), k, replace=False)
            for d in dtypes:
                g[d].append(vendi_score(np.concatenate([feats[d][gi], Xs[d][si]])))
        result["rho_bf16_fp32"] = round(float(spearmanr(g["bfloat16"], g["float32"]).statistic), 4)
    if args.device.startswith("cuda"):  # the same rows on the CPU, fp32: does the device change the feature?
        cpu = load_model(device="cpu")
        cpu_fast = make_featurizer(cpu.model, feature_config(), tokenizer=cpu.tokenizer)
        Xc, _ = featurize_pairs(cpu_fast, pairs[:32])
        cos = (Xc * feats["float32"][:32]).sum(axis=1)
        result["cpu_cuda_cosine"] = {"min": round(float(cos.min()), 6), "median": round(float(np.median(cos)), 6)}


if __name__ == "__main__":
    main()
