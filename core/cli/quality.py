"""Subcommand: quality (the per-row quality read: suspect rows and why, every signal against the dataset's own)."""
from __future__ import annotations

from core.cli.common import config_from_args, emit, feature_args, features, require_dataset


def register(sub) -> None:
    p = sub.add_parser("quality", help="which rows are suspect (junk) and why: the proxy's losses and IFD from the "
                                       "feature pass, and text signals, each against the dataset's own distribution")
    p.add_argument("name")
    p.add_argument("--text-only", action="store_true", help="text signals only: no model, no features")
    p.add_argument("--rows", action="store_true", help="with --json, every row's signals too")
    p.add_argument("--view", choices=("kept", "all"), default="kept",
                   help="the rows read (kept: without the excluded ones)")
    feature_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=quality)


def quality(args, store) -> int:
    from core.analysis.quality import read_quality

    require_dataset(store, args.name)
    key = None
    if not args.text_only:
        config = config_from_args(args, store, args.name)
        key = features(store, args.name, config, args).config_key
    q = read_quality(store, args.name, key, view=args.view)
    out = {"dataset": args.name, **q.to_json(rows=args.rows)}
    lines = [f"{args.name}: {len(out['suspect'])} of {out['n']} rows suspect"
             + (f" ({len(out['overridden'])} more tagged ok)" if out["overridden"] else "")]
    lines += [f"  {s['id']}: {'; '.join(s['reasons'])}" for s in out["suspect"][:50]]
    if len(out["suspect"]) > 50:
        lines.append(f"  ... {len(out['suspect']) - 50} more (--json lists all)")
    emit(args, out, "\n".join(lines))
    return 0
