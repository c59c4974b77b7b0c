"""The ``hipkg`` command: one module per command group, each with register() and run().

Exit codes (every command): 0 success / conforms, 1 violations found, 2 bad usage or input.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from hipkg import DISCLAIMER, __version__
from hipkg.errors import HipkgError

#: command name -> module under hipkg.cli (imported lazily, so `hipkg --help` stays fast).
COMMANDS = {
    "recommend": "recommend",
    "validate": "validate",
    "info": "info",
    "fmt": "fmt",
    "export": "export",
    "graph": "graph",
    "queries": "query",
    "query": "query",
    "push": "push",
    "cohort": "cohort",
    "serve": "serve",
}

EPILOG = f"""exit codes: 0 success (validate: conforms), 1 validation violations, 2 bad usage or input.

{DISCLAIMER}"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hipkg",
        description="Therapeutic hip injections as a knowledge graph: which options fit a situation, and why, with cited sources.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hipkg {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        importlib.import_module(f"hipkg.cli.{module}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except HipkgError as exc:
        print(f"hipkg: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:  # pragma: no cover - console script wrapper
    sys.exit(main())
