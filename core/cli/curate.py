"""Subcommands that act on rows: dedup, tag, search, similar, import-vectors."""
from __future__ import annotations

from core.cli.common import (config_from_args, emit, feature_args, features, positive_int, require_dataset,
                             unit_float)


def register(sub) -> None:
    p = sub.add_parser("dedup", help="near-duplicates in gradient space (and MinHash text duplicates beside them)")
    p.add_argument("name")
    p.add_argument("--threshold", type=unit_float, default=None, help="cosine at or above which rows are duplicates")
    p.add_argument("--minhash", type=unit_float, default=0.8, help="Jaccard threshold of the text duplicates")
    feature_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=dedup)

    p = sub.add_parser("tag", help="tag, exclude or include rows (undoable); scores and exports follow exclusions")
    p.add_argument("name")
    p.add_argument("--ids", help="comma-separated row ids (an id that holds a comma: --id or --ids-file)")
    p.add_argument("--id", dest="id_list", action="append", default=[], metavar="ID",
                   help="one row id, taken whole (commas and spaces included); repeat it for more")
    p.add_argument("--ids-file", help="a file of row ids, one per line, each line taken whole ('-': stdin)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--tag")
    what.add_argument("--untag")
    what.add_argument("--exclude", action="store_true")
    what.add_argument("--include", action="store_true")
    what.add_argument("--undo", metavar="ACTION_ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=tag)

    p = sub.add_parser("search", help="rows whose prompt or response holds a text or matches a regular expression")
    p.add_argument("name")
    p.add_argument("pattern")
    p.add_argument("--regex", action="store_true")
    p.add_argument("--limit", type=positive_int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=search)

    p = sub.add_parser("similar", help="a row's nearest neighbours in gradient space (more like this)")
    p.add_argument("name")
    p.add_argument("id")
    p.add_argument("--k", type=positive_int, default=10)
    feature_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=similar)

    p = sub.add_parser("import-vectors", help="bring per-row vectors computed elsewhere as a named feature set")
    p.add_argument("name")
    p.add_argument("file", help="Parquet (id + list column) or .npy")
    p.add_argument("--set", dest="set_name", required=True, help="the feature set's name (use it with --features)")
    p.add_argument("--ids", dest="ids_file", help="with .npy: the ids, one per line or a JSON list")
    p.add_argument("--id-column", default="id")
    p.add_argument("--vector-column")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=import_vectors)


def dedup(args, store) -> int:
    from core.analysis.curation import dedup_report

    config = config_from_args(args, store, args.name)
    run = features(store, args.name, config, args)
    report = dedup_report(store, args.name, run.config_key, config.dim, threshold=args.threshold,
                          minhash_threshold=args.minhash)
    emit(args, report, f"{args.name}: {report['rows_flagged']} rows flagged in {len(report['groups'])} groups at "
                       f"cosine >= {report['threshold']} ({report['index']} search); G-Vendi "
                       f"{report['g_vendi_before']:.2f} -> {report['g_vendi_after']:.2f} without them; MinHash text "
                       f"groups: {len(report['text_groups'])}")
    return 0


def tag(args, store) -> int:
    require_dataset(store, args.name)
    if args.undo:
        action = store.undo(args.undo, dataset_name=args.name)  # another dataset's action is an error, not undone
    else:
        ids = tag_ids(args)
        op, value = (("tag", args.tag) if args.tag else ("untag", args.untag) if args.untag else
                     ("exclude", "") if args.exclude else ("include", ""))
        action = store.mark(args.name, ids, op, value)
    out = {"dataset": args.name, "action_id": action.action_id, "op": action.op, "value": action.value,
           "changed": action.n, "excluded": len(store.excluded(args.name))}
    emit(args, out, f"{args.name}: {action.op} {action.value} changed {action.n} rows [action {action.action_id}]; "
                    f"{out['excluded']} rows excluded")
    return 0


def tag_ids(args) -> list[str]:
    """The rows named by --ids (split on commas), --id (each whole) and --ids-file (one whole id per line)."""
    import sys

    ids = [i.strip() for i in (args.ids or "").split(",") if i.strip()] + list(args.id_list)
    if args.ids_file:
        if args.ids_file == "-":
            text = sys.stdin.read()
        else:
            with open(args.ids_file, encoding="utf-8", newline="") as fh:
                text = fh.read()
        lines = (line[:-1] if line.endswith("\r") else line for line in text.split("\n"))  # not splitlines():
        ids += [line for line in lines if line.strip()]  # an id may hold any other character, \x1c or U+2028 too
    if not ids:
        raise ValueError("no row ids: give --ids a,b (comma-separated), --id ID (repeatable, taken whole) or "
                         "--ids-file FILE (one per line)")
    return ids


def search(args, store) -> int:
    from core.analysis.search import search as find

    require_dataset(store, args.name)
    hits = find(store, args.name, args.pattern, regex=args.regex, limit=args.limit)
    emit(args, {"dataset": args.name, "pattern": args.pattern, "regex": args.regex,
                "hits": [{"id": h.id, "field": h.field, "start": h.start} for h in hits]},
         "\n".join(f"{h.id}\t{h.field}\t{h.start}" for h in hits) or "(no match)")
    return 0


def similar(args, store) -> int:
    from core.analysis.search import more_like_this

    config = config_from_args(args, store, args.name)
    run = features(store, args.name, config, args)
    near = more_like_this(store, args.name, args.id, run.config_key, config.dim, k=args.k)
    emit(args, {"dataset": args.name, "id": args.id, "neighbours": [{"id": i, "similarity": s} for i, s in near]},
         "\n".join(f"{i}\t{s:.4f}" for i, s in near))
    return 0


def import_vectors(args, store) -> int:
    from core.features.imported import import_vectors as bring

    require_dataset(store, args.name)
    features_set = bring(store, args.name, args.file, name=args.set_name, ids_path=args.ids_file,
                         id_column=args.id_column, vector_column=args.vector_column)
    n = store.feature_coverage(args.name, features_set.key(), features_set.dim, "all")
    emit(args, {"dataset": args.name, "set": args.set_name, "dim": features_set.dim, "rows": n,
                "config_key": features_set.key()},
         f"{args.name}: feature set {args.set_name!r} ({features_set.dim} dims) covers {n} rows; use --features "
         f"{args.set_name}")
    return 0
