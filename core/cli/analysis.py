"""Subcommands on the gradient space: map."""
from __future__ import annotations

import sys

from core.cli.common import config_from_args, emit, feature_args, features


def register(sub) -> None:
    p = sub.add_parser("map", help="clusters, sparse regions and the 2-D map of a dataset (features as needed)")
    p.add_argument("name")
    feature_args(p)
    p.add_argument("--k", type=int, help="number of clusters (default n/10)")
    p.add_argument("--rule", choices=("paper", "density"), default="paper",
                   help="sparse = clusters below the median size (paper) or the least dense half (density)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=map_)


def map_(args, store) -> int:
    from core.analysis.clusters import ClusterConfig
    from core.analysis.gradient_map import MapConfig, build_map

    config = config_from_args(args)
    run = features(store, args.name, config, args)
    gmap = build_map(store, args.name, run.config_key, config.dim,
                     cluster_config=ClusterConfig(k=args.k, seed=args.seed, rule=args.rule),
                     map_config=MapConfig(seed=args.seed),
                     stage=lambda s, f: print(f"stage {s}", file=sys.stderr, flush=True))
    out = gmap.to_json()
    emit(args, out, f"{args.name}: n={out['n']} k={out['k']} sparse clusters {out['sparse_clusters']} "
                    f"({int(gmap.sparse_rows.sum())} rows in sparse regions, rule {gmap.rule})")
    return 0
