"""Subcommands that compute gradient features and G-Vendi: features, score."""
from __future__ import annotations

from core.cli.common import (ProgressPrinter, config_from_args, emit, feature_args, features as compute,
                             non_negative_float, options_from_args)


def register(sub) -> None:
    p = sub.add_parser("features", help="compute the missing gradient features of a dataset")
    p.add_argument("name")
    feature_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=features)

    p = sub.add_parser("score", help="G-Vendi of a file or dataset (ingests and featurises what is missing)")
    p.add_argument("target", metavar="FILE_OR_NAME")
    feature_args(p)
    p.add_argument("--q", type=non_negative_float, default=1.0,
                   help="order of the Vendi score (1 = Shannon); a finite number, 0 or more")
    p.add_argument("--map", dest="mapping")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=score)


def features(args, store) -> int:
    config = config_from_args(args, store, args.name)
    run = compute(store, args.name, config, args)
    emit(args, {"dataset": args.name, **run.__dict__},
         f"{args.name}: {run.n} feature rows ({run.computed} computed, {run.cached} cached) [{run.config_key}]")
    return 0


def score(args, store) -> int:
    from core.analysis.scoring import score as score_dataset
    from core.data.datasets import resolve_dataset
    from core.data.ingest import parse_mapping

    name = resolve_dataset(store, args.target, mapping=parse_mapping(args.mapping))
    config = config_from_args(args, store, name)
    with ProgressPrinter("features") as bar:
        result = score_dataset(store, name, config, q=args.q, options=options_from_args(args), progress=bar,
                               quality=True)
    clean = "n/a" if result.g_vendi_clean is None else f"{result.g_vendi_clean:.3f}"
    emit(args, result.to_json(),
         f"{result.dataset}: G-Vendi {result.g_vendi:.3f} (n={result.n}, mode={result.mode}, d={result.dim}, "
         f"q={result.q:g}; {result.computed} computed, {result.cached} cached; "
         f"{result.rejected_rows} rejected rows); without its {result.n_suspect} suspect rows {clean}")
    return 0
