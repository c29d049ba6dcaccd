"""Subcommands on datasets: ingest, datasets (list, delete, rename)."""
from __future__ import annotations

import sys

from core.cli.common import IngestProgress, emit


def register(sub) -> None:
    p = sub.add_parser("ingest", help="read a JSONL/JSON/CSV/TSV/Parquet file (text ones may be .gz) into the "
                                      "workspace")
    p.add_argument("file")
    p.add_argument("--name")
    p.add_argument("--map", dest="mapping", help="prompt=COL,response=COL[,id=COL]")
    p.add_argument("--replace", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=ingest)

    p = sub.add_parser("datasets", help="list the workspace's datasets; delete or rename one")
    change = p.add_mutually_exclusive_group()
    change.add_argument("--delete", metavar="NAME", help="delete a dataset with its samples, scores, marks, jobs, "
                                                         "synthesis runs and maps (features stay: they are keyed by "
                                                         "content); needs --yes")
    change.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="rename a dataset, keeping everything "
                                                                          "attached to it")
    p.add_argument("--yes", action="store_true", help="confirm --delete (without it, nothing is deleted: the command "
                                                      "says what would be)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=datasets)


def ingest(args, store) -> int:
    from core.data.datasets import ingest as ingest_dataset
    from core.data.ingest import parse_mapping

    with IngestProgress() as progress:
        name, summary = ingest_dataset(store, args.file, name=args.name, mapping=parse_mapping(args.mapping),
                                       replace=args.replace, progress=progress)
    for bad in summary["bad_rows"]:
        print(f"line {bad['line']}: {bad['reason']}", file=sys.stderr)
    if summary["rejected_rows"] > len(summary["bad_rows"]):
        print(f"... and {summary['rejected_rows'] - len(summary['bad_rows'])} more rejected rows", file=sys.stderr)
    for warning in summary.get("warnings", []):
        print(f"warning: {name}: {warning}", file=sys.stderr)
    emit(args, {"dataset": name, **summary},
         f"{name}: {summary['n']} samples ({summary['shape']}), {summary['rejected_rows']} rejected rows, "
         f"{summary['duplicates']} duplicates")
    return 0


def datasets(args, store) -> int:
    if args.delete:
        return delete(args, store)
    if args.rename:
        result = store.rename_dataset(*args.rename)
        emit(args, result, f"renamed {args.rename[0]} to {result['dataset']}")
        return 0
    rows = [store.dataset_info(n) for n in store.dataset_names()]
    for r in rows:
        r.pop("report")
    emit(args, {"datasets": rows}, "\n".join(f"{r['name']}\t{r['n']}\t{r['source']}" for r in rows) or "(none)")
    return 0


def delete(args, store) -> int:
    from core.cli.common import require_dataset

    require_dataset(store, args.delete)
    if not args.yes:
        would = store.dataset_footprint(args.delete)
        listed = ", ".join(f"{v} {k}" for k, v in would.items() if v)
        print(f"error: deleting {args.delete!r} would remove {listed or 'its record'}; nothing was deleted: add --yes "
              "to confirm", file=sys.stderr)
        return 2
    result = store.delete_dataset(args.delete)
    emit(args, {"deleted": True, **result}, f"deleted {args.delete}: " + ", ".join(
        f"{v} {k}" for k, v in result["removed"].items() if v))
    return 0
