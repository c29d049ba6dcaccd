"""What the CLI's handlers share: progress on stderr, the feature options, one JSON object (or a line) on stdout."""
from __future__ import annotations

import argparse
import json
import sys
import time

from core.config import DEFAULT_MODEL


class ProgressPrinter:
    """A tqdm bar on a terminal; plain 'progress' lines (one per committed batch) in logs and pipes."""

    def __init__(self, label: str, *, unit: str = "row"):
        self.label = label
        self.unit = unit
        self.bar = None
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        if sys.stderr.isatty():
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=self.label, unit=self.unit, unit_scale=self.unit == "B",
                                file=sys.stderr)
            self.bar.update(done - self.bar.n)
            if detail:
                self.bar.set_postfix_str(detail, refresh=False)
            return
        elapsed = time.perf_counter() - self.started
        eta = f"{elapsed / done * (total - done):.1f}s" if done else "?"
        unit = "" if self.unit == "row" else f" {self.unit}"
        print(f"progress {self.label} {done}/{total}{unit}{' ' + detail if detail else ''} elapsed {elapsed:.1f}s "
              f"eta {eta}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "ProgressPrinter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class IngestProgress(ProgressPrinter):
    """An ingest's progress(rows_done, bytes_done, bytes_total): bytes of the file give the ETA; rows are shown."""

    def __init__(self):
        super().__init__("ingest", unit="B")

    def __call__(self, rows: int, done: int, total: int) -> None:  # type: ignore[override]
        super().__call__(done, total, f"{rows} rows")


def require_dataset(store, name: str) -> None:
    """A handler's first check: an unknown dataset is a clear error (exit 2), not an empty result."""
    if not store.has_dataset(name):
        known = ", ".join(store.dataset_names()) or "none yet: ingest a file first"
        raise LookupError(f"no dataset named {name!r} in {store.path} (datasets: {known})")


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

    require_dataset(store, name)
    with ProgressPrinter("features") as bar:
        return compute_features(store, name, config, batch_size=batch_size, progress=bar)
