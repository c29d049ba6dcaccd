"""What the CLI's handlers share: progress on stderr, the feature options, one JSON object (or a line) on stdout."""
from __future__ import annotations

import argparse
import json
import math
import os
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


def int_at_least(low: int):
    """An argparse type: a whole number >= low (a count, a size, a budget), else a clear usage error (exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {low} or more, not {value}")
        return value

    parse.__name__ = f"int_at_least_{low}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def finite_float(low: float = -math.inf, high: float = math.inf, *, above: bool = False):
    """An argparse type: a finite number in [low, high] (or (low, high] with above=True); never nan or inf."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
        if value < low or (above and value == low) or value > high:
            lower = f"more than {low:g}" if above else f"{low:g} or more"
            raise argparse.ArgumentTypeError(f"must be {lower}" + (f" and at most {high:g}" if high < math.inf
                                                                   else "") + f", not {text}")
        return value

    parse.__name__ = "finite_float"
    return parse


positive_float = finite_float(0.0, above=True)


def memory_size(text: str) -> int:
    """An argparse type: a memory size (2G, 1500M, bytes), at least 64 MiB."""
    from core.features.memory import MiB, parse_size

    try:
        value = parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if value < 64 * MiB:
        raise argparse.ArgumentTypeError(f"must be at least 64M, not {text}")
    return value
non_negative_float = finite_float(0.0)
unit_float = finite_float(0.0, 1.0)


def require_dataset(store, name: str) -> None:
    """A handler's first check: an unknown dataset is a clear error (exit 2), not an empty result."""
    if not store.has_dataset(name):
        known = ", ".join(store.dataset_names()) or "none yet: ingest a file first"
        raise LookupError(f"no dataset named {name!r} in {store.path} (datasets: {known})")


def identity_args(p: argparse.ArgumentParser) -> None:
    """What an analysis and a feature run both choose of the feature identity: model, mode, seed, dtype."""
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="embedded model, local path, or a Hugging Face id: the CLI fetches a hub id that is not in "
                        "the local cache from the Hub (you typed it; HF_HUB_OFFLINE=1 forbids it). The app asks first")
    p.add_argument("--mode", choices=("fast", "full"), default="fast")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                   help="compute precision; bfloat16 on CUDA only (part of the feature's identity)")


def feature_args(p: argparse.ArgumentParser) -> None:
    identity_args(p)
    p.add_argument("--dim", type=positive_int, default=1024)
    p.add_argument("--max-length", type=positive_int, default=1024)
    p.add_argument("--fast-blocks", type=non_negative_int, default=0, help="top blocks sketched in fast mode (0 = all)")
    p.add_argument("--sketch-dim", type=positive_int, default=512,
                   help="fast mode's TensorSketch width per layer group")
    p.add_argument("--features", dest="features_set", help="use an imported feature set (import-vectors) instead")
    compute_args(p)


def compute_args(p: argparse.ArgumentParser) -> None:
    """Where and how features are computed (not part of their identity)."""
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--batch-size", type=positive_int, default=16, help="at most this many rows per batch")
    p.add_argument("--max-batch-tokens", type=positive_int, default=None,
                   help="padded tokens per batch (default: the most that fit --max-memory)")
    p.add_argument("--max-memory", type=memory_size, default=None,
                   help="memory a featuriser may use, e.g. 2G or 1500M (default: half of what is available, at "
                        "most 2G on a CPU); a job whose longest possible row cannot fit is refused before it starts")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process; ray: Ray Data workers (this machine or a cluster)")
    p.add_argument("--address", help="ray: 'auto' or ray://HOST:10001 (default: start a local Ray instance)")
    p.add_argument("--workers", type=positive_int, default=2, help="ray: model replicas")
    p.add_argument("--gpus-per-worker", type=non_negative_float, default=0.0, help="ray: GPUs per worker")
    p.add_argument("--rows-per-task", type=positive_int, default=64,
                   help="ray: rows per task (a commit each; the unit retried when a worker dies)")
    p.add_argument("--runtime-env", type=json.loads, help="ray: a runtime_env as JSON (e.g. pip packages per node)")


def options_from_args(args):
    from core.features.compute import ComputeOptions

    return ComputeOptions(engine=args.engine, device=args.device, max_batch_tokens=args.max_batch_tokens,
                          max_memory=args.max_memory,
                          batch_size=args.batch_size, address=args.address, workers=args.workers,
                          gpus_per_worker=args.gpus_per_worker, runtime_env=args.runtime_env,
                          rows_per_task=args.rows_per_task)


def config_from_args(args, store=None, dataset: str | None = None):
    """The feature config the flags describe, or an imported feature set (--features NAME) of the dataset."""
    from core.features.compute import feature_config

    if getattr(args, "features_set", None):
        from core.features.imported import imported_sets

        sets = imported_sets(store, dataset)
        if args.features_set not in sets:
            raise LookupError(f"no imported feature set {args.features_set!r} for {dataset!r} "
                              f"(imported: {', '.join(sets) or 'none'})")
        return sets[args.features_set]

    return feature_config(model=args.model, mode=args.mode, dim=args.dim, seed=args.seed,
                          max_length=args.max_length, fast_blocks=args.fast_blocks or None,
                          sketch_dim=args.sketch_dim, dtype=args.dtype)


RESULTS = None  # where results go when reserve_stdout() kept fd 1 for them alone; else sys.stdout (as it is now)


def reserve_stdout() -> None:
    """Keep stdout for the command's result: anything else written to fd 1 (Ray's raylet, a library's print, a
    child process) goes to stderr, so `--json` output always parses."""
    global RESULTS
    sys.stdout.flush()
    RESULTS = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)


def emit(args, obj: dict, text: str) -> None:
    """The result: one JSON object with --json (strict JSON: nan and inf become null), else the text; keys masked."""
    from core.synthesis.credentials import redact_reply

    out = json.dumps(clean_json(obj), allow_nan=False) if getattr(args, "json", False) else redact_reply(text)
    print(out, file=RESULTS or sys.stdout, flush=True)


def clean_json(obj):
    """obj as strict JSON can hold it: non-finite numbers as null, numpy scalars as Python ones, and every string with
    the keys in use masked (an endpoint may have echoed one into a text)."""
    import numpy as np

    from core.synthesis.credentials import redact_reply

    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, str):
        return redact_reply(obj)
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    return obj


def features(store, name: str, config, args):
    from core.features.compute import compute_features

    require_dataset(store, name)
    with ProgressPrinter("features") as bar:
        return compute_features(store, name, config, options=options_from_args(args), progress=bar, quality=True)
