"""hipkg serve: the knowledge graph over HTTP (SPARQL endpoint, JSON API, web pages); see hipkg/serve/."""
from __future__ import annotations

import argparse
import ipaddress
import sys
import textwrap
import urllib.parse

from hipkg.cli._common import positive
from hipkg.errors import InputError
from hipkg.http import public_url
from hipkg.serve import serve
from hipkg.serve.config import Limits

D = Limits()


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0 (any free port) to 65535")
    return value


def _origin(text: str) -> str:
    origin = text.strip().rstrip("/")
    if origin == "*" or not origin.startswith(("http://", "https://")) or "/" in origin.split("://", 1)[1]:
        raise argparse.ArgumentTypeError("give one origin such as https://example.org (scheme://host[:port], no path, not *)")
    return origin


def _fhir_server(text: str) -> str:
    """A FHIR base URL the operator trusts: https, or http on a loopback address; no credentials in it."""
    parts = urllib.parse.urlsplit(text.strip())
    try:
        loopback = parts.hostname is not None and (parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback)
    except ValueError:
        loopback = False
    if not parts.hostname or parts.username or parts.password or not (parts.scheme == "https" or (parts.scheme == "http" and loopback)):
        raise argparse.ArgumentTypeError(f"{public_url(text)[:80]!r}: give a FHIR base URL such as https://ehr.example.org/fhir "
                                         "(https, or http on loopback; no user name or password)")
    return text.strip().rstrip("/")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the graph over HTTP: SPARQL endpoint, JSON API and web pages",
        description="Serve the bundled knowledge graph over HTTP, read-only: a SPARQL 1.1 Protocol endpoint, a JSON API "
        "(recommendations and the query library) and web pages (a situation form with autocomplete, answers grouped "
        "by status with their source quotes, a page per concept). Needs the 'serve' extra: pip install 'hipkg[serve]'.",
        epilog=textwrap.dedent("""\
            routes:
              GET  /                          web page: situation form and answer (?finding=...&allergy=...&goal=...)
              GET  /concept/CURIE             web page of one concept (e.g. /concept/hipkg:HipOsteoarthritis)
              GET  /sparql                    service description (Turtle) when no query is given
              GET|POST /sparql                SPARQL 1.1 query: ?query=..., form body query=..., or application/sparql-query
              POST /recommend                 {"findings": [...], "allergies": [...], "goal": ...}, or a FHIR R4 Bundle -> JSON answer
              GET  /cds-services              CDS Hooks 2.0 discovery; POST /cds-services/ID (cards), POST /cds-services/ID/feedback
              GET  /queries                   the query library; GET /queries/NAME?param=value runs one
              GET  /openapi.json, /healthz    API description; liveness and limits

            answers: SELECT/ASK as SPARQL Results JSON (default), XML, CSV or TSV; CONSTRUCT/DESCRIBE as Turtle
              (default), N-Triples or JSON-LD, chosen by the Accept header (406 if none fits).

            safety: read-only (updates 403); SERVICE, FROM, FROM NAMED, default-graph-uri, named-graph-uri refused (400)
              and query workers cannot open network connections; a query past --timeout is stopped by killing its
              worker (504), which is replaced at once; answers are cut at --max-rows / --max-bytes (header
              Hipkg-Truncated); bigger requests get 413; more than --max-concurrent queries at once get 503.
              Errors are short and never repeat the request. CORS is off unless --cors allows one origin. CDS Hooks calls
              without their prefetch get 412: nothing is fetched from a FHIR server unless --allow-fhir-fetch names it.

            examples:
              hipkg serve                                  # http://127.0.0.1:8000/
              hipkg serve --port 0                         # any free port; the first line printed names it
              hipkg serve --cors https://app.example.org --timeout 5 --workers 4
              curl -H 'Accept: text/csv' --data-urlencode 'query=SELECT ?p WHERE { ?p a hipkg:Pro }' http://127.0.0.1:8000/sparql
              curl -H 'Content-Type: application/json' -d '{"findings": ["ICD10CM:M16.12"]}' http://127.0.0.1:8000/recommend

            exit codes: 0 stopped cleanly (Ctrl-C or SIGTERM), 2 bad usage, port in use, or the 'serve' extra missing"""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only; "
                   "anything else exposes the server to your network)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument("--cors", type=_origin, metavar="ORIGIN", help="allow this one origin to call the API from a browser (default: CORS off)")
    p.add_argument("--timeout", type=positive(float, "a number of seconds"), default=D.timeout, metavar="SECONDS",
                   help=f"time limit per query or recommendation; the worker is killed at the deadline (default: {D.timeout:g})")
    p.add_argument("--max-rows", type=positive(int, "a whole number"), default=D.max_rows, metavar="N",
                   help=f"rows (or triples) per answer (default: {D.max_rows})")
    p.add_argument("--max-bytes", type=positive(int, "a whole number"), default=D.max_bytes, metavar="N",
                   help=f"bytes per answer (default: {D.max_bytes})")
    p.add_argument("--max-request-bytes", type=positive(int, "a whole number"), default=D.max_request_bytes, metavar="N",
                   help=f"bytes per request body or URL query string (default: {D.max_request_bytes})")
    p.add_argument("--workers", type=positive(int, "a whole number"), default=D.workers, metavar="N",
                   help=f"query worker processes (default: {D.workers})")
    p.add_argument("--max-concurrent", type=positive(int, "a whole number"), default=D.max_concurrent, metavar="N",
                   help=f"queries running or waiting at once; more get 503 (default: {D.max_concurrent})")
    p.add_argument("--max-recommend", type=positive(int, "a whole number"), default=D.max_recommend, metavar="N",
                   help=f"recommendations answered at once, in the server process apart from the query workers, so that slow "
                   f"SPARQL cannot starve them; more get 503 (default: {D.max_recommend})")
    p.add_argument("--allow-fhir-fetch", action="append", default=[], type=_fhir_server, metavar="URL",
                   help="CDS Hooks: fetch missing prefetch from this FHIR server (base URL, repeatable; a call's fhirServer must "
                   "be one of these or below one; https, or http on loopback). Default: never fetch, answer 412")
    p.add_argument("--quiet", action="store_true", help="no access log, warnings only")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.max_concurrent < args.workers:
        raise InputError("--max-concurrent must be at least --workers")
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"hipkg: warning: listening on {args.host}, not loopback: other machines can reach this server", file=sys.stderr)
    limits = Limits(timeout=args.timeout, max_rows=args.max_rows, max_bytes=args.max_bytes,
                    max_request_bytes=args.max_request_bytes, workers=args.workers, max_concurrent=args.max_concurrent,
                    max_recommend=args.max_recommend, fhir_servers=tuple(args.allow_fhir_fetch))
    serve(args.host, args.port, limits, args.cors, args.quiet)
    return 0
