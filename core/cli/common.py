"""What the CLI's handlers share: progress on stderr, the feature options, one JSON object (or a line) on stdout."""
from __future__ import annotations

import argparse
import json
import sys
import time

from core.config import DEFAULT_MODEL


class ProgressPrinter:
    """A tqdm bar on a terminal; plain 'progress' lines (one per committed batch) in logs and pipes."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if sys.stderr.isatty():
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=self.label, unit="row", file=sys.stderr)
            self.bar.update(done - self.bar.n)
            return
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done * (total - done) if done else float("nan")
        print(f"progress {self.label} {done}/{total} elapsed {elapsed:.1f}s eta {eta:.1f}s", file=sys.stderr,
              flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "ProgressPrinter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def feature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help="embedded model, Hugging Face id or local path")
    p.add_argument("--mode", choices=("fast", "full"), default="fast")
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--fast-blocks", type=int, default=0, help="top blocks sketched in fast mode (0 = all)")
    p.add_argument("--sketch-dim", type=int, default=512, help="fast mode's TensorSketch width per layer group")
    p.add_argument("--batch-size", type=int, default=16)


def config_from_args(args):
    from core.features.compute import feature_config

    return feature_config(model=args.model, mode=args.mode, dim=args.dim, seed=args.seed,
                          max_length=args.max_length, fast_blocks=args.fast_blocks or None,
                          sketch_dim=args.sketch_dim)


def emit(args, obj: dict, text: str) -> None:
    print(json.dumps(obj) if getattr(args, "json", False) else text, flush=True)


def features(store, name: str, config, batch_size: int):
    from core.features.compute import compute_features

    with ProgressPrinter("features") as bar:
        return compute_features(store, name, config, batch_size=batch_size, progress=bar)
