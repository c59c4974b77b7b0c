"""hipkg queries / hipkg query: list the query library, run a library query or any read-only SPARQL query of yours.

A thin caller of hipkg.sparql (checks, binding, the child process killed at --timeout) and hipkg.results (formats).
"""
from __future__ import annotations

import argparse
import sys
import textwrap

import hipkg
from hipkg.cli._common import add_format, note, positive, print_json, size
from hipkg.engines import ENGINES, EndpointEngine
from hipkg.errors import InputError
from hipkg.queries import QueryLibrary
from hipkg.results import render, table
from hipkg.sparql import DEFAULT_LIMIT, DEFAULT_MAX_MEMORY, DEFAULT_TIMEOUT, bind_params, evaluate, isolated

FORMATS = ("table", "records", "csv", "tsv", "json", "turtle")




def register(sub: argparse._SubParsersAction) -> None:
    # COMMANDS lists this module under both "queries" and "query"; add each parser once.
    if "queries" not in sub.choices:
        p = sub.add_parser(
            "queries",
            help="list the query library (name, parameters, summary)",
            description="List the bundled SPARQL queries (queries/*/*.rq) with their parameters and what each answers.",
            epilog="parameter notation: NAME ?var:iri|literal [one|optional|many, default=...]\n"
            "examples:\n  hipkg queries\n  hipkg queries faq\n  hipkg queries --format json",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("folder", nargs="?", metavar="FOLDER", help="only queries under this folder (e.g. knowledge, faq, qc)")
        add_format(p, ("table", "json"), "table")
        p.set_defaults(run=run_list)
    if "query" not in sub.choices:
        p = sub.add_parser(
            "query",
            help="run a library query, or a SPARQL query file of yours, on the bundled graph",
            description="Run one library query (see 'hipkg queries') with bound parameters, or any SPARQL SELECT, ASK, "
            "CONSTRUCT or DESCRIBE query from --file, over the bundled knowledge graph. Parameter values are bound as "
            "validated RDF terms, never pasted into query text; IRI parameters accept a full IRI, a CURIE (hipkg:X) "
            "or a label / alternative label (case-insensitive, must name exactly one thing).",
            epilog=textwrap.dedent("""\
                safety (applies to every query, library or file):
                  updates (INSERT, DELETE, LOAD, CLEAR, DROP, CREATE, ADD, MOVE, COPY) are refused (exit 2);
                  SERVICE is refused unless --allow-service;
                  FROM and FROM NAMED are refused (exit 2): nothing is ever fetched, the query always runs on the bundled graph;
                  evaluation stops at --timeout or at --max-memory (exit 2), and at most --limit rows (or triples) are
                  returned: evaluation stops at row N+1 unless the query must see every row first (ORDER BY,
                  DISTINCT, GROUP BY), where --max-memory bounds it.
                with --endpoint URL the same checked text is sent to that SPARQL 1.1 query endpoint (after 'hipkg push');
                  --timeout is then the HTTP timeout, and the server's own time limit applies (oxigraph serve --timeout-s).

                formats: table (aligned, default), csv and tsv (a header row, IRIs as CURIEs where a prefix is known),
                  json (SPARQL 1.1 Query Results JSON, SELECT and ASK), turtle (CONSTRUCT and DESCRIBE).

                examples:
                  hipkg query faq/cortisone-shot
                  hipkg query knowledge/indications --param target="trochanteric bursa injection"
                  hipkg query knowledge/medication-categories --param category=hipkg:Corticosteroid --format json
                  hipkg query recommend/reached --param codes=ICD10CM:M16.11 --param codes=hipkg:Fever
                  hipkg query --file my.rq --format csv --timeout 5 --max-memory 512M
                  hipkg query knowledge/contraindications --endpoint http://127.0.0.1:7878/query

                exit codes: 0 answered, 2 bad input, refused query, syntax error, timeout or memory limit"""),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("name", nargs="?", metavar="NAME", help="library query name, e.g. knowledge/contraindications")
        p.add_argument("--file", metavar="FILE.rq", help="run the SPARQL query in FILE ('-' reads standard input) instead of a library query")
        p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                       help="bind a parameter (repeatable; KEY=v1,v2 gives one row of a multi-column parameter; repeat KEY for more rows)")
        p.add_argument("--format", "-f", choices=FORMATS, default=None,
                       help="output format (default: the query's layout, table for most; records, a block per row, for the FAQ)")
        p.add_argument("--timeout", type=positive(float, "a number of seconds"), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"stop evaluation after SECONDS (default: {DEFAULT_TIMEOUT:g})")
        p.add_argument("--limit", type=positive(int, "a whole number"), default=DEFAULT_LIMIT, metavar="N",
                       help=f"return at most N rows or triples; a note on stderr says when the answer was cut (default: {DEFAULT_LIMIT})")
        p.add_argument("--max-memory", type=size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                       help=f"stop evaluation when it needs more than SIZE of memory beyond the loaded graph, e.g. 512M "
                       f"or 4G (default: {DEFAULT_MAX_MEMORY // 2**30}G; in-process engines only)")
        p.add_argument("--allow-service", action="store_true", help="allow SERVICE clauses (federated queries reach the network)")
        p.add_argument("--engine", choices=ENGINES,
                       help="in-process SPARQL engine (default: oxigraph; rdflib is the slow reference, with the same answers)")
        p.add_argument("--endpoint", metavar="URL", help="run the query on this SPARQL 1.1 query endpoint instead of in-process "
                       "(after 'hipkg push'); --timeout is then the HTTP timeout")
        p.set_defaults(run=run_query)


def run_list(args: argparse.Namespace) -> int:
    library = QueryLibrary.bundled()
    queries = list(library.group(args.folder.strip("/")) if args.folder else library)
    if args.folder and not queries:
        raise InputError(f"no queries under {args.folder!r}; folders: {', '.join(sorted({n.split('/')[0] for n in library.names()}))}")
    if args.format == "json":
        print_json([q.to_json() for q in queries])
        return 0
    rows = ((q.name, ", ".join(f"{p.name} ({p.cardinality})" for p in q.params), q.summary) for q in queries)
    print(table(("name", "parameters", "summary"), rows))
    print("\nparameter details: hipkg queries --format json; run one: hipkg query NAME --param KEY=VALUE")
    return 0



# ---------------------------------------------------------------------------------------------- hipkg query


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read query file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def _pairs(given: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in given:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param {item!r}: expected KEY=VALUE")
        pairs.append((key.strip(), raw))
    return pairs


def run_query(args: argparse.Namespace) -> int:
    if bool(args.name) == bool(args.file):
        raise InputError("give exactly one of: a library query NAME (see 'hipkg queries') or --file FILE.rq")
    layout = "table"
    if args.file:
        if args.param:
            raise InputError("--param binds library query parameters; it cannot be used with --file")
        text, label = _read_text(args.file), args.file
    else:
        query = QueryLibrary.bundled().get(args.name)
        values = bind_params(hipkg.load().data, query, _pairs(args.param))
        text, label, layout = query.bind(**values), f"query {query.name}", query.layout
    if args.endpoint:
        if args.engine:
            raise InputError("give either --engine or --endpoint, not both: with --endpoint the server's engine answers")
        result = evaluate(EndpointEngine(args.endpoint, timeout=args.timeout), text, limit=args.limit,
                          allow_service=args.allow_service, name=label)
    else:
        engine = hipkg.load(engine=args.engine or "oxigraph").engine  # loaded before forking: the child inherits it
        result = isolated(engine, text, timeout=args.timeout, limit=args.limit, allow_service=args.allow_service, name=label,
                          max_memory=args.max_memory)
    sys.stdout.write(render(result, args.format or layout, note))
    if result.truncated:
        what = "triples" if result.graph is not None else "rows"
        print(f"hipkg: note: the answer was cut to the first {args.limit} {what} (--limit {args.limit})", file=sys.stderr)
    return 0
