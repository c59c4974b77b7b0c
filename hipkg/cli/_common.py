"""Helpers shared by command modules: output formats and writing text safely."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from typing import Any, Callable, Iterable, Sequence


def add_format(parser: argparse.ArgumentParser, choices: Sequence[str], default: str) -> None:
    parser.add_argument("--format", "-f", choices=list(choices), default=default, help=f"output format (default: {default})")


def positive(kind: type, what: str) -> Callable[[str], Any]:
    """An argparse type for a number greater than 0, whose error names the value and what was expected."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r}: must be greater than 0")
        return value

    return parse


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], width: int | None = None) -> str:
    """An aligned text table that fits the terminal: the last column wraps rather than overflows."""
    rows = [[str(c) for c in r] for r in rows]
    width = width or shutil.get_terminal_size((120, 24)).columns
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    fixed = sum(widths[:-1]) + 2 * (len(headers) - 1)
    widths[-1] = max(20, min(widths[-1], width - fixed)) if len(headers) > 1 else widths[-1]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    for r in rows:
        chunks = textwrap.wrap(r[-1], widths[-1]) or [""]
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1] + [chunks[0]], widths)).rstrip())
        pad = " " * fixed
        lines.extend((pad + c).rstrip() for c in chunks[1:])
    return "\n".join(lines)
