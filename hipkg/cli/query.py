"""hipkg queries / hipkg query: list the query library, run a library query or any read-only SPARQL query of yours.

Any query text is checked on rdflib's parse tree before it runs: updates are refused, SERVICE is refused unless
--allow-service, and FROM / FROM NAMED are refused (rdflib would otherwise fetch those graphs from the web).
Evaluation runs in a child process that is killed at the --timeout deadline, because rdflib cannot be
interrupted inside a thread.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import sys
import textwrap
from typing import TYPE_CHECKING, Any

from hipkg.cli._common import add_format, positive, print_json, table
from hipkg.engines import ENGINES
from hipkg.errors import InputError
from hipkg.safety import check_query

if TYPE_CHECKING:
    from rdflib import URIRef

    from hipkg.graph import KnowledgeGraph
    from hipkg.queries import Query, Result

DEFAULT_TIMEOUT = 30.0
DEFAULT_LIMIT = 10_000
FORMATS = ("table", "csv", "tsv", "json", "turtle")




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
                  evaluation stops at --timeout (exit 2), and at most --limit rows (or triples) are returned.
                with --endpoint URL the same checked text is sent to that SPARQL 1.1 query endpoint (after 'hipkg push');
                  --timeout is then the HTTP timeout, and the server's own time limit applies (oxigraph serve --timeout-s).

                formats: table (aligned, default), csv and tsv (a header row, IRIs as CURIEs where a prefix is known),
                  json (SPARQL 1.1 Query Results JSON, SELECT and ASK), turtle (CONSTRUCT and DESCRIBE).

                examples:
                  hipkg query faq/cortisone-shot
                  hipkg query knowledge/indications --param target="trochanteric bursa injection"
                  hipkg query knowledge/medication-categories --param category=hipkg:Corticosteroid --format json
                  hipkg query recommend/reached --param codes=M16.11,ICD10CM:M16.11 --param codes=x,hipkg:Fever
                  hipkg query --file my.rq --format csv --timeout 5
                  hipkg query knowledge/contraindications --endpoint http://127.0.0.1:7878/query

                exit codes: 0 answered, 2 bad input, refused query, syntax error or timeout"""),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("name", nargs="?", metavar="NAME", help="library query name, e.g. knowledge/contraindications")
        p.add_argument("--file", metavar="FILE.rq", help="run the SPARQL query in FILE ('-' reads standard input) instead of a library query")
        p.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE",
                       help="bind a parameter (repeatable; KEY=v1,v2 gives one row of a multi-column parameter; repeat KEY for more rows)")
        add_format(p, FORMATS, "table")
        p.add_argument("--timeout", type=positive(float, "a number of seconds"), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"stop evaluation after SECONDS (default: {DEFAULT_TIMEOUT:g})")
        p.add_argument("--limit", type=positive(int, "a whole number"), default=DEFAULT_LIMIT, metavar="N",
                       help=f"return at most N rows or triples; a note on stderr says when the answer was cut (default: {DEFAULT_LIMIT})")
        p.add_argument("--allow-service", action="store_true", help="allow SERVICE clauses (federated queries reach the network)")
        p.add_argument("--engine", choices=ENGINES,
                       help="in-process SPARQL engine (default: oxigraph; rdflib is the slow reference, with the same answers)")
        p.add_argument("--endpoint", metavar="URL", help="run the query on this SPARQL 1.1 query endpoint instead of in-process "
                       "(after 'hipkg push'); --timeout is then the HTTP timeout")
        p.set_defaults(run=run_query)


def param_text(p: Any) -> str:
    cols = " ".join(f"?{c.var}:{c.kind}" for c in p.columns)
    card = p.cardinality + (f", default={p.default}" if p.default else "")
    return f"{p.name} {cols} [{card}]"


def run_list(args: argparse.Namespace) -> int:
    from hipkg.queries import QueryLibrary

    library = QueryLibrary.bundled()
    queries = list(library.group(args.folder.strip("/")) if args.folder else library)
    if args.folder and not queries:
        raise InputError(f"no queries under {args.folder!r}; folders: {', '.join(sorted({n.split('/')[0] for n in library.names()}))}")
    if args.format == "json":
        print_json([
            {
                "name": q.name, "kind": q.kind, "summary": q.summary, "description": q.description,
                "params": [
                    {"name": p.name, "columns": [{"var": c.var, "kind": c.kind} for c in p.columns],
                     "cardinality": p.cardinality, "default": p.default, "doc": p.doc}
                    for p in q.params
                ],
                "examples": list(q.examples),
            }
            for q in queries
        ])
        return 0
    rows = ((q.name, ", ".join(f"{p.name} ({p.cardinality})" for p in q.params), q.summary) for q in queries)
    print(table(("name", "parameters", "summary"), rows))
    print("\nparameter details: hipkg queries --format json; run one: hipkg query NAME --param KEY=VALUE")
    return 0



