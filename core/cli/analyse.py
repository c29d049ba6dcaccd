"""Subcommands for what the app's Analyse and Load demo buttons do: analyse (features, baselines, clusters, map and
summaries, resumable) and demo (ingest the demo; analysed in place when the shipped features fit the options)."""
from __future__ import annotations

import time

from core.analysis.sparsity import DEFAULT_RULE, RULES
from core.cli.common import (ProgressPrinter, compute_args, emit, identity_args, int_at_least, options_from_args,
                             require_dataset)


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
    identity_args(p)
    p.add_argument("--k", type=int_at_least(2), help="number of clusters, 2 or more (default n/10)")
    p.add_argument("--rule", choices=RULES, default=DEFAULT_RULE)
    p.add_argument("--all-rows", action="store_true", help="include excluded rows (default: the kept rows)")
    compute_args(p)
    p.add_argument("--json", action="store_true")


def options(args):
    from core.analysis.analyse import AnalysisOptions

    return AnalysisOptions(model=args.model, mode=args.mode, dtype=args.dtype, seed=args.seed, k=args.k,
                           rule=args.rule, view="all" if args.all_rows else "kept", compute=options_from_args(args))


class StderrProgress:
    """run_analysis's job context, headless: each stage's progress through the CLI's ProgressPrinter (a tqdm bar on
    a terminal, 'progress' lines in logs); never cancelled (Ctrl-C stops the command, committed work is kept)."""

    def __init__(self) -> None:
        self.stage: str | None = None
        self.printer: ProgressPrinter | None = None

    def progress(self, done: int, total: int, stage: str | None = None, message: str = "") -> None:
        if self.printer is None or (stage and stage != self.stage):
            if self.printer is not None:
                self.printer.close()
            self.stage = stage or self.stage or "analysis"
            self.printer = ProgressPrinter(self.stage)
        self.printer(done, total, message or "")

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
