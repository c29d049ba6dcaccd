"""Headless CLI: python -m core {ingest,features,score,...}. JSON goes to stdout, progress and errors to stderr."""
from __future__ import annotations

import argparse
import json
import sys
import time

from .config import DEFAULT_MODEL


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


def _feature_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help="embedded model, Hugging Face id or local path")
    p.add_argument("--mode", choices=("fast", "full"), default="fast")
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--fast-blocks", type=int, default=15, help="top blocks sketched in fast mode (0 = all)")
    p.add_argument("--fast-rank", type=int, default=16, help="per-side rank of the fast mode's layer sketches")
    p.add_argument("--batch-size", type=int, default=16)


def _config(args):
    from .pipeline import feature_config

    return feature_config(model=args.model, mode=args.mode, dim=args.dim, seed=args.seed,
                          max_length=args.max_length, fast_blocks=args.fast_blocks or None,
                          fast_rank=args.fast_rank)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Prism Studio engine")
    parser.add_argument("--workspace", help="workspace folder (default: $PRISM_HOME or ./workspace)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="read a JSONL/CSV/Parquet file into the workspace")
    p.add_argument("file")
    p.add_argument("--name")
    p.add_argument("--map", dest="mapping", help="prompt=COL,response=COL[,id=COL]")
    p.add_argument("--replace", action="store_true")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("features", help="compute the missing gradient features of a dataset")
    p.add_argument("name")
    _feature_args(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("score", help="G-Vendi of a file or dataset (ingests and featurises what is missing)")
    p.add_argument("target", metavar="FILE_OR_NAME")
    _feature_args(p)
    p.add_argument("--q", type=float, default=1.0, help="order of the Vendi score (1 = Shannon)")
    p.add_argument("--map", dest="mapping")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("map", help="clusters, sparse regions and the 2-D map of a dataset (features as needed)")
    p.add_argument("name")
    _feature_args(p)
    p.add_argument("--k", type=int, help="number of clusters (default n/10)")
    p.add_argument("--rule", choices=("paper", "density"), default="paper",
                   help="sparse = clusters below the median size (paper) or the least dense half (density)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("synthesize", help="grow the sparse regions with Prismatic Synthesis (resumable)")
    p.add_argument("name")
    p.add_argument("--generator", choices=("embedded", "openai"), default="embedded")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", dest="generator_model", help="generator model name (openai) or id (embedded)")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--requests-per-round", type=int, default=8)
    p.add_argument("--problems-per-request", type=int, default=2)
    p.add_argument("--solutions-per-problem", type=int, default=3)
    p.add_argument("--max-accepted", type=int)
    p.add_argument("--max-seconds", type=float)
    p.add_argument("--max-problem-tokens", type=int, default=384)
    p.add_argument("--max-solution-tokens", type=int, default=384)
    p.add_argument("--answer-mode", choices=("math", "exact", "none"), default="math")
    p.add_argument("--request-batch", type=int, default=4, help="requests generated per committed step")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("export", help="write the grown dataset (seed + accepted synthetic rows) with provenance")
    p.add_argument("name")
    p.add_argument("--run", help="synthesis run id (default: the latest run of the dataset)")
    p.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    p.add_argument("--out", required=True)

    p = sub.add_parser("datasets", help="list the workspace's datasets")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workspace:
        import os

        os.environ["PRISM_HOME"] = args.workspace
    from .data import IngestError
    from .store import Store, WorkspaceBusy

    try:
        with Store() as store:
            return _run(args, store)
    except (IngestError, WorkspaceBusy, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: committed work is kept; run the same command again to resume", file=sys.stderr)
        return 130


def _emit(args, obj: dict, text: str) -> None:
    print(json.dumps(obj) if getattr(args, "json", False) else text, flush=True)


def _features(store, name: str, config, batch_size: int):
    from . import pipeline

    bar = ProgressPrinter("features")
    try:
        return pipeline.compute_features(store, name, config, batch_size=batch_size, progress=bar)
    finally:
        bar.close()


def _run(args, store) -> int:
    from .data import parse_mapping
    from . import pipeline

    if args.command == "ingest":
        name, summary = pipeline.ingest(store, args.file, name=args.name, mapping=parse_mapping(args.mapping),
                                        replace=args.replace)
        for bad in summary["bad_rows"]:
            print(f"line {bad['line']}: {bad['reason']}", file=sys.stderr)
        _emit(args, {"dataset": name, **summary},
              f"{name}: {summary['n']} samples ({summary['shape']}), {summary['rejected_rows']} rejected rows, "
              f"{summary['duplicates']} duplicates")
        return 0
    if args.command == "features":
        config = _config(args)
        run = _features(store, args.name, config, args.batch_size)
        _emit(args, {"dataset": args.name, **run.__dict__},
              f"{args.name}: {run.n} feature rows ({run.computed} computed, {run.cached} cached) [{run.config_key}]")
        return 0
    if args.command == "score":
        name = pipeline.resolve_dataset(store, args.target, mapping=parse_mapping(args.mapping))
        config = _config(args)
        bar = ProgressPrinter("features")
        try:
            result = pipeline.score(store, name, config, q=args.q, batch_size=args.batch_size, progress=bar)
        finally:
            bar.close()
        _emit(args, result.to_json(),
              f"{result.dataset}: G-Vendi {result.g_vendi:.3f} (n={result.n}, mode={result.mode}, d={result.dim}, "
              f"q={result.q:g}; {result.computed} computed, {result.cached} cached; "
              f"{result.rejected_rows} rejected rows)")
        return 0
    if args.command == "map":
        from .clusters import ClusterConfig
        from .gradient_map import MapConfig, build_map

        config = _config(args)
        run = _features(store, args.name, config, args.batch_size)
        gmap = build_map(store, args.name, run.config_key, config.dim,
                         cluster_config=ClusterConfig(k=args.k, seed=args.seed, rule=args.rule),
                         map_config=MapConfig(seed=args.seed),
                         stage=lambda s, f: print(f"stage {s}", file=sys.stderr, flush=True))
        out = gmap.to_json()
        _emit(args, out, f"{args.name}: n={out['n']} k={out['k']} sparse clusters {out['sparse_clusters']} "
                         f"({int(gmap.sparse_rows.sum())} rows in sparse regions, rule {gmap.rule})")
        return 0
    if args.command == "synthesize":
        from .generators import make_generator
        from .synthesis import SynthesisConfig, run_synthesis

        kwargs = {"concurrency": args.concurrency, "timeout": args.timeout} if args.generator == "openai" else {}
        generator = make_generator(store, args.generator, model=args.generator_model, base_url=args.base_url,
                                   **kwargs)  # the API key comes from PRISM_API_KEY / OPENAI_API_KEY only
        config = SynthesisConfig(rounds=args.rounds, requests_per_round=args.requests_per_round,
                                 problems_per_request=args.problems_per_request,
                                 solutions_per_problem=args.solutions_per_problem, max_accepted=args.max_accepted,
                                 max_seconds=args.max_seconds, max_problem_tokens=args.max_problem_tokens,
                                 max_solution_tokens=args.max_solution_tokens, answer_mode=args.answer_mode,
                                 seed=args.seed, request_batch=args.request_batch)
        bar = ProgressPrinter("synthesis")
        try:
            summary = run_synthesis(store, args.name, config, generator, pipeline.feature_config(), progress=bar)
        finally:
            bar.close()
        _emit(args, summary, f"{args.name}: {summary['accepted']} accepted, rejected {summary['rejected']}; "
                             f"G-Vendi {summary['g_vendi_before']:.3f} -> {summary['g_vendi_after']:.3f} "
                             f"(control {summary['g_vendi_control']:.3f}) [run {summary['run_id']}]")
        return 0
    if args.command == "export":
        from .export import export
        from .synthesis import runs_for

        run_id = args.run or next((r["run_id"] for r in runs_for(store, args.name)), None)
        n = export(store, args.name, run_id=run_id, fmt=args.format, out=args.out)
        print(f"wrote {n} rows to {args.out}" + (f" (run {run_id})" if run_id else " (no synthesis run)"),
              file=sys.stderr)
        return 0
    if args.command == "datasets":
        rows = [store.dataset_info(n) for n in store.dataset_names()]
        for r in rows:
            r.pop("report")
        _emit(args, {"datasets": rows}, "\n".join(f"{r['name']}\t{r['n']}\t{r['source']}" for r in rows) or "(none)")
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
