"""SPARQL engines behind one interface: the same .rq text runs on rdflib, Oxigraph or any SPARQL 1.1 endpoint.

Every engine returns a hipkg.results.Result holding rdflib terms, so callers never see engine types; ``limit`` stops
reading rows (or triples) after that many, where the engine streams (Oxigraph and rdflib evaluate lazily), and marks
the Result ``truncated``.
Known differences are normalised here, not hidden: Oxigraph answers over its default graph, a merge of hipkg's
data graphs (never the shapes), and literals come back as (lexical form, language or datatype) on every engine.
"""
from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, ContextManager, Iterable, Iterator, Protocol, Sequence

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import XSD
from rdflib.term import Node

from hipkg.errors import EndpointError, InputError, QueryFailed, QuerySyntaxError
from hipkg.http import Client, public_url
from hipkg.namespaces import PREFIXES, new_graph
from hipkg.results import Result, term_from_json

if TYPE_CHECKING:
    import pyoxigraph

ENGINES = ("oxigraph", "rdflib")
#: A query that may read named graphs (GRAPH, FROM NAMED; comment lines aside): only then does Oxigraph need them loaded.
_NAMES_GRAPHS = re.compile(r"\bGRAPH\b|\bFROM\s+NAMED\b", re.IGNORECASE)


class Engine(Protocol):
    name: str

    def execute(self, text: str, name: str = "query", limit: int | None = None) -> Result: ...

    def hold(self, triples: Sequence[Triple]) -> ContextManager[None]:
        """Add ``triples`` (situations) to what queries see, for the duration of the with-block."""
        ...


Triple = tuple[Node, Node, Node]


def _take(items: Iterable[Any], limit: int | None) -> tuple[list[Any], bool]:
    """At most ``limit`` items, and whether there were more (reading one past the limit, never the rest)."""
    if limit is None:
        return list(items), False
    taken = list(itertools.islice(items, limit + 1))
    return taken[:limit], len(taken) > limit


class RdflibEngine:
    """rdflib's own evaluator over an in-memory graph: the reference, and slow."""

    name = "rdflib"

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    @contextlib.contextmanager
    def hold(self, triples: Sequence[Triple]) -> Iterator[None]:
        for triple in triples:
            self.graph.add(triple)
        try:
            yield
        finally:
            for triple in triples:
                self.graph.remove(triple)

    def execute(self, text: str, name: str = "query", limit: int | None = None) -> Result:
        try:  # rdflib evaluates lazily: rows are read inside the try so that every evaluation error is caught
            answer = self.graph.query(text, initNs=PREFIXES)
            if answer.type == "ASK":
                return Result("ASK", boolean=bool(answer.askAnswer))
            items, truncated = _take((tuple(row) for row in answer), limit)
            if answer.type == "SELECT":
                return Result("SELECT", tuple(str(v) for v in answer.vars), tuple(items), truncated=truncated)
            return Result(answer.type, graph=new_graph(items), truncated=truncated)
        except Exception as exc:  # rdflib raises ParseException, ValueError, ...
            raise QueryFailed(name, " ".join(str(exc).split())[:400], type(exc).__name__) from exc


def _names_graphs(text: str) -> bool:
    """Whether a query may read named graphs: GRAPH or FROM NAMED outside comment lines (a quick scan first)."""
    lowered = text.lower()  # a plain substring test first: a case-insensitive regex over every bound query cost 20 µs
    if "graph" not in lowered and "named" not in lowered:
        return False
    for match in _NAMES_GRAPHS.finditer(text):  # each hit, unless on a comment line (re-joining the lines cost 90 µs)
        if not text[text.rfind("\n", 0, match.start()) + 1:match.start()].lstrip().startswith("#"):
            return True
    return False


#: hipkg's prefixes, predeclared for every query as rdflib predeclares a graph's bound prefixes.
_PREFIXES = {prefix: str(ns) for prefix, ns in PREFIXES.items()}


def _syntax_error(name: str, text: str, message: str) -> QuerySyntaxError:
    """Oxigraph's parser message with line, column and the text found there: it lists what it expected, not what it got."""
    message = " ".join(message.split())
    found = re.match(r"error at (\d+):(\d+): (.*)", message)
    if not found:
        return QuerySyntaxError(f"{name}: {message[:400]}")
    line, column, rest = int(found[1]), int(found[2]), found[3]
    lines = text.splitlines()
    near = lines[line - 1][max(column - 21, 0):column + 19].strip() if 0 < line <= len(lines) else ""
    return QuerySyntaxError(f"{name}: syntax error at line {line}, column {column}" + (f", near {near!r}" if near else "")
                            + f": {rest[:300]}", line, column)


