"""Subcommands on chosen rows: row (one row opened: text, tags, cluster, reasons, nearest rows), similar-rows (the
rows nearest a selection) and compare-rows (a selection's G-Vendi and clusters against the rest's). All read cached
features only: no model is loaded."""
from __future__ import annotations

from core.cli.common import config_from_args, emit, identity_args, positive_int, require_dataset


def _feature_flags(p) -> None:
    identity_args(p)
    p.add_argument("--dim", type=positive_int, default=1024)
    p.add_argument("--max-length", type=positive_int, default=1024)
    p.add_argument("--fast-blocks", type=int, default=0)
    p.add_argument("--sketch-dim", type=positive_int, default=512)
    p.add_argument("--features", dest="features_set", help="an imported feature set (import-vectors) instead")


def register(sub) -> None:
    p = sub.add_parser("row", help="one row: its full text, tags, cluster, sparse/quality reasons, nearest rows")
    p.add_argument("name")
    p.add_argument("id")
    p.add_argument("--k", type=positive_int, default=5, help="nearest rows to list (the row itself left out)")
    _feature_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=row)

    p = sub.add_parser("similar-rows", help="the kept rows nearest a set of rows in gradient space (more like these)")
    p.add_argument("name")
    p.add_argument("--ids", required=True, help="comma-separated row ids")
    p.add_argument("--k", type=positive_int, default=10)
    _feature_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=similar_rows)

    p = sub.add_parser("compare-rows", help="G-Vendi and clusters of chosen rows against the rest of the kept rows")
    p.add_argument("name")
    p.add_argument("--ids", required=True, help="comma-separated row ids")
    _feature_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=compare_rows)


def _latest_map(store, name: str, config_key: str):
    from core.analysis import cache

    return cache.latest_map(store, name, config_key)


def row(args, store) -> int:
    from core.analysis.row_detail import row_detail

    require_dataset(store, args.name)
    config = config_from_args(args, store, args.name)
    d = row_detail(store, args.name, args.id, config.key(), config.dim, k=args.k,
                   gmap=_latest_map(store, args.name, config.key()))
    where = (f"cluster {d.cluster} ({d.cluster_size} rows), {'sparse' if d.sparse else 'not sparse'}"
             if d.cluster is not None else "not on a map of these features")
    lines = [f"{d.name} [{d.id}]" + (" (excluded)" if d.excluded else ""), f"  {where}",
             *(f"  {r}" for r in d.sparse_reasons[:1]), *(f"  suspect: {r}" for r in d.quality_reasons),
             f"  tags: {', '.join(d.tags) or 'none'}", "prompt:", d.prompt, "response:", d.response, "nearest:",
             *(f"  {n.similarity:.3f}  {n.name} [{n.id}]" for n in d.neighbours)]
    emit(args, {"dataset": args.name, "config_key": config.key(), **d.to_json()}, "\n".join(lines))
    return 0


def compare_rows(args, store) -> int:
    from core.analysis.row_detail import compare_selection

    require_dataset(store, args.name)
    ids = _ids(args)
    config = config_from_args(args, store, args.name)
    c = compare_selection(store, args.name, ids, config.key(), config.dim,
                          gmap=_latest_map(store, args.name, config.key()))

    def fmt(v):
        return "—" if v is None else f"{v:.2f}"

    emit(args, {"dataset": args.name, **c.to_json()},
         f"{args.name}: selection {c.n_selected} rows, G-Vendi {fmt(c.g_vendi_selected)}; rest {c.n_rest} rows, "
         f"{fmt(c.g_vendi_rest)} ({fmt(c.g_vendi_rest_at_n)} at n = {c.n_selected}); all {c.g_vendi_all:.2f}"
         + (f"; {len(c.missing)} ids without features in the kept rows" if c.missing else ""))
    return 0


def _ids(args) -> list[str]:
    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    if not ids:
        raise ValueError("no row ids: give --ids a,b,c")
    return ids


def similar_rows(args, store) -> int:
    from core.analysis.row_detail import more_like_rows, row_names

    require_dataset(store, args.name)
    config = config_from_args(args, store, args.name)
    near = more_like_rows(store, args.name, _ids(args), config.key(), config.dim, k=args.k)
    names = row_names(store, args.name, [i for i, _ in near])
    emit(args, {"dataset": args.name, "neighbours": [{"id": i, "name": names.get(i), "similarity": s}
                                                     for i, s in near]},
         "\n".join(f"{s:.4f}  {names.get(i, i)} [{i}]" for i, s in near))
    return 0