# ---------------------------------------------------------------------------------------------- evaluation


def _evaluate(graph: Any, text: str, limit: int) -> tuple[Any, bool]:
    """Run ``text`` on ``graph``; returns (Result, truncated). Rows are read lazily and cut at ``limit``."""
    from rdflib import Graph

    from hipkg.namespaces import PREFIXES
    from hipkg.queries import Result

    answer = graph.query(text, initNs=PREFIXES)
    if answer.type == "SELECT":
        rows, truncated = [], False
        for row in answer:
            if len(rows) >= limit:
                truncated = True
                break
            rows.append(tuple(row))
        return Result("SELECT", tuple(str(v) for v in answer.vars), tuple(rows)), truncated
    if answer.type == "ASK":
        return Result("ASK", boolean=bool(answer.askAnswer)), False
    out = Graph()
    for prefix, ns in PREFIXES.items():
        out.bind(prefix, ns, replace=True)
    truncated = False
    for triple in answer:
        if len(out) >= limit:
            truncated = True
            break
        out.add(triple)
    return Result(answer.type, graph=out), truncated


def _evaluate_with(engine: Any, text: str, limit: int, name: str) -> tuple[Any, bool]:
    """Run ``text`` on a hipkg engine (which predeclares hipkg's prefixes); cut at ``limit``."""
    from hipkg.namespaces import new_graph
    from hipkg.queries import Result

    result = engine.execute(text, name)
    if result.graph is not None:
        triples = list(result.graph)
        return Result(result.kind, graph=new_graph(triples[:limit])), len(triples) > limit
    return Result(result.kind, result.vars, result.rows[:limit], boolean=result.boolean), len(result.rows) > limit


def _child(text: str, limit: int, conn: Any, engine: str = "rdflib", name: str = "query") -> None:  # pragma: no cover - child process
    try:
        import hipkg

        if engine == "rdflib":
            result, truncated = _evaluate(hipkg.load().data, text, limit)
        else:
            result, truncated = _evaluate_with(hipkg.load(engine=engine).engine, text, limit, name)
        if result.graph is not None:  # send triples, not an rdflib store
            payload = ("ok", result.kind, None, None, None, list(result.graph), truncated)
        else:
            payload = ("ok", result.kind, result.vars, result.rows, result.boolean, None, truncated)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent as a message
        from hipkg.errors import HipkgError

        named = isinstance(exc, HipkgError)  # hipkg's own errors already name the query and say what went wrong
        payload = ("error", " ".join(str(exc).split())[:500] if named else f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}", named)
    try:
        conn.send(payload)
    finally:
        conn.close()


