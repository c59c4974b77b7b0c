"""hipkg export: the knowledge graph in RDF, SKOS, SSSOM, FHIR, graph and table formats."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import hipkg
from hipkg.errors import InputError
from hipkg.export import EXPORTERS, export


def register(sub: argparse._SubParsersAction) -> None:
    width = max(len(n) for n in EXPORTERS)
    formats = "\n".join(f"  {name.ljust(width)}  {e.description}" for name, e in EXPORTERS.items())
    p = sub.add_parser(
        "export",
        help="export the knowledge graph (RDF, SKOS, SSSOM, FHIR, GraphML, CSV, ...)",
        description="Write the knowledge graph (schema, kb, mappings and derived facts; not the SHACL shapes or "
        "source full texts) in another format, to standard output or to a file.",
        epilog=f"formats:\n{formats}\n\nexit codes: 0 written, 2 unknown format or unwritable output\n"
        "example: hipkg export --to fhir -o hipkg-fhir.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--to", "-t", required=True, choices=list(EXPORTERS), metavar="FORMAT",
                   help=f"output format, one of: {', '.join(EXPORTERS)}")
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of standard output")
    p.set_defaults(run=run)


def write(data: str | bytes, output: str | None) -> None:
    """Write to a file or stdout; an unwritable path becomes an InputError that names it."""
    if output is None or output == "-":
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(data)
        return
    path = Path(output)
    try:
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write file ({exc.strerror or exc})") from exc


def run(args: argparse.Namespace) -> int:
    write(export(hipkg.load(), args.to), args.output)
    return 0