@functools.lru_cache(maxsize=65536)
def _to_ox(term: Node) -> "pyoxigraph.NamedNode | pyoxigraph.Literal":
    """rdflib term -> Oxigraph term; memoised, since situations repeat their properties, goals and codes."""
    import pyoxigraph as ox  # on first use: `hipkg --help` imports this module (start-up time)

    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, Literal) and (term.language or term.datatype):
        return ox.Literal(str(term), language=term.language) if term.language else ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
    if isinstance(term, Literal):
        return ox.Literal(str(term))
    raise TypeError(f"cannot hold {term!r}: only IRIs and literals")


def _from_ox(term: "pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal | None") -> Node | None:
    if term is None:
        return None
    return _convert(term)


@functools.lru_cache(maxsize=65536)
def _convert(term: "pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal") -> Node:
    """Oxigraph term -> rdflib term; memoised, since the same IRIs and labels come back in every answer."""
    import pyoxigraph as ox  # on first use: `hipkg --help` imports this module (start-up time)

    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    datatype = term.datatype.value
    return Literal(term.value) if datatype == str(XSD.string) else Literal(term.value, datatype=URIRef(datatype))


class OxigraphEngine:
    """pyoxigraph's in-memory store: the default, about 100x faster than rdflib on hipkg's queries.

    The data graphs are merged into the store's default graph, which is what queries see: matching one graph is
    cheaper than Oxigraph's union over several graphs per triple pattern (measured: 20-50% off the recommendation
    queries), and a triple held by two graphs counts once, as in rdflib. The named graphs themselves are loaded only
    for a query that names graphs (none of the library's does), which halves the load.

    Situations are held in the store only while they are answered. The in-memory store keeps removed quads in its
    indexes (it is versioned), so lookups by a term that past situations used too (a code's literal, when codes were
    matched by literal) slowed down chunk after chunk (measured: the reached query took 0.09 s for the first 1,000
    situations and 0.30 s after 40,000). So the store is built afresh (0.1 s) once enough quads have been removed, and
    never while a request holds situations in it."""

    name = "oxigraph"
    #: Removed quads after which the store is rebuilt (about ten chunks of 1,000 situations).
    REBUILD_AFTER = 60_000

    def __init__(self, nquads: bytes, default_graph: bytes) -> None:
        """``nquads``: every named graph; ``default_graph``: N-Triples of what queries see (hipkg's data graphs)."""
        self.nquads = nquads
        self.default_graph = default_graph
        self.store = self._build()
        self.named = False  # the named graphs are loaded for the first query that names a graph
        self.removed = 0
        self.holding = 0  # requests whose situations are in the store now: no rebuild while any is
        self._lock = threading.Lock()

    def _build(self) -> "pyoxigraph.Store":
        import pyoxigraph as ox  # on first use: `hipkg --help` imports this module (start-up time)

        store = ox.Store()
        store.bulk_load(self.default_graph, format=ox.RdfFormat.N_TRIPLES)
        return store

    @contextlib.contextmanager
    def hold(self, triples: Sequence[Triple]) -> Iterator[None]:
        """Situations go into the default graph, which is what queries see; their IRIs are unique to the request."""
        import pyoxigraph as ox  # on first use: `hipkg --help` imports this module (start-up time)

        default = ox.DefaultGraph()
        quads = [ox.Quad(_to_ox(s), _to_ox(p), _to_ox(o), default) for s, p, o in triples]
        with self._lock:
            self.holding += 1
            store = self.store
        store.extend(quads)
        try:
            yield
        finally:
            for quad in quads:
                store.remove(quad)
            with self._lock:
                self.holding -= 1
                self.removed += len(quads)
                if self.removed >= self.REBUILD_AFTER and not self.holding:
                    self.store, self.named, self.removed = self._build(), False, 0

    def execute(self, text: str, name: str = "query", limit: int | None = None) -> Result:
        import pyoxigraph as ox  # on first use: `hipkg --help` imports this module (start-up time)

        names_graphs = _names_graphs(text)
        with self._lock:  # the store, with its named graphs loaded if the query needs them, as one consistent state
            store = self.store
            if names_graphs and not self.named:
                store.bulk_load(self.nquads, format=ox.RdfFormat.N_QUADS)
                self.named = True
        try:
            answer = store.query(text, prefixes=_PREFIXES)
            if isinstance(answer, ox.QueryBoolean):
                return Result("ASK", boolean=bool(answer))
            if isinstance(answer, ox.QuerySolutions):
                names = tuple(v.value for v in answer.variables)
                convert = _convert
                rows, truncated = _take((tuple([None if t is None else convert(t) for t in solution]) for solution in answer), limit)
                return Result("SELECT", names, tuple(rows), truncated=truncated)
            kind = "DESCRIBE" if "DESCRIBE" in text.upper() and "CONSTRUCT" not in text.upper() else "CONSTRUCT"
            triples, truncated = _take(((_from_ox(t.subject), _from_ox(t.predicate), _from_ox(t.object)) for t in answer), limit)
            return Result(kind, graph=new_graph(triples), truncated=truncated)
        except SyntaxError as exc:
            raise _syntax_error(name, text, str(exc)) from exc
        except (OSError, ValueError, TypeError) as exc:  # evaluation errors surface while the solutions are read
            raise QueryFailed(name, " ".join(str(exc).split())[:400], type(exc).__name__) from exc


