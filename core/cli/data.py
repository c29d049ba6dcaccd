"""Subcommands on datasets: ingest, datasets."""
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

    p = sub.add_parser("datasets", help="list the workspace's datasets")
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
    rows = [store.dataset_info(n) for n in store.dataset_names()]
    for r in rows:
        r.pop("report")
    emit(args, {"datasets": rows}, "\n".join(f"{r['name']}\t{r['n']}\t{r['source']}" for r in rows) or "(none)")
    return 0
