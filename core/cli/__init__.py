"""Headless CLI: python -m core {ingest,features,score,...}. JSON goes to stdout, progress and errors to stderr.

Each module below registers its subcommands (`register(sub)`), and each subcommand has one small handler
`handler(args, store) -> exit code`, set as the parser's default.
"""
from __future__ import annotations

import argparse
import os
import sys

from core.cli import analyse, analysis, coverage, curate, data, features, quality, rows, synthesis

MODULES = (data, features, analyse, analysis, quality, curate, rows, coverage, synthesis)


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line (`error: ...`, exit 2), like every other error of the CLI."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m core", description="Prism Studio engine")
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
    import duckdb

    from core.data.ingest import IngestError
    from core.data.store import Store, WorkspaceBusy

    try:
        with Store() as store:
            return args.handler(args, store)
    except (IngestError, WorkspaceBusy, OSError, LookupError, ValueError, TypeError, MemoryError,
            duckdb.Error) as exc:
        # one line, no traceback (PRISM_DEBUG=1 prints it too); exit 2: the input, the data or the machine's limits
        if os.environ.get("PRISM_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        print(f"error: {error_line(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: committed work is kept; run the same command again to resume", file=sys.stderr)
        return 130


def error_line(exc: BaseException, args) -> str:
    """What went wrong, on one line, keys masked (the known keys and unmistakable key shapes: an error that quotes
    a data file's 'token: ...' column stays readable)."""
    import duckdb

    from core.synthesis.credentials import redact_reply

    target = getattr(args, "name", None) or getattr(args, "target", None) or getattr(args, "file", None)
    what = f"'{args.command}'" + (f" on {target!r}" if target else "")
    if isinstance(exc, MemoryError):
        message = (f"out of memory: {what} needed more memory than this machine has free"
                   f"{' (' + str(exc) + ')' if str(exc) else ''}; the input was too large for it: try a smaller "
                   "file, --k, --budget, --batch-size or --max-batch-tokens")
    elif isinstance(exc, duckdb.OutOfMemoryException):
        limit = os.environ.get("PRISM_DUCKDB_MEMORY", "2GB")
        message = (f"the workspace database ran out of memory during {what} (its limit is {limit}, "
                   f"PRISM_DUCKDB_MEMORY): {_first_line(exc)}")
    elif isinstance(exc, duckdb.Error):
        message = f"the workspace database refused {what}: {_first_line(exc)}"
    elif isinstance(exc, TypeError):
        message = f"{what} got a value of the wrong type: {_first_line(exc)}"
    elif isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])  # a KeyError's str() would quote its message
    else:
        message = str(exc) or type(exc).__name__
    return redact_reply(" ".join(message.split()))


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""
