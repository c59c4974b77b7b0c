"""hipkg recommend: which injection options fit a situation, and why."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import textwrap
from typing import TYPE_CHECKING

import hipkg
from hipkg.cli._common import iso_date, positive
from hipkg.engines import ENGINES
from hipkg.errors import InputError

if TYPE_CHECKING:
    from hipkg.graph import KnowledgeGraph
    from hipkg.recommending import Recommendation

EXAMPLE_JSON = '{"findings": ["ICD10CM:M16.11", "SNOMEDCT:239872002"], "allergies": ["RXNORM:6387"], "goal": "therapeutic"}'


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend",
        help="which injection options fit a situation, and why",
        description="Evaluate every injection option (target x medication regimen x guidance x purpose) against a patient "
        "situation and report its status - fits, caution, check, avoid, not-indicated - with the encoded statements that apply "
        "and their source quotes. Informational only; no substitute for a clinician.",
        epilog=textwrap.dedent(f"""\
            situation file (.json, or .ttl holding one hipkg:Situation; '-' reads standard input):
              {EXAMPLE_JSON}
            or FHIR R4 (checked with the fhir.resources R4B models): a Bundle of one patient's resources (.json), or the
              resources one per line (.ndjson); --batch reads one Bundle per line. Conditions, AllergyIntolerances,
              Observations, Procedures, ServiceRequests (planned), MedicationStatements and MedicationRequests are read by
              their status codes (hipkg query fhir/readings); the answer lists every resource left out, and why, under
              "read", and codings of systems hipkg does not read under "unrecognized". The reference date: --date, else the
              Bundle's timestamp, else today.
            findings prefixes: ICD10CM, SNOMEDCT (also SCTID, SNOMEDCT_US), hipkg   (case-insensitive)
            allergy prefixes:  RXNORM, SNOMEDCT, hipkg
            goals: therapeutic (default), diagnostic-and-therapeutic
            policies: source (default: the source's rules only; guideline recommendations are shown with each option)
                      guidelines (also the verified, current guideline recommendations as rules of kind guideline)

            examples:
              hipkg recommend examples/hip-osteoarthritis-left.json
              hipkg recommend --finding ICD10CM:M16.12 --finding ICD10CM:Z79.01 --format json
              hipkg recommend examples/guidelines-hip-osteoarthritis.json --policy guidelines
              hipkg recommend examples/fhir/v2-hba1c-ifcc-units.json --date 2026-12-01
              hipkg recommend --batch situations.jsonl > answers.jsonl       (workers once there are 2+ chunks)
              hipkg recommend --batch situations.parquet --format parquet --output answers/   (tables; README: Answers in columns)
              hipkg recommend FILE --endpoint http://HOST:7878/query --update-endpoint http://HOST:7878/update
              hipkg recommend --stored --endpoint http://HOST:7878/query     (after 'hipkg push --situations FILE')

            exit codes: 0 answered, 2 bad input (the message names the bad value; in a batch, after the answers before it),
              130 or 143 a batch interrupted by SIGINT or SIGTERM (whole lines written; the message names the --start-line to continue from)"""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="situation file (.json or .ttl), or - for standard input")
    p.add_argument("--finding", action="append", default=[], metavar="CODE", help="a finding code (repeatable), instead of FILE")
    p.add_argument("--allergy", action="append", default=[], metavar="CODE", help="an allergy code (repeatable)")
    p.add_argument("--goal", metavar="GOAL", help="therapeutic (default) or diagnostic-and-therapeutic")
    p.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD", help="FHIR input: the reference date (default: the Bundle's "
                   "timestamp, else today); a hipkg situation gives its own \"date\"")
    p.add_argument("--policy", metavar="POLICY", help="source (default) or guidelines: which statements the answer applies "
                   "(overrides the situation's \"policy\"; in a --batch, set \"policy\" in each situation)")
    p.add_argument("--batch", metavar="FILE", help="many situations: .jsonl (one JSON situation per line, with an optional \"case\" id), "
                   ".csv (columns findings, allergies, goal, policy, case; codes separated by ';' or spaces) or .parquet (a column per "
                   "situation key, or 'situation' as JSON text, and 'case'); '-' reads JSON lines from standard input. One JSON answer "
                   "per line out, in input order, answered with one set of queries per chunk")
    p.add_argument("--stored", action="store_true",
                   help="answer every hipkg:Situation the --endpoint server holds (see 'hipkg push --situations'): one JSON line "
                   "per situation, in IRI order, each with its \"case\" IRI")
    p.add_argument("--chunk", type=positive(int, "a whole number of situations"), default=1000, metavar="N",
                   help="situations per query in --batch and --stored (default: 1000)")
    p.add_argument("--jobs", type=positive(int, "a whole number of processes"), default=min(os.cpu_count() or 1, 4), metavar="N",
                   help="--batch and --stored: worker processes once there is more than one chunk (default: the number of CPUs, "
                   "at most 4; 1 answers everything in this process)")
    p.add_argument("--max-codes", type=positive(int, "a whole number"), default=None, metavar="N",
                   help="FILE: the most entries a list of the situation (findings, allergies, observations, ...) may hold (default: 1,000)")
    p.add_argument("--max-bytes", type=positive(int, "a whole number of bytes"), default=None, metavar="N",
                   help="FILE: the largest situation file read (default: 10,485,760, 10 MiB)")
    p.add_argument("--max-line-bytes", type=positive(int, "a whole number of bytes"), default=None, metavar="N",
                   help="--batch of JSON lines: a longer line is answered with an error record, not read (default: 1048576, 1 MiB)")
    p.add_argument("--start-line", type=positive(int, "a line number"), default=1, metavar="N",
                   help="--batch: answer from line N on, numbering lines as before (after an interrupted batch: the line it names)")
    p.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="--batch and --stored: on a bad situation, stop with exit 2 after the answers before it (fail, default), or "
                   "write {\"line\": N, \"error\": ...} ({\"case\": IRI, ...} with --stored) in its place and go on (skip)")
    p.add_argument("--all", action="store_true", help="--format table: after the rules, every option with its status (by "
                   "default the matrix of status letters stands for them)")
    p.add_argument("--engine", choices=ENGINES, help="SPARQL engine (default: oxigraph; rdflib is the slow reference)")
    p.add_argument("--endpoint", metavar="URL", help="run the queries on this SPARQL 1.1 endpoint instead (after hipkg push); the "
                   "situations are loaded into it for as long as they are answered")
    p.add_argument("--update-endpoint", metavar="URL", help="with --endpoint: where SPARQL Update loads and removes the situations "
                   "(default: the --endpoint URL; Oxigraph: http://HOST:PORT/update)")
    p.add_argument("--format", "-f", choices=("table", "json", "svg", "html", "parquet"), default=None,
                   help="output format (default: table): json, the answer; svg, the option matrix as a picture; html, one "
                   "self-contained printable report (matrix, questions, each rule once, options). --batch and --stored "
                   "write JSON lines, or with parquet and --output DIR the tables of the README's 'Answers in columns' "
                   "(pip install 'hipkg[cohort]')")
    p.add_argument("--output", "-o", metavar="DIR", help="--format parquet: the folder for the tables (one .parquet file each, and "
                   "run.json with the counts); it must not hold answers already")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hipkg import situations  # the graph stack is imported only when a command runs, not for --help (start-up time)

    given = [bool(args.file), bool(args.finding or args.allergy or args.goal), bool(args.batch), args.stored]
    if sum(given) != 1:
        raise InputError("give exactly one of: a situation FILE, --finding/--allergy/--goal, --batch FILE.jsonl, or --stored")
    if args.engine and args.endpoint:
        raise InputError("give either --engine or --endpoint, not both: with --endpoint the server's engine answers")
    if args.update_endpoint and not args.endpoint:
        raise InputError("--update-endpoint goes with --endpoint URL")
    if args.date and not args.file:
        raise InputError("--date goes with a FHIR situation FILE; a --batch line or a hipkg situation gives its own date")
    if args.policy and (args.batch or args.stored):
        raise InputError("--policy applies to one situation; in a --batch or --stored, each situation names its \"policy\"")
    if (args.format == "parquet") != bool(args.output):
        raise InputError("--format parquet writes tables to a folder: give both --format parquet and --output DIR (with --batch or --stored)")
    if args.format == "parquet" and not (args.batch or args.stored):
        raise InputError("--format parquet is for many situations: give --batch FILE or --stored")
    if args.stored and not args.endpoint:
        raise InputError("--stored answers the situations a server holds: give its --endpoint URL")
    kg = hipkg.load(engine=args.engine or "oxigraph", endpoint=args.endpoint, update_endpoint=args.update_endpoint)
    if args.batch or args.stored:
        if args.format not in (None, "json", "parquet"):
            raise InputError(f"--batch and --stored write JSON lines, one answer per line, or --format parquet; --format {args.format} "
                             "is for one situation")
        return _batch(kg, args)
    if args.file:
        max_bytes = args.max_bytes or situations.MAX_SITUATION_BYTES
        fhir_read = lambda data, where: kg.fhir.situation(data, where, args.date)  # noqa: E731
        situation = situations.read(kg.vocabulary, args.file, kg.validate_situation, sys.stdin.read(max_bytes + 1) if args.file == "-" else None,
                                    args.max_codes or situations.MAX_ENTRIES, max_bytes, fhir_read)
        if args.date and situation.reading is None:
            raise InputError(f"{args.file}: --date is for FHIR input; a hipkg situation gives its own \"date\"")
        if args.policy:
            situation = situations.with_policy(kg.vocabulary, situation, args.policy, "--policy")
    else:
        if not args.finding:
            raise InputError("--finding is required (at least one) when no situation FILE is given")
        data = {"findings": args.finding, "allergies": args.allergy}
        if args.goal:
            data["goal"] = args.goal
        if args.policy:
            data["policy"] = args.policy
        situation = situations.from_dict(kg.vocabulary, data, "command line")
    result = kg.recommend(situation)
    sys.stdout.write(render(kg, result, args.format or "table", args.all))
    return 0


def render(kg: "KnowledgeGraph", result: "Recommendation", fmt: str, every_option: bool = False) -> str:
    """One answer in the chosen format."""
    if fmt == "json":
        return result.dumps()
    from hipkg import answer_html, matrix, report  # the renderings, only when a command runs (start-up time)

    if fmt == "table":
        return report.text(result.to_json(), kg.term_labels, every_option)
    if fmt == "svg":
        return matrix.svg(result.to_json(), kg.term_labels) + "\n"
    statuses = [(s.slug, s.label[:1].upper() + s.label[1:], s.definition) for s in kg.vocabulary.statuses]
    return answer_html.page(result.to_json(), kg.term_labels, statuses)


def _batch(kg: "KnowledgeGraph", args: argparse.Namespace) -> int:
    """Stream answers in input order, a chunk per query run; the chunks run in worker processes when there are several."""
    from hipkg.batch import MAX_LINE_BYTES, Answered, Batch, read_lines  # the batch machinery is imported only for a batch (start-up time)

    progress = sys.stderr.isatty()
    done = 0
    sys.stdout.flush()
    out = sys.stdout.buffer

    def report(answered: Answered, count: int) -> None:
        nonlocal done
        for message in answered.skipped:
            print(f"hipkg: skipped {message}", file=sys.stderr)
        if answered.failed:
            raise InputError(answered.failed)
        done += count
        if progress:
            sys.stderr.write(f"\r{done:,} situations answered")
            sys.stderr.flush()

    sink = None
    if args.format == "parquet":
        from hipkg.columnar import ParquetSink  # only when the command runs, not for --help (start-up time)

        sink = ParquetSink(args.output)
    batch = Batch(kg.recommender, sink or out, report, "stored" if args.stored else args.batch, args.on_error == "fail", args.chunk, args.jobs)

    previous = {s: signal.signal(s, batch.interrupt) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if args.stored:
            for case in kg.recommender.stored_cases():
                batch.add_case(str(case))
        else:
            for number, raw in read_lines(args.batch, args.max_line_bytes or MAX_LINE_BYTES):
                if number >= args.start_line:
                    batch.add_line(number, raw)
        batch.close()
        if sink is not None:
            summary = sink.close(kg.recommender, {"input": "stored" if args.stored else args.batch})
            print(f"hipkg: {summary['cases']:,} cases: {summary['answered']:,} answered, {summary['errors']:,} skipped "
                  f"(an error in their 'cases' row), {summary['unrecognized_only']:,} naming no code the graph uses; "
                  f"tables in {args.output}", file=sys.stderr)
    except BaseException:
        batch.abort()  # stops the workers and removes the spool; what came before is written, whole
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        out.flush()
        if progress:
            sys.stderr.write("\n")
    return 0