def run_sparql(text: str, timeout: float = DEFAULT_TIMEOUT, limit: int = DEFAULT_LIMIT, allow_service: bool = False,
               name: str = "query", engine: str = "oxigraph") -> tuple["Result", bool]:
    """Check ``text``, then evaluate it on the bundled graph with ``engine`` in a child process killed after ``timeout``
    seconds."""
    import hipkg
    from rdflib import Graph

    from hipkg.namespaces import PREFIXES
    from hipkg.queries import Result

    check_query(text, allow_service, name)
    hipkg.load(engine=engine).engine  # noqa: B018 - load before forking so that the child inherits the loaded graph
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(text, limit, sender, engine, name), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise InputError(f"{name}: timed out after {timeout:g} s and was stopped (raise --timeout, or narrow the query)")
        try:
            payload = receiver.recv()
        except EOFError:
            raise InputError(f"{name}: query evaluation failed (the worker process ended with code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receiver.close()
    if payload[0] == "error":
        raise InputError(payload[1] if payload[2] else f"{name}: {payload[1]}")
    _, kind, vars_, rows, boolean, triples, truncated = payload
    if triples is not None:
        graph = Graph()
        for prefix, ns in PREFIXES.items():
            graph.bind(prefix, ns, replace=True)
        for triple in triples:
            graph.add(triple)
        return Result(kind, graph=graph), truncated
    if kind == "ASK":
        return Result("ASK", boolean=boolean), truncated
    return Result(kind, vars_, rows), truncated


def with_prefixes(text: str) -> str:
    """``text`` with PREFIX declarations for the hipkg prefixes it uses without declaring (in-process they are predeclared)."""
    import re

    from hipkg.namespaces import PREFIXES

    missing = [p for p in PREFIXES if not re.search(rf"(?im)^\s*PREFIX\s+{re.escape(p)}\s*:", text)]
    return "".join(f"PREFIX {p}: <{PREFIXES[p]}>\n" for p in missing) + text


def run_remote(endpoint: str, text: str, timeout: float = DEFAULT_TIMEOUT, limit: int = DEFAULT_LIMIT,
               allow_service: bool = False, name: str = "query") -> tuple["Result", bool]:
    """Check ``text`` as run_sparql does, then run it on a SPARQL endpoint; the answer is cut at ``limit`` here."""
    from hipkg.engines import EndpointEngine
    from hipkg.queries import Result

    check_query(text, allow_service, name)
    result = EndpointEngine(endpoint, timeout=timeout).execute(with_prefixes(text), name)
    if result.graph is not None and len(result.graph) > limit:
        from rdflib import Graph

        graph = Graph(namespace_manager=result.graph.namespace_manager)
        for triple in sorted(result.graph)[:limit]:
            graph.add(triple)
        return Result(result.kind, graph=graph), True
    if len(result.rows) > limit:
        return Result(result.kind, result.vars, result.rows[:limit]), True
    return result, False


# ---------------------------------------------------------------------------------------------- parameters


def resolve_iri(kg: "KnowledgeGraph", value: str, what: str) -> "URIRef":
    """An IRI, a CURIE with a known prefix, or a label / altLabel naming exactly one thing (case-insensitive)."""
    from rdflib import URIRef
    from rdflib.namespace import RDFS, SKOS

    from hipkg.namespaces import curie
    from hipkg.queries import expand

    text = value.strip()
    if not text:
        raise InputError(f"{what}: empty value")
    try:
        return expand(text)
    except InputError:
        pass
    needle = text.casefold()
    matches: set[URIRef] = set()
    for predicate in (RDFS.label, SKOS.altLabel):
        for subject, label in kg.data.subject_objects(predicate):
            if isinstance(subject, URIRef) and str(label).casefold() == needle:
                matches.add(subject)
    if len(matches) == 1:
        return matches.pop()
    if not matches:
        raise InputError(f"{what}: {text!r} is not an IRI, a CURIE with a known prefix, or the label of anything in the graph")
    listed = ", ".join(f"{curie(m)} ({kg.label(m)})" for m in sorted(matches, key=str))
    raise InputError(f"{what}: the label {text!r} is ambiguous; use one of: {listed}")


def bind_params(kg: "KnowledgeGraph", query: "Query", given: list[str]) -> dict[str, Any]:
    """--param KEY=VALUE strings as values for Query.bind: IRIs resolved, one tuple per row for multi-column parameters."""
    rows: dict[str, list[Any]] = {}
    for item in given:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--param {item!r}: expected KEY=VALUE")
        p = query.param(key)
        cells = [c.strip() for c in raw.split(",")] if len(p.columns) > 1 else [raw]
        if len(cells) != len(p.columns):
            cols = ",".join(c.var for c in p.columns)
            raise InputError(f"--param {key}: takes {len(p.columns)} comma-separated values per row ({cols}), got {len(cells)}")
        terms = [
            resolve_iri(kg, cell, f"--param {key} ?{col.var}") if col.kind == "iri" else cell
            for cell, col in zip(cells, p.columns)
        ]
        rows.setdefault(key, []).append(tuple(terms) if len(terms) > 1 else terms[0])
    values: dict[str, Any] = {}
    for key, items in rows.items():
        p = query.param(key)
        if p.cardinality == "many":
            values[key] = items
        elif len(items) > 1:
            raise InputError(f"--param {key}: takes one value (give it once)")
        else:
            values[key] = items[0]
    return values


# ---------------------------------------------------------------------------------------------- output


def _cell(term: Any) -> str:
    from rdflib import URIRef

    from hipkg.namespaces import curie

    if term is None:
        return ""
    return curie(term) if isinstance(term, URIRef) else str(term)


def results_json(result: "Result") -> dict:
    """SPARQL 1.1 Query Results JSON for a SELECT or ASK answer."""
    from hipkg.queries import sparql_json_term

    if result.kind == "ASK":
        return {"head": {}, "boolean": bool(result.boolean)}
    bindings = [{v: sparql_json_term(t) for v, t in zip(result.vars, row) if t is not None} for row in result.rows]
    return {"head": {"vars": list(result.vars)}, "results": {"bindings": bindings}}


def _fit(rows: list[list[str]], headers: tuple[str, ...]) -> list[list[str]]:
    """Shorten the widest cells of all but the last column (which the table wraps) until the table fits the terminal."""
    import shutil

    width = shutil.get_terminal_size((120, 24)).columns
    ncols = len(headers)
    rows = [[" ".join(c.split()) if i < ncols - 1 else c for i, c in enumerate(r)] for r in rows]
    widths = [max([len(headers[i])] + [len(r[i]) for r in rows]) for i in range(ncols - 1)]
    budget = width - 2 * (ncols - 1) - 26  # the wrapped last column keeps >= 24 characters
    floors = [max(8, len(h)) for h in headers[:-1]]  # the table never makes a column narrower than its header
    while sum(widths) > budget:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    shortened = False
    for r in rows:
        for i, w in enumerate(widths):
            if len(r[i]) > w:
                r[i], shortened = r[i][: w - 1] + "\u2026", True
    if shortened:
        print("hipkg: note: long values are shortened in the table; use --format csv, tsv or json for full values", file=sys.stderr)
    return rows


def render(result: "Result", fmt: str) -> str:
    graph_result = result.graph is not None
    if fmt == "turtle" or (fmt == "table" and graph_result):
        if not graph_result:
            raise InputError("--format turtle is for CONSTRUCT and DESCRIBE results; use table, csv, tsv or json")
        return result.graph.serialize(format="turtle")
    if graph_result:
        raise InputError(f"--format {fmt} is for SELECT and ASK results; use --format turtle for a {result.kind} query")
    if fmt == "json":
        return json.dumps(results_json(result), indent=2, ensure_ascii=False) + "\n"
    if result.kind == "ASK":
        return ("true" if result.boolean else "false") + "\n"
    rows = [[_cell(t) for t in row] for row in result.rows]
    if fmt == "table":
        if not result.vars:
            return "(no columns)\n"
        import shutil

        # table() indents wrapped lines of the last column by 2 more than its first line: give it 2 less width.
        width = shutil.get_terminal_size((120, 24)).columns - 2
        return table(result.vars, _fit(rows, result.vars), width) + "\n"
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer, lineterminator="\r\n")
    else:  # tsv: tabs and line breaks inside values are escaped, as SPARQL 1.1 TSV does
        writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
        rows = [[c.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r") for c in r] for r in rows]
    writer.writerow(result.vars)
    writer.writerows(rows)
    return buffer.getvalue()


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


def run_query(args: argparse.Namespace) -> int:
    import hipkg

    if bool(args.name) == bool(args.file):
        raise InputError("give exactly one of: a library query NAME (see 'hipkg queries') or --file FILE.rq")
    if args.file:
        if args.param:
            raise InputError("--param binds library query parameters; it cannot be used with --file")
        text, label = _read_text(args.file), args.file
    else:
        from hipkg.queries import QueryLibrary

        query = QueryLibrary.bundled().get(args.name)
        values = bind_params(hipkg.load(), query, args.param)
        text, label = query.bind(**values), f"query {query.name}"
    if getattr(args, "endpoint", None):
        if args.engine:
            raise InputError("give either --engine or --endpoint, not both: with --endpoint the server's engine answers")
        result, truncated = run_remote(args.endpoint, text, args.timeout, args.limit, args.allow_service, label)
    else:
        result, truncated = run_sparql(text, args.timeout, args.limit, args.allow_service, label, args.engine or "oxigraph")
    sys.stdout.write(render(result, args.format))
    if truncated:
        what = "triples" if result.graph is not None else "rows"
        print(f"hipkg: note: the answer was cut to the first {args.limit} {what} (--limit {args.limit})", file=sys.stderr)
    return 0
