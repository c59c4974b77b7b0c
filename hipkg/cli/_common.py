"""Helpers shared by command modules: output formats and writing text safely."""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any, Callable, Sequence


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


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def size(text: str) -> int:
    """An argparse type for an amount of memory: bytes, or a number with K, M, G or T (powers of 1,024; KiB, MB, ...
    mean the same)."""
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (raw[:-1], raw[-1]) if raw and raw[-1] in _UNITS else (raw, "")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a size (expected e.g. 2G, 512M or a number of bytes)") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: must be greater than 0")
    return int(value * _UNITS[unit])


def iso_date(text: str) -> str:
    """An argparse type for a calendar date written YYYY-MM-DD."""
    try:
        return datetime.date.fromisoformat(text).isoformat() if len(text) == 10 else _bad_date(text)
    except ValueError:
        return _bad_date(text)


def _bad_date(text: str) -> str:
    raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a date (expected YYYY-MM-DD, such as 2026-12-01)")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def note(message: str) -> None:
    """A note for the reader on standard error (the answer goes to standard output)."""
    print(f"hipkg: note: {message}", file=sys.stderr)
