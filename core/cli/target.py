"""select --toward EVAL: K rows that cover an eval set (greedy facility location plus a depth term in gradient space,
target_selection.py), beside plain diversity selection and random K, each measured by the eval set's coverage;
contaminated rows are never candidates unless --include-contaminated."""
from __future__ import annotations

import time

import numpy as np


def select_toward(args, store) -> int:
    from core.analysis.contamination import find_contamination
    from core.analysis.coverage import coverage_at, coverage_curve, within_eval_nearest
    from core.analysis.quality import read_quality
    from core.analysis.selection import greedy, random_pick
    from core.analysis.target_selection import DEPTH, objective, toward
    from core.cli.common import emit
    from core.cli.coverage import contamination_config, prepared, texts_of

    if args.out:
        from core.data.files import check_target, workspace_files

        check_target(args.out, workspace_files(store.path))
    pool = args.pool or args.name
    extra = (args.name,) if pool != args.name else ()
    config, eval_cfg = prepared(args, store, pool, args.toward, extra)
    started = time.perf_counter()
    ids, X = store.load_features(pool, config.key(), config.dim)
    eval_ids, E = store.load_features(args.toward, eval_cfg.key(), eval_cfg.dim)
    seed_X = store.load_features(args.name, config.key(), config.dim)[1] if pool != args.name else None
    suspect = set() if args.include_suspect else set(read_quality(store, pool, config.key()).suspect_ids())
    exclude = np.array([i in suspect for i in ids], dtype=bool)
    skipped_suspect = int(exclude.sum())
    contaminated = []
    if not args.include_contaminated:
        found = find_contamination(texts_of(store, args.toward, eval_ids), texts_of(store, pool, ids), E, X,
                                   contamination_config(args))
        contaminated = found.train_indices()
        exclude[contaminated] = True
    depth = DEPTH if args.depth is None else args.depth
    picked = toward(X, E, args.budget, seed_X=seed_X, blend=args.blend, exclude=exclude, depth=depth)
    seconds = time.perf_counter() - started
    allowed = np.flatnonzero(~exclude)
    baselines = {"random": [int(allowed[i]) for i in random_pick(len(allowed), len(picked.indices), seed=args.seed)],
                 "diversity": [int(allowed[i]) for i in greedy(X[allowed], len(picked.indices), seed_X=seed_X)]}
    threshold = float(np.median(within_eval_nearest(E)))
    base = seed_X if seed_X is not None else np.zeros((0, X.shape[1]), np.float32)

    def measures(idx: list[int]) -> dict:
        rows = np.concatenate([base, X[idx]])
        return {"coverage": round(coverage_at(rows, E, threshold), 4), "objective": round(objective(E, rows), 4)}

    chosen = [ids[i] for i in picked.indices]
    out = {"dataset": args.name, "from": pool, "toward": args.toward, "budget": len(chosen),
           "method": (f"facility-location + depth (beta={depth})" if depth else "facility-location")
           + (f" blended with diversity (w={args.blend})" if args.blend else ""),
           "blend": args.blend, "depth": depth, "threshold": round(threshold, 4), "selected": measures(picked.indices),
           **{name: measures(idx) for name, idx in baselines.items()},
           "coverage_before": round(coverage_at(base, E, threshold), 4) if len(base) else 0.0,
           "curve": {"k": coverage_curve(X[picked.indices], E, threshold, base=base)["k"],
                     **{name: coverage_curve(X[idx], E, threshold, base=base)["coverage"]
                        for name, idx in (("selected", picked.indices), *baselines.items())}},
           "skipped_contaminated": len(contaminated), "skipped_suspect": skipped_suspect,
           "seconds": round(seconds, 2), "ids": chosen}
    if args.out:
        from core.analysis.selection_export import export_selection

        export_selection(store, pool, chosen, out=args.out, fmt=args.format, method=f"toward:{args.toward}",
                         seed_dataset=(args.name if pool != args.name else None))
    emit(args, out, f"{args.name}: {len(chosen)} rows chosen from {pool} toward {args.toward} in {seconds:.1f}s; "
                    f"coverage of {args.toward}: selected {out['selected']['coverage']:.1%}, diversity-only "
                    f"{out['diversity']['coverage']:.1%}, random {out['random']['coverage']:.1%}; "
                    f"{len(contaminated)} contaminated and {skipped_suspect} suspect rows skipped")
    return 0
