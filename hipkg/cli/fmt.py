"""hipkg fmt: keep ontology Turtle files in their one canonical form."""
from __future__ import annotations

import argparse
from pathlib import Path

from hipkg.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fmt",
        help="rewrite ontology Turtle files in canonical sorted form",
        description="Rewrite Turtle files in hipkg's canonical form (rdflib longturtle, sorted, fixed prefixes; a leading "
        "comment block is kept). With --check nothing is written and the exit code says whether any file would change.",
        epilog="exit codes: 0 all canonical (or rewritten), 1 --check found files to rewrite, 2 unreadable or invalid Turtle",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", default=["ontology"], help="files or folders (default: ontology)")
    p.add_argument("--check", action="store_true", help="only report files that are not canonical")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hipkg.canonical import format_files, ontology_files  # rdflib's Turtle writer only when fmt runs, not for --help (start-up time)

    paths: list[Path] = []
    for given in args.paths:
        p = Path(given)
        if p.is_dir():
            paths.extend(ontology_files(p))
        elif p.is_file():
            paths.append(p)
        else:
            raise InputError(f"{given}: no such file or folder")
    changed = format_files(paths, check=args.check)
    for path in changed:
        print(f"{'would rewrite' if args.check else 'rewrote'} {path}")
    if args.check and changed:
        return 1
    print(f"{len(paths) - len(changed) if args.check else len(paths)} of {len(paths)} files canonical")
    return 0
