"""Subcommand coverage: how well a dataset covers an eval set in gradient space, what it leaves uncovered, and which
eval rows leaked into it (contamination), optionally excluding the training copies."""
from __future__ import annotations

import time

from core.cli.common import (config_from_args, emit, feature_args, features, positive_int, require_dataset,
                             unit_float)

DEFINITION = ("share of eval rows whose nearest training row (cosine of unit gradient features) is at least as close "
              "as the eval set's median nearest-neighbour cosine within itself")


def register(sub) -> None:
    p = sub.add_parser("coverage", help="eval-set coverage in gradient space, uncovered eval regions, contamination")
    p.add_argument("name", help="the training dataset")
    p.add_argument("--eval", dest="eval_name", required=True, help="the eval dataset (ingested)")
    p.add_argument("--eval-features", help="the eval set's imported feature set (default: the same as NAME's)")
    p.add_argument("--threshold", type=unit_float, default=None,
                   help="cosine that covers an eval row (default: the eval set's median within-set neighbour cosine)")
    p.add_argument("--k", type=positive_int, default=None,
                   help="eval clusters for the uncovered regions (default m/10)")
    p.add_argument("--minhash", type=unit_float, default=None, help="Jaccard at or above which texts are copies")
    p.add_argument("--gradient-threshold", type=unit_float, default=None,
                   help="cosine at or above which rows are gradient near-duplicates (default: dedup's 0.85, raised to "
                        "where the training rows' own nearest neighbours sit, at most 0.95)")
    p.add_argument("--exclude-contaminated", action="store_true",
                   help="tag the training copies 'contaminates:EVAL' and exclude them (undo: tag NAME --undo ID), "
                        "then measure coverage without them")
    p.add_argument("--no-evidence", action="store_true", help="leave the texts and word diffs out of the JSON")
    feature_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=coverage)


def eval_config(args, store, eval_name: str):
    """The eval set's feature config: its imported set (--eval-features, or NAME's --features) or the flags'."""
    from argparse import Namespace

    chosen = getattr(args, "eval_features", None) or getattr(args, "features_set", None)
    return config_from_args(Namespace(**{**vars(args), "features_set": chosen}), store, eval_name)


def prepared(args, store, train: str, eval_name: str, extra: tuple[str, ...] = ()):
    """(train config, eval config): identities checked (a mismatch is refused before any feature is computed), then
    every dataset's missing features computed (train, eval and `extra`)."""
    from core.analysis.coverage import check_same_identity

    require_dataset(store, train)
    require_dataset(store, eval_name)
    if eval_name == train:
        raise ValueError(f"the eval set and the training set are both {train!r}")
    train_config = config_from_args(args, store, train)
    eval_cfg = eval_config(args, store, eval_name)
    check_same_identity(train_config, eval_cfg, train=train, evals=eval_name)
    for name, config in ((train, train_config), (eval_name, eval_cfg), *((e, train_config) for e in extra)):
        features(store, name, config, args)
    return train_config, eval_cfg


def texts_of(store, dataset: str, ids: list[str]) -> list[tuple[str, str]]:
    rows = store.rows_by_id(dataset, ids)
    return [(rows[i].prompt, rows[i].response) for i in ids]


def contamination_config(args):
    from core.analysis.contamination import ContaminationConfig

    fields = {}
    if getattr(args, "minhash", None) is not None:
        fields["minhash_threshold"] = args.minhash
    if getattr(args, "gradient_threshold", None) is not None:  # given: used as is
        fields["gradient_threshold"] = args.gradient_threshold
        fields["adaptive"] = False
    return ContaminationConfig(**fields)


def coverage(args, store) -> int:
    from core.analysis.contamination import find_contamination
    from core.analysis.coverage import CoverageConfig, coverage as measure
    from core.analysis.target_view import exclude_copies

    train_config, eval_cfg = prepared(args, store, args.name, args.eval_name)
    started = time.perf_counter()
    train_ids, T = store.load_features(args.name, train_config.key(), train_config.dim)
    eval_ids, E = store.load_features(args.eval_name, eval_cfg.key(), eval_cfg.dim)
    train_texts, eval_texts = texts_of(store, args.name, train_ids), texts_of(store, args.eval_name, eval_ids)
    found = find_contamination(eval_texts, train_texts, E, T, contamination_config(args))
    texts = () if args.no_evidence else (eval_texts, train_texts)
    contaminated = found.to_json(eval_ids, train_ids, *texts)
    variants = found.to_json(eval_ids, train_ids, *texts, variants=True)  # other numbers: listed, never excluded
    excluded = None
    if args.exclude_contaminated and found.hits:
        copies = [train_ids[i] for i in found.train_indices()]
        tag_action, exclude_action = exclude_copies(store, args.name, args.eval_name, copies)  # as the app's button
        excluded = {"rows": len(copies), "action_id": exclude_action, "tag_action_id": tag_action}
        train_ids, T = store.load_features(args.name, train_config.key(), train_config.dim)  # the kept rows
    result = measure(T, E, CoverageConfig(threshold=args.threshold, k=args.k, seed=args.seed))
    out = {"dataset": args.name, "eval": args.eval_name, **result.to_json(eval_ids, train_ids),
           "definition": (DEFINITION if args.threshold is None
                          else f"nearest training row at cosine >= {args.threshold}"),
           "contaminated": contaminated, "contaminated_eval_rows": len(found.eval_indices()),
           "variants": variants,
           "gradient_threshold": None if found.gradient_threshold is None else round(found.gradient_threshold, 4),
           "contaminating_train_rows": len(found.train_indices()), "excluded": excluded,
           "n_train": len(train_ids), "n_eval": len(eval_ids), "config_key": train_config.key(),
           "seconds": round(time.perf_counter() - started, 2)}
    kinds = {}
    for hit in found.hits:
        kinds[hit.kind] = kinds.get(hit.kind, 0) + 1
    emit(args, out, f"{args.name} covers {out['coverage']:.1%} of {args.eval_name} ({len(out['uncovered'])} of "
                    f"{len(eval_ids)} eval rows uncovered, in {len(out['uncovered_clusters'])} uncovered clusters; "
                    f"threshold cosine {out['threshold']:.3f}); contamination: {out['contaminated_eval_rows']} eval "
                    f"rows with a copy among {out['contaminating_train_rows']} training rows {kinds or ''}"
                    + (f"; excluded {excluded['rows']} training rows [action {excluded['action_id']}]"
                       if excluded else ""))
    return 0
