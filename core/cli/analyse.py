"""Subcommands for what the app's Analyse and Load demo buttons do: analyse (features, baselines, clusters, map and
summaries, resumable) and demo (ingest the demo; analysed in place when the shipped features fit the options)."""
from __future__ import annotations

import sys
import time

from core.analysis.sparsity import DEFAULT_RULE, RULES
from core.cli.common import compute_args, emit, options_from_args, require_dataset
from core.config import DEFAULT_MODEL


def register(sub) -> None:
    p = sub.add_parser("analyse", help="the app's Analyse: features, G-Vendi, baselines, clusters, map (resumable)")
    p.add_argument("name")
    analysis_args(p)
    p.set_defaults(handler=analyse)
    p = sub.add_parser("demo", help="the app's Load demo: ingest the demo, analysed at once when its shipped "
                                    "features fit the options (--analyse: compute them when they do not)")
    analysis_args(p)
    p.add_argument("--analyse", action="store_true", help="analyse the demo when nothing ships for these options")
    p.set_defaults(handler=demo)


def analysis_args(p) -> None:
    p.add_argument("--model", default=DEFAULT_MODEL, help="embedded model, Hugging Face id or local path")
    p.add_argument("--mode", choices=("fast", "full"), default="fast")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, help="number of clusters (default n/10)")
    p.add_argument("--rule", choices=RULES, default=DEFAULT_RULE)
    p.add_argument("--all-rows", action="store_true", help="include excluded rows (default: the kept rows)")
    compute_args(p)
    p.add_argument("--json", action="store_true")


def options(args):
    from core.analysis.analyse import AnalysisOptions

    return AnalysisOptions(model=args.model, mode=args.mode, dtype=args.dtype, seed=args.seed, k=args.k,
                           rule=args.rule, view="all" if args.all_rows else "kept", compute=options_from_args(args))


class StderrProgress:
    """What run_analysis reports to a job, printed on stderr: stage changes, and each step of ten percent."""

    def __init__(self) -> None:
        self.stage, self.shown = None, -1

    def progress(self, done: int, total: int, *, stage: str | None = None, message: str | None = None) -> None:
        step = int(10 * done / max(total, 1))
        if (stage and stage != self.stage) or step != self.shown or message:
            self.stage, self.shown = stage or self.stage, step
            print(f"{self.stage}: {done}/{total}" + (f" ({message})" if message else ""), file=sys.stderr, flush=True)

    def cancelled(self) -> bool:
        return False

    def check_cancel(self) -> None:
        pass


def analyse(args, store) -> int:
    from core.analysis.analyse import run_analysis

    require_dataset(store, args.name)
    started = time.perf_counter()
    out = {"dataset": args.name, **run_analysis(store, args.name, options(args), ctx=StderrProgress()),
           "seconds": round(time.perf_counter() - started, 2)}
    emit(args, out, f"{args.name}: G-Vendi {out['g_vendi']:.2f} (n={out['n']}, k={out['k']}, "
                    f"{out['sparse_clusters']} sparse clusters) in {out['seconds']:.1f}s")
    return 0


def demo(args, store) -> int:
    from core.analysis.analyse import run_analysis
    from core.analysis.demo import load_demo

    started = time.perf_counter()
    opts = options(args)
    out = load_demo(store, opts)
    if not out["analysed"] and args.analyse:
        out.update(run_analysis(store, out["dataset"], opts, ctx=StderrProgress()), analysed=True)
    out["seconds"] = round(time.perf_counter() - started, 2)
    how = "from the shipped features" if out["shipped"] else ("computed" if out["analysed"] else "not analysed "
                                                                "(no shipped features fit these options)")
    emit(args, out, f"{out['dataset']}: loaded, {how}, in {out['seconds']:.1f}s")
    return 0
