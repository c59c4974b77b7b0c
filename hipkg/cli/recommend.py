"""hipkg recommend: which injection options fit a situation, and why."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import TYPE_CHECKING, Iterator

from hipkg.cli._common import add_format
from hipkg.engines import ENGINES
from hipkg.errors import InputError

if TYPE_CHECKING:
    from hipkg.recommending import Recommendation

EXAMPLE_JSON = '{"findings": ["ICD10CM:M16.11", "SNOMEDCT:239872002"], "allergies": ["RXNORM:6387"], "goal": "therapeutic"}'


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="which injection options fit a situation, and why",
        description="Evaluate every injection option (target x medication regimen x guidance x purpose) against a patient "
        "situation and report its status - fits, caution, avoid, not-indicated - with the encoded statements that apply "
        "and their source quotes. Informational only; no substitute for a clinician.",
        epilog=textwrap.dedent(f"""\
            situation file (.json, or .ttl holding one hipkg:Situation; '-' reads standard input):
              {EXAMPLE_JSON}
            findings prefixes: ICD10CM, SNOMEDCT (also SCTID, SNOMEDCT_US), hipkg   (case-insensitive)
            allergy prefixes:  RXNORM, SNOMEDCT, hipkg
            goals: therapeutic (default), diagnostic-and-therapeutic

            examples:
              hipkg recommend examples/hip-osteoarthritis-left.json
              hipkg recommend --finding ICD10CM:M16.12 --finding ICD10CM:Z79.01 --format json
              hipkg recommend --batch situations.jsonl > answers.jsonl

            exit codes: 0 answered, 2 bad input (the message names the bad value)"""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="situation file (.json or .ttl), or - for standard input")
    p.add_argument("--finding", action="append", default=[], metavar="CODE", help="a finding code (repeatable), instead of FILE")
    p.add_argument("--allergy", action="append", default=[], metavar="CODE", help="an allergy code (repeatable)")
    p.add_argument("--goal", metavar="GOAL", help="therapeutic (default) or diagnostic-and-therapeutic")
    p.add_argument("--batch", metavar="FILE", help="many situations: .jsonl (one JSON situation per line) or .csv (columns findings, "
                   "allergies, goal; codes separated by ';' or spaces); '-' reads JSON lines from standard input. One JSON answer "
                   "per line out, in input order, answered with one set of queries per chunk")
    p.add_argument("--chunk", type=int, default=1000, metavar="N", help="situations per query in --batch (default: 1000)")
    p.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="--batch: on a bad line, stop with exit 2 (fail, default) or write {\"line\": N, \"error\": ...} in its place and go on (skip)")
    p.add_argument("--engine", choices=ENGINES, help="SPARQL engine (default: oxigraph; rdflib is the slow reference)")
    p.add_argument("--endpoint", metavar="URL", help="run the queries on this SPARQL 1.1 endpoint instead (after hipkg push)")
    add_format(p, ("table", "json"), "table")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import hipkg
    from hipkg import situations

    given = [bool(args.file), bool(args.finding or args.allergy or args.goal), bool(args.batch)]
    if sum(given) != 1:
        raise InputError("give exactly one of: a situation FILE, --finding/--allergy/--goal, or --batch FILE.jsonl")
    if args.engine and args.endpoint:
        raise InputError("give either --engine or --endpoint, not both: with --endpoint the server's engine answers")
    kg = hipkg.load(engine=args.engine or "oxigraph", endpoint=args.endpoint)
    if args.batch:
        if args.chunk < 1:
            raise InputError(f"--chunk {args.chunk}: expected a positive number of situations")
        return _batch(kg, args.batch, args.chunk, args.on_error)
    if args.file:
        situation = situations.read(kg, args.file, sys.stdin.read() if args.file == "-" else None)
    else:
        if not args.finding:
            raise InputError("--finding is required (at least one) when no situation FILE is given")
        data = {"findings": args.finding, "allergies": args.allergy}
        if args.goal:
            data["goal"] = args.goal
        situation = situations.from_dict(kg, data, "command line")
    result = kg.recommend(situation)
    sys.stdout.write(result.dumps() if args.format == "json" else render_table(result))
    return 0


def _lines(path: str) -> "Iterator[tuple[int, object]]":
    """(line number, situation as dict or the raw text) for every non-empty line of a .jsonl or .csv batch."""
    import csv

    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read batch file ({exc.strerror})") from exc
    with stream:
        if path.lower().endswith(".csv"):
            reader = csv.DictReader(stream)
            missing = {"findings"} - set(reader.fieldnames or ())
            if missing:
                raise InputError(f"{path}: CSV header must name a 'findings' column (and optionally 'allergies', 'goal'); got {reader.fieldnames}")
            for row in reader:
                data: dict[str, object] = {"findings": (row.get("findings") or "").replace(";", " ").split()}
                if (row.get("allergies") or "").strip():
                    data["allergies"] = row["allergies"].replace(";", " ").split()
                if (row.get("goal") or "").strip():
                    data["goal"] = row["goal"].strip()
                extra = sorted(k for k in row if k not in ("findings", "allergies", "goal"))
                if extra:
                    data[extra[0]] = row[extra[0]]  # reported as an unknown key, like in JSON
                yield reader.line_num, data
        else:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield number, line


def _batch(kg: object, path: str, chunk: int, on_error: str) -> int:
    """Stream answers in input order; situations are answered chunk by chunk with one run of each query."""
    from hipkg import situations
    from hipkg.recommending import recommend_many

    progress = sys.stderr.isatty()
    pending: list[tuple[int, object]] = []  # (line, Situation or error message)
    done = 0

    def flush() -> None:
        nonlocal done
        valid = [item for _, item in pending if not isinstance(item, str)]
        answers = iter(recommend_many(kg, valid)) if valid else iter(())
        for number, item in pending:
            if isinstance(item, str):
                sys.stdout.write(json.dumps({"line": number, "error": item}, ensure_ascii=False) + "\n")
            else:
                sys.stdout.write(json.dumps(next(answers).to_json(), ensure_ascii=False) + "\n")
        done += len(pending)
        pending.clear()
        if progress:
            sys.stderr.write(f"\r{done} situations answered")
            sys.stderr.flush()

    for number, item in _lines(path):
        where = f"{path}:{number}"
        try:
            situation = situations.from_json(kg, item, where) if isinstance(item, str) else situations.from_dict(kg, item, where)
        except InputError as exc:
            if on_error == "fail":
                flush()
                raise
            print(f"hipkg: skipped {exc}", file=sys.stderr)
            pending.append((number, str(exc)))
        else:
            pending.append((number, situation))
        if len(pending) >= chunk:
            flush()
    flush()
    if progress:
        sys.stderr.write("\n")
    return 0


def render_table(result: "Recommendation") -> str:
    from hipkg.cli._common import table

    out = []
    s = result.to_json()["situation"]
    for kind in ("findings", "allergies"):
        for item in s[kind]:
            names = ", ".join(c["label"] for c in item["concepts"]) or "(unrecognized)"
            out.append(f"{kind[:-1]:8} {item['code']:22} {names}")
    out.append(f"goal     {s['goal']}")
    if result.unrecognized:
        out.append(f"unrecognized: {', '.join(result.unrecognized)} (no hipkg concept uses these codes)")
    for status, options in result.by_status().items():
        out.append(f"\n{status.upper()} ({len(options)})")
        if not options:
            continue
        rows = []
        for o in options:
            first = o.reasons[0] if o.reasons else None
            why = f"{first.kind}: {first.label} [{first.because}] - \u201c{first.source.quote}\u201d" if first else "no finding or goal indicates this target and purpose"
            more = f" (+{len(o.reasons) - 1} more)" if len(o.reasons) > 1 else ""
            rows.append((o.target, o.guidance, "+".join(o.medication_categories), o.purpose, why + more))
        if status == "not-indicated":
            out.append(f"  {len(options)} options; use --format json to list them")
            continue
        out.append(table(("target", "guidance", "medication", "purpose", "first reason and source"), rows))
    if result.advice:
        out.append("\nADVICE")
        for a in result.advice:
            out.append(f"- {a.label} [{', '.join(a.because)}] - \u201c{a.source.quote}\u201d ({a.source.section})")
    out.append("\n" + result.disclaimer)
    return "\n".join(out) + "\n"
