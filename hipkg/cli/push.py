"""hipkg push: load the knowledge graph into a SPARQL 1.1 server (Oxigraph, Fuseki, GraphDB, Virtuoso, ...)."""
from __future__ import annotations

import argparse
import re
import sys
import textwrap
from urllib.parse import quote

import hipkg
from hipkg.cli._common import add_format, print_json
from hipkg.errors import InputError


#: The defaults of hipkg.push.push, repeated here so that building the parser does not import urllib.request.
DEFAULT_CHUNK = 2000
DEFAULT_TIMEOUT = 120.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "push",
        help="load the knowledge graph into a SPARQL 1.1 server, for --endpoint",
        description="Load the knowledge graph's data graphs (schema, kb, mappings, derived, sources; never the shapes), "
        "merged, into a SPARQL 1.1 server with the Graph Store Protocol (HTTP PUT, or POST with --append), falling back "
        "to SPARQL Update (INSERT DATA in chunks) when the server has no store protocol at URL (HTTP 404, 405, 415, 501). "
        "Then 'hipkg query NAME --endpoint QUERY-URL' and 'hipkg recommend FILE --endpoint QUERY-URL' run the same "
        "queries there. The target graph is replaced unless --append. With --situations FILE, the situations of a batch "
        "file are loaded instead (always appended), for 'hipkg recommend --stored --endpoint QUERY-URL'.",
        epilog=textwrap.dedent("""\
            the queries read the default graph: push into it (the default), or use --graph IRI on a server whose
            default graph is the union of its named graphs (Oxigraph with --union-default-graph, GraphDB, Virtuoso,
            Fuseki/TDB2 with tdb2:unionDefaultGraph true).

            URLs (store URL for push; query URL for --endpoint elsewhere):
              Oxigraph  push http://HOST:7878/store                           query http://HOST:7878/query
              Fuseki    push http://HOST:3030/DATASET/data                    query http://HOST:3030/DATASET/sparql
              GraphDB   push http://HOST:7200/repositories/REPO/rdf-graphs/service   query http://HOST:7200/repositories/REPO
              Virtuoso  push http://USER:PASS@HOST:8890/sparql-graph-crud-auth --graph IRI   query http://HOST:8890/sparql
            user name and password in the URL are sent with HTTP Basic or Digest authentication and never printed.

            examples:
              oxigraph serve --location /tmp/hipkg-store --bind 127.0.0.1:7878 &
              hipkg push --endpoint http://127.0.0.1:7878/store
              hipkg query knowledge/contraindications --endpoint http://127.0.0.1:7878/query
              hipkg recommend examples/hip-osteoarthritis-left.json --endpoint http://127.0.0.1:7878/query \\
                  --update-endpoint http://127.0.0.1:7878/update
              hipkg push --endpoint http://127.0.0.1:7878/store --situations patients.jsonl
              hipkg recommend --stored --endpoint http://127.0.0.1:7878/query > answers.jsonl

            exit codes: 0 pushed, 2 bad input, unreachable server or refused request"""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--endpoint", required=True, metavar="URL", help="the server's Graph Store Protocol URL (see below)")
    p.add_argument("--graph", metavar="IRI", help="load into this named graph (an IRI or CURIE) instead of the default graph")
    p.add_argument("--update-endpoint", metavar="URL",
                   help="SPARQL Update URL for the fallback (default: --endpoint itself), e.g. http://HOST:7878/update")
    p.add_argument("--update", action="store_true", help="use SPARQL Update directly, without trying the Graph Store Protocol")
    p.add_argument("--append", action="store_true", help="add to what the target graph holds instead of replacing it")
    p.add_argument("--situations", metavar="FILE", help="load the situations of FILE (.jsonl or .csv, as for 'hipkg recommend "
                   "--batch') instead of the knowledge graph, always appending; every line is checked first, and one bad "
                   "line stops the push before anything is sent")
    p.add_argument("--base", metavar="IRI", help="--situations: each situation's IRI is BASE followed by its line number "
                   "(default: urn:hipkg:situation:FILE-NAME:)")
    p.add_argument("--chunk", type=int, default=DEFAULT_CHUNK, metavar="N",
                   help=f"triples per INSERT DATA request in the SPARQL Update fallback (default: {DEFAULT_CHUNK})")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"HTTP timeout per request (default: {DEFAULT_TIMEOUT:g})")
    add_format(p, ("text", "json"), "text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hipkg.push import push  # the graph stack is imported only when a command runs, not for --help (start-up time)

    kg = hipkg.load()
    groups = None
    if args.situations:
        groups = _situations(kg, args.situations, args.base)
    elif args.base:
        raise InputError("--base goes with --situations FILE")
    report = push(kg, args.endpoint, graph=args.graph, update_endpoint=args.update_endpoint, append=args.append or bool(groups),
                  chunk=args.chunk, timeout=args.timeout, force_update=args.update, groups=groups)
    if args.format == "json":
        print_json(report.to_json())
    else:
        sys.stdout.write(report.describe() + "\n")
    return 0


def _situations(kg: object, path: str, base: str | None) -> list[list[str]]:
    """Every situation of a batch file as N-Triples, a group each, or an InputError naming the first bad line."""
    from hipkg.batch import parse_line, read_lines  # the batch machinery is imported only for --situations (start-up time)
    from hipkg.push import situation_triples  # the graph stack is imported only when a command runs, not for --help (start-up time)

    if base is None:
        base = "urn:hipkg:situation:" + (re.sub(r"[^A-Za-z0-9._-]", "-", path.rsplit("/", 1)[-1]) or "stdin") + ":"
    parsed = []
    for number, raw in read_lines(path):
        case, situation = parse_line(kg.vocabulary, raw, f"{path}:{number}")
        # a line's own "case" id names its IRI (percent-encoded); otherwise its line number does
        parsed.append((f"{base}{quote(case, safe='') if case is not None else number}", situation))
    if not parsed:
        raise InputError(f"{path}: no situations to push")
    return situation_triples(kg, parsed)
