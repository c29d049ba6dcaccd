"""Subcommands that grow a dataset and write it out: synthesize, export."""
from __future__ import annotations

import sys

from core.analysis.sparsity import GROW_RULE, RULES
from core.cli.common import (ProgressPrinter, emit, int_at_least, non_negative_int, positive_float, positive_int,
                             require_dataset)


def register(sub) -> None:
    p = sub.add_parser("synthesize", help="grow the sparse regions with Prismatic Synthesis (resumable)")
    p.add_argument("name")
    p.add_argument("--source", choices=("generator", "pool"), default="generator",
                   help="candidates written by a generator, or drawn from another dataset (--pool)")
    p.add_argument("--pool", help="the candidate pool's dataset name (with --source pool)")
    p.add_argument("--accept-per-round", type=positive_int, help="a round ends once this many are accepted")
    p.add_argument("--pool-batch", type=positive_int, default=40, help="pool rows drawn per step")
    p.add_argument("--toward", metavar="EVAL",
                   help="grow toward an eval dataset: accept candidates that land in its clusters the data leaves "
                        "uncovered (instead of the sparse clusters); the summary adds its coverage before and after")
    p.add_argument("--eval-features", metavar="SET",
                   help="with --toward: the eval set's imported feature set (refused unless it is the run's space)")
    p.add_argument("--rule", choices=RULES, default=GROW_RULE,
                   help="the sparse rule that decides acceptance (default density: it grew diversity most, "
                        "bench/grow.py)")
    p.add_argument("--k", type=int_at_least(2), help="clusters per round, 2 or more (default n/10)")
    p.add_argument("--generator", choices=("embedded", "transformers", "openai"), default="embedded",
                   help="embedded: the embedded model served by llama.cpp; transformers: sampled in process")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", dest="generator_model", help="generator model name (openai) or id (embedded)")
    p.add_argument("--rounds", type=positive_int, default=1)
    p.add_argument("--requests-per-round", type=positive_int, default=8)
    p.add_argument("--problems-per-request", type=positive_int, default=2)
    p.add_argument("--solutions-per-problem", type=positive_int, default=3)
    p.add_argument("--max-accepted", type=positive_int)
    p.add_argument("--max-seconds", type=positive_float)
    p.add_argument("--max-problem-tokens", type=positive_int, default=384)
    p.add_argument("--max-solution-tokens", type=positive_int, default=384)
    p.add_argument("--answer-mode", choices=("math", "exact", "none"), default="math")
    p.add_argument("--request-batch", type=positive_int, default=4, help="requests generated per committed step")
    p.add_argument("--concurrency", type=positive_int, default=4)
    p.add_argument("--timeout", type=positive_float, default=60.0)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=synthesize)

    p = sub.add_parser("export", help="write the grown dataset (seed + accepted synthetic rows) with provenance")
    p.add_argument("name")
    p.add_argument("--run", help="synthesis run id (default: the latest run of the dataset)")
    p.add_argument("--arm", choices=("filtered", "control"), default="filtered",
                   help="the filtered pool (default) or the control arm grown beside it")
    p.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    p.add_argument("--out", required=True)
    p.set_defaults(handler=export)


def synthesize(args, store) -> int:
    """The run as a job of this process (core/synthesis/launch.py, as the app launches it), waited for here with its
    progress on stderr; exit 3 when the run failed."""
    from core.features.compute import feature_config
    from core.jobs import JobRunner
    from core.synthesis.config import SynthesisConfig
    from core.synthesis.launch import RunFailed, launch
    from core.synthesis.settings import GeneratorSettings

    require_dataset(store, args.name)
    config = SynthesisConfig(source=args.source, pool=args.pool, rounds=args.rounds,
                             requests_per_round=args.requests_per_round,
                             problems_per_request=args.problems_per_request,
                             solutions_per_problem=args.solutions_per_problem, max_accepted=args.max_accepted,
                             max_seconds=args.max_seconds, max_problem_tokens=args.max_problem_tokens,
                             max_solution_tokens=args.max_solution_tokens, answer_mode=args.answer_mode,
                             seed=args.seed, request_batch=args.request_batch, accept_per_round=args.accept_per_round,
                             pool_batch=args.pool_batch, rule=args.rule, k=args.k, toward=args.toward)
    generator = None
    if args.source == "generator":  # the key: PRISM_API_KEY for PRISM_API_BASE_URL only (credentials.py)
        generator = GeneratorSettings(kind=args.generator, model=args.generator_model, base_url=args.base_url,
                                      concurrency=args.concurrency, timeout=args.timeout)
    fc = feature_config()
    eval_fc = None
    if args.eval_features:
        from core.features.imported import imported_sets

        if not args.toward:
            raise ValueError("--eval-features goes with --toward")
        sets = imported_sets(store, args.toward) if store.has_dataset(args.toward) else {}
        if args.eval_features not in sets:
            raise LookupError(f"no imported feature set {args.eval_features!r} for {args.toward!r}")
        eval_fc = sets[args.eval_features]
    with ProgressPrinter("synthesis") as bar:
        launched = launch(store, JobRunner(store), args.name, config, generator, fc, echo=bar,
                          eval_feature_config=eval_fc)
        try:
            summary = _wait(launched)
        except RunFailed as failed:
            summary = failed.summary
    for notice in summary.get("notices") or []:
        print(f"notice: {notice}", file=sys.stderr)
    emit(args, summary, f"{args.name}: {summary['status']}; {summary['accepted']} accepted, rejected "
                        f"{summary['rejected']}; G-Vendi {_num(summary['g_vendi_before'])} -> "
                        f"{_num(summary['g_vendi_after'])} (control {_num(summary['g_vendi_control'])}) "
                        f"[run {summary['run_id']}]" + _toward(summary)
         + (f"\nerror: {summary['error']}" if summary.get("error") else ""))
    return 3 if summary["status"] == "failed" else 0


def _wait(launched) -> dict:
    """The run's summary. Ctrl-C asks the run to stop after the step in progress and waits for it (the run's thread
    must be out of the workspace before it closes); a second Ctrl-C stops at once, as a kill would: every committed
    step is kept either way, and the same command again resumes."""
    import os

    try:
        return launched.wait()
    except KeyboardInterrupt:
        launched.cancel()
        print("interrupted: stopping after the step in progress (Ctrl-C again stops at once)", file=sys.stderr,
              flush=True)
        try:
            launched.wait()
        except KeyboardInterrupt:
            print("interrupted: committed work is kept; run the same command again to resume", file=sys.stderr,
                  flush=True)
            os._exit(130)
        except Exception:  # Cancelled, or the run ended another way first: either way the user asked to stop
            pass
        raise KeyboardInterrupt from None


def _toward(summary: dict) -> str:
    t = summary.get("toward")
    if not t:
        return ""
    return (f"\ncoverage of {t['eval']}: {t['coverage_before']:.3f} -> {t['coverage_after']:.3f} "
            f"(control {t['coverage_control']:.3f})")


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def export(args, store) -> int:
    from core.synthesis.export import export as export_rows
    from core.synthesis.loop import runs_for

    require_dataset(store, args.name)
    run_id = args.run or next((r["run_id"] for r in runs_for(store, args.name)), None)
    n = export_rows(store, args.name, run_id=run_id, fmt=args.format, out=args.out, arm=args.arm)
    print(f"wrote {n} rows to {args.out}" + (f" (run {run_id})" if run_id else " (no synthesis run)"),
          file=sys.stderr)
    return 0