def with_prefixes(text: str) -> str:
    """``text`` with PREFIX declarations for the hipkg prefixes it uses without declaring (in-process they are predeclared)."""
    missing = [p for p in PREFIXES if not re.search(rf"(?im)^\s*PREFIX\s+{re.escape(p)}\s*:", text)]
    return "".join(f"PREFIX {p}: <{PREFIXES[p]}>\n" for p in missing) + text


class EndpointEngine:
    """Any SPARQL 1.1 Protocol endpoint (POST application/sparql-query), e.g. an Oxigraph, Fuseki or Virtuoso server.

    Requests go through hipkg.http, so credentials in the URL are sent and never printed."""

    name = "endpoint"

    def __init__(self, url: str, timeout: float = 60.0, update_url: str | None = None) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise InputError(f"--endpoint {public_url(url)!r}: expected an http(s) URL of a SPARQL query endpoint")
        if update_url is not None and urllib.parse.urlsplit(update_url).scheme not in ("http", "https"):
            raise InputError(f"--update-endpoint {public_url(update_url)!r}: expected an http(s) URL of a SPARQL update endpoint")
        self.client = Client(url, timeout)
        self.updates = Client(update_url or url, timeout)
        self.timeout = timeout

    @contextlib.contextmanager
    def hold(self, triples: Sequence[Triple]) -> Iterator[None]:
        """INSERT DATA the situations at the update endpoint, DELETE DATA them afterwards."""
        body = "\n".join(f"{s.n3()} {p.n3()} {o.n3()} ." for s, p, o in triples)
        self.update(f"INSERT DATA {{\n{body}\n}}", "loading the situations")
        try:
            yield
        finally:
            self.update(f"DELETE DATA {{\n{body}\n}}", "removing the situations")

    def update(self, text: str, doing: str) -> None:
        """One SPARQL 1.1 Update request, or an EndpointError that says what was being done and how to fix it."""
        try:
            self.updates.send("POST", self.updates.url, text.encode("utf-8"), "application/sparql-update")
        except EndpointError as exc:
            if exc.status is None:
                raise
            raise EndpointError(f"{doing}: {exc.url} refused a SPARQL Update (HTTP {exc.status}: {exc.detail}); recommending on "
                                "an endpoint loads the situations into it, so give the server's update URL with --update-endpoint "
                                "(Oxigraph: http://HOST:PORT/update)", exc.url, exc.status, exc.detail) from None

    def execute(self, text: str, name: str = "query", limit: int | None = None) -> Result:
        try:
            reply = self.client.send("POST", self.client.url, with_prefixes(text).encode("utf-8"), "application/sparql-query",
                                     accept="application/sparql-results+json, application/n-triples;q=0.9")
        except EndpointError as exc:
            if exc.status is None:
                raise EndpointError(f"{name}: cannot reach endpoint {exc.url}: {exc.detail}", exc.url) from None
            raise EndpointError(f"{name}: endpoint {exc.url} answered HTTP {exc.status}: {exc.detail}", exc.url, exc.status,
                                exc.detail) from None
        try:
            return self._result(reply.content_type, reply.body, limit)
        except Exception as exc:  # json, KeyError, rdflib's BadSyntax, ...: the server did not answer with results
            url = self.client.public
            raise EndpointError(f"{name}: endpoint {url} answered with something that is not SPARQL results "
                                f"({reply.content_type}: {type(exc).__name__})", url, reply.status) from None

    @staticmethod
    def _result(ctype: str, body: bytes, limit: int | None) -> Result:
        if ctype == "application/sparql-results+json" or ctype == "application/json":
            data = json.loads(body)
            if "boolean" in data:
                return Result("ASK", boolean=bool(data["boolean"]))
            names = tuple(data["head"]["vars"])
            rows, truncated = _take((tuple(term_from_json(b.get(v)) for v in names) for b in data["results"]["bindings"]), limit)
            return Result("SELECT", names, tuple(rows), truncated=truncated)
        graph = new_graph()
        graph.parse(data=body, format="nt" if "n-triples" in ctype else "turtle")
        triples, truncated = _take(sorted(graph), limit)
        return Result("CONSTRUCT", graph=new_graph(triples) if truncated else graph, truncated=truncated)
