"""Subcommands on the gradient space: map, select."""
from __future__ import annotations

import sys

from core.analysis.sparsity import DEFAULT_RULE, RULES
from core.cli.common import (config_from_args, emit, feature_args, features, int_at_least, positive_int,
                             unit_float)


def register(sub) -> None:
    p = sub.add_parser("map", help="clusters, sparse regions and the 2-D map of a dataset (features as needed)")
    p.add_argument("name")
    feature_args(p)
    p.add_argument("--k", type=int_at_least(2), help="number of clusters, 2 or more (default n/10)")
    p.add_argument("--rule", choices=RULES, default=DEFAULT_RULE,
                   help="sparse = clusters below the median size (paper) or the least dense half (density)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=map_)
    register_select(sub)


def map_(args, store) -> int:
    from core.analysis.clusters import ClusterConfig
    from core.analysis.gradient_map import MapConfig, build_map

    config = config_from_args(args, store, args.name)
    run = features(store, args.name, config, args)
    gmap = build_map(store, args.name, run.config_key, config.dim,
                     cluster_config=ClusterConfig(k=args.k, seed=args.seed, rule=args.rule),
                     map_config=MapConfig(seed=args.seed),
                     stage=lambda s, f: print(f"stage {s}", file=sys.stderr, flush=True))
    out = gmap.to_json()
    emit(args, out, f"{args.name}: n={out['n']} k={out['k']} sparse clusters {out['sparse_clusters']} "
                    f"({int(gmap.sparse_rows.sum())} rows in sparse regions, rule {gmap.rule})")
    return 0


def register_select(sub) -> None:
    p = sub.add_parser("select", help="choose K rows that maximise G-Vendi (greedy), beside random and balanced K")
    p.add_argument("name", help="the dataset (the seed, when --from gives a pool)")
    p.add_argument("--budget", type=positive_int, required=True, help="K, the rows to choose")
    p.add_argument("--from", dest="pool", help="choose from this dataset, to add to NAME (default: a subset of NAME)")
    p.add_argument("--rule", choices=RULES, default=DEFAULT_RULE, help="for the balanced baseline")
    p.add_argument("--out", help="write the greedy selection (with provenance) to this file")
    p.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    p.add_argument("--include-suspect", action="store_true",
                   help="let the selection take rows the quality read calls suspect (default: skipped, and counted)")
    p.add_argument("--toward", help="choose rows that cover this eval dataset (greedy facility location plus a depth "
                                    "term in gradient space; core/analysis/target_selection.py)")
    p.add_argument("--blend", type=unit_float, default=0.0,
                   help="with --toward: weight of plain diversity (0 = coverage only, 1 = diversity only)")
    p.add_argument("--depth", type=float, default=None,
                   help="with --toward: weight of the depth term (more rows near the eval rows once each has its "
                        "best; default 0.1, 0 = facility location alone)")
    p.add_argument("--eval-features", help="with --toward: the eval set's imported feature set")
    p.add_argument("--include-contaminated", action="store_true",
                   help="with --toward: let it take training copies of eval rows (default: skipped, and counted)")
    feature_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=select)


def select(args, store) -> int:
    import time

    import numpy as np

    from core.analysis.quality import read_quality
    from core.analysis.selection import select as run_select
    from core.analysis.selection_export import export_selection

    if args.toward:
        from core.cli.target import select_toward

        return select_toward(args, store)
    if args.depth is not None:
        raise ValueError("--depth weighs a term of --toward's objective: give --toward EVAL too")
    if args.blend:
        raise ValueError("--blend mixes --toward's coverage with diversity: give --toward EVAL too")
    if args.out:  # a refused --out (a symlink, a device, the workspace's own file) fails before any work
        from core.data.files import check_target, workspace_files

        check_target(args.out, workspace_files(store.path))
    config = config_from_args(args, store, args.name)
    pool = args.pool or args.name
    features(store, args.name, config, args)
    if pool != args.name:
        features(store, pool, config, args)
    started = time.perf_counter()
    ids, X = store.load_features(pool, config.key(), config.dim)
    seed_X = store.load_features(args.name, config.key(), config.dim)[1] if pool != args.name else None
    suspect = set() if args.include_suspect else set(read_quality(store, pool, config.key()).suspect_ids())
    exclude = np.array([i in suspect for i in ids], dtype=bool)
    result = run_select(X, args.budget, seed_X=seed_X, seed=args.seed, rule=args.rule, exclude=exclude)
    seconds = time.perf_counter() - started
    chosen = [ids[i] for i in result["greedy"].indices]
    out = {"dataset": args.name, "from": pool, "budget": len(chosen), "g_vendi_selected": result["greedy"].g_vendi,
           "g_vendi_random": result["random"].g_vendi, "g_vendi_balanced": result["balanced"].g_vendi,
           "skipped_suspect": int(exclude.sum()), "seconds": round(seconds, 2), "ids": chosen}
    if args.out:
        export_selection(store, pool, chosen, out=args.out, fmt=args.format, method="greedy", seed_dataset=(
            args.name if pool != args.name else None))
    emit(args, out, f"{args.name}: {len(chosen)} rows chosen from {pool} in {seconds:.1f}s; G-Vendi greedy "
                    f"{out['g_vendi_selected']:.2f}, random {out['g_vendi_random']:.2f}, cluster-balanced "
                    f"{out['g_vendi_balanced']:.2f}; {out['skipped_suspect']} suspect rows skipped"
                    + ("" if args.include_suspect else " (--include-suspect to allow them)"))
    return 0
