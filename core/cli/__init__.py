"""Headless CLI: python -m core {ingest,features,score,...}. JSON goes to stdout, progress and errors to stderr.

Each module below registers its subcommands (`register(sub)`), and each subcommand has one small handler
`handler(args, store) -> exit code`, set as the parser's default.
"""
from __future__ import annotations

import argparse
import os
import sys

from core.cli import analyse, analysis, curate, data, features, synthesis

MODULES = (data, features, analyse, analysis, curate, synthesis)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Prism Studio engine")
    parser.add_argument("--workspace", help="workspace folder (default: $PRISM_HOME or ./workspace)")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in MODULES:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # run as a program (not called from a test): fd 1 carries the result only
        from core.cli.common import reserve_stdout

        reserve_stdout()
    if args.workspace:
        os.environ["PRISM_HOME"] = args.workspace
    from core.data.ingest import IngestError
    from core.data.store import Store, WorkspaceBusy

    try:
        with Store() as store:
            return args.handler(args, store)
    except (IngestError, WorkspaceBusy, OSError, LookupError, ValueError) as exc:
        # one line, no traceback; a KeyError's str() would quote its message
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: committed work is kept; run the same command again to resume", file=sys.stderr)
        return 130
