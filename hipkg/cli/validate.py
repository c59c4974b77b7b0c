"""hipkg validate: SHACL validation of the bundled graph, optionally together with your files."""
from __future__ import annotations

import argparse

from hipkg.cli._common import add_format, print_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="validate the knowledge graph (and FILEs) with SHACL",
        description="Validate the bundled knowledge graph with its SHACL shapes. Turtle FILEs you give are validated "
        "together with it (for example new statements you want to contribute).",
        epilog="exit codes: 0 conforms (warnings allowed), 1 violations, 2 unreadable or invalid input\n"
        "example: hipkg validate my-statements.ttl --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="Turtle files to validate together with the bundled graph")
    add_format(p, ("table", "json"), "table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import hipkg
    from hipkg.graph import read_user_file

    extra = [read_user_file(f) for f in args.files]
    report = hipkg.load().validate(extra)
    if args.format == "json":
        print_json(report.to_json())
    else:
        if report.results:
            print(table(("severity", "focus node", "path", "value", "message"),
                        ((r.severity, r.focus_node, r.path or "", (r.value or "")[:40], r.message) for r in report.results)))
        counts = {s: sum(r.severity == s for r in report.results) for s in ("Violation", "Warning", "Info")}
        verdict = "conforms" if report.conforms else "does not conform"
        print(f"{verdict}: {counts['Violation']} violations, {counts['Warning']} warnings, {counts['Info']} infos")
    return 0 if report.conforms else 1
