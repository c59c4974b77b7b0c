"""hipkg validate: SHACL validation of the bundled graph, optionally together with your files."""
from __future__ import annotations

import argparse
import textwrap

import hipkg
from hipkg import isolation
from hipkg.cli._common import add_format, positive, print_json, size
from hipkg.errors import InputError, ValidationStopped
from hipkg.results import table

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_MEMORY = 4 * 2**30


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="validate the knowledge graph (and FILEs) with SHACL",
        description="Validate the bundled knowledge graph with its SHACL shapes. Turtle FILEs you give are validated "
        "together with it (for example new statements you want to contribute). The quality-check queries (queries/qc) "
        "also run on the bundled graph; their findings are reported as warnings in a second table (JSON key \"qc\") "
        "and never change the exit code.",
        epilog="Reading the FILEs and validating them runs in a child process stopped at --timeout or --max-memory.\n"
        "exit codes: 0 conforms (warnings allowed), 1 violations, 2 unreadable or invalid input, or a limit reached\n"
        "example: hipkg validate my-statements.ttl --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="Turtle files to validate together with the bundled graph")
    p.add_argument("--max-bytes", type=positive(int, "a whole number of bytes"), default=None, metavar="N",
                   help="the largest FILE read (default: 10,485,760, 10 MiB)")
    p.add_argument("--timeout", type=positive(float, "a number of seconds"), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"stop reading and validating after SECONDS (default: {DEFAULT_TIMEOUT:g})")
    p.add_argument("--max-memory", type=size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                   help=f"stop when reading and validating need more than SIZE of memory beyond the loaded graph, "
                   f"e.g. 512M (default: {DEFAULT_MAX_MEMORY // 2**30}G)")
    add_format(p, ("table", "json"), "table")
    p.add_argument("--qc", action="store_true", help="list every quality-check warning (by default: one line that counts them "
                   "by check; --format json always lists them)")
    p.add_argument(
        "--validator",
        choices=("auto", "pyshacl", "turbo"),
        default="auto",
        help="SHACL engine; all give the same report: 'pyshacl' is pySHACL, the reference implementation "
        "(pure Python, slower); 'turbo' is pyshacl-turbo, a Rust engine with pySHACL's API, checked against "
        "pySHACL on every shape fixture by the test suite; 'auto' (default) uses turbo when it is installed, "
        "else pyshacl",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hipkg.rdfio import MAX_USER_FILE_BYTES, read_user_file  # imported when validate runs, not for --help (start-up time)

    kg = hipkg.load()

    def work() -> object:
        extra = [read_user_file(f, args.max_bytes or MAX_USER_FILE_BYTES) for f in args.files]
        return kg.validate(extra, validator=args.validator)

    report = isolation.run(work, timeout=args.timeout, max_memory=args.max_memory,
                           timed_out=lambda: ValidationStopped("time", args.timeout),
                           out_of_memory=lambda: ValidationStopped("memory", args.max_memory),
                           failed=lambda detail, _cause: InputError(f"validation failed ({detail})"))
    findings = quality_checks(kg)
    if args.format == "json":
        print_json({**report.to_json(), "qc": findings})
    else:
        for r in report.results:  # one block each: the message wrapped under its node, never squeezed into a column
            where = " ".join(x for x in (r.focus_node, r.path or "", f"= {(r.value or '')[:40]}" if r.value else "") if x)
            print(f"{r.severity}: {where}")
            print(textwrap.fill(r.message, 80, initial_indent="    ", subsequent_indent="    "))
        counts = {s: sum(r.severity == s for r in report.results) for s in ("Violation", "Warning", "Info")}
        verdict = "conforms" if report.conforms else "does not conform"
        print(f"{verdict}: {counts['Violation']} violations, {counts['Warning']} warnings, {counts['Info']} infos")
        if findings and args.qc:
            print()
            print(table(("quality check", "entity", "property", "value"),
                        ((f["check"], f["entity"], f["property"] or "", f["value"] or "") for f in findings)))
        by_check: dict[str, int] = {}
        for f in findings:
            by_check[str(f["check"])] = by_check.get(str(f["check"]), 0) + 1
        parts = [f"{check.removeprefix('qc/')} {n}" for check, n in sorted(by_check.items())]
        detail = f" ({', '.join(parts)})" if parts else ""
        listed = "" if args.qc or not findings else "; list them: hipkg validate --qc"
        print(f"quality checks: {len(findings)} warnings{detail}, not errors{listed}")  # one line, whatever the count
    return 0 if report.conforms else 1


def quality_checks(kg: object) -> list[dict[str, str | None]]:
    """Rows of every queries/qc/*.rq query on the bundled graph, as warnings: check, entity, property, value."""
    findings = []
    for query in kg.queries.group("qc"):  # type: ignore[attr-defined]
        for row in kg.query(query.name).to_dicts():  # type: ignore[attr-defined]
            findings.append({"check": query.name, "entity": row.get("entity"), "property": row.get("property"),
                             "value": row.get("value")})
    return findings
