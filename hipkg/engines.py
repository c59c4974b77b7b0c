"""SPARQL engines behind one interface: the same .rq text runs on rdflib, Oxigraph or any SPARQL 1.1 endpoint.

Every engine returns a hipkg.queries.Result holding rdflib terms, so callers never see engine types.
Known differences are normalised here, not hidden: Oxigraph answers over an explicit union of hipkg's data
graphs (never the shapes), and literals come back as (lexical form, language or datatype) on every engine.
"""
from __future__ import annotations

import functools
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Iterable, Protocol

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import XSD
from rdflib.term import Node

from hipkg.errors import HipkgError, InputError
from hipkg.namespaces import new_graph

if TYPE_CHECKING:
    import pyoxigraph

    from hipkg.queries import Result

ENGINES = ("oxigraph", "rdflib")


class Engine(Protocol):
    name: str

    def execute(self, text: str, name: str = "query") -> "Result": ...




class RdflibEngine:
    """rdflib's own evaluator over an in-memory graph: the reference, and slow."""

    name = "rdflib"

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def execute(self, text: str, name: str = "query") -> "Result":
        from hipkg.queries import Result

        try:  # rdflib evaluates lazily: rows are read inside the try so that every evaluation error is caught
            answer = self.graph.query(text)
            if answer.type == "SELECT":
                return Result("SELECT", tuple(str(v) for v in answer.vars), tuple(tuple(row) for row in answer))
            if answer.type == "ASK":
                return Result("ASK", boolean=bool(answer.askAnswer))
            return Result(answer.type, graph=new_graph(answer))
        except Exception as exc:  # rdflib raises ParseException, ValueError, ...
            raise InputError(f"{name}: {' '.join(str(exc).split())[:400]}") from exc


def _from_ox(term: "pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal | None") -> Node | None:
    if term is None:
        return None
    return _convert(term)


@functools.lru_cache(maxsize=65536)
def _convert(term: "pyoxigraph.NamedNode | pyoxigraph.BlankNode | pyoxigraph.Literal") -> Node:
    """Oxigraph term -> rdflib term; memoised, since the same IRIs and labels come back in every answer."""
    import pyoxigraph as ox

    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    datatype = term.datatype.value
    return Literal(term.value) if datatype == str(XSD.string) else Literal(term.value, datatype=URIRef(datatype))


class OxigraphEngine:
    """pyoxigraph's in-memory store: the default, about 100x faster than rdflib on hipkg's queries."""

    name = "oxigraph"

    def __init__(self, store: "pyoxigraph.Store", default_graphs: Iterable[str]) -> None:
        import pyoxigraph as ox

        self.store = store
        self.default_graph = [ox.NamedNode(g) for g in default_graphs]

    @classmethod
    def from_nquads(cls, data: bytes, default_graphs: Iterable[str]) -> "OxigraphEngine":
        import pyoxigraph as ox

        store = ox.Store()
        store.bulk_load(data, format=ox.RdfFormat.N_QUADS)
        return cls(store, default_graphs)

    def execute(self, text: str, name: str = "query") -> "Result":
        import pyoxigraph as ox

        from hipkg.queries import Result

        try:
            answer = self.store.query(text, default_graph=self.default_graph)
        except SyntaxError as exc:
            raise InputError(f"{name}: {' '.join(str(exc).split())[:400]}") from exc
        if isinstance(answer, ox.QuerySolutions):
            names = tuple(v.value for v in answer.variables)
            rows = tuple(tuple(None if t is None else _convert(t) for t in solution) for solution in answer)
            return Result("SELECT", names, rows)
        if isinstance(answer, ox.QueryBoolean):
            return Result("ASK", boolean=bool(answer))
        kind = "DESCRIBE" if "DESCRIBE" in text.upper() and "CONSTRUCT" not in text.upper() else "CONSTRUCT"
        return Result(kind, graph=new_graph((_from_ox(t.subject), _from_ox(t.predicate), _from_ox(t.object)) for t in answer))


class EndpointEngine:
    """Any SPARQL 1.1 Protocol endpoint (POST application/sparql-query), e.g. an Oxigraph, Fuseki or Virtuoso server."""

    name = "endpoint"

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise InputError(f"--endpoint {url!r}: expected an http(s) URL of a SPARQL query endpoint")
        self.url = url
        self.timeout = timeout

    def execute(self, text: str, name: str = "query") -> "Result":
        from hipkg.queries import Result

        request = urllib.request.Request(
            self.url, data=text.encode("utf-8"), method="POST",
            headers={"Content-Type": "application/sparql-query",
                     "Accept": "application/sparql-results+json, application/n-triples;q=0.9"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                ctype = response.headers.get_content_type()
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise InputError(f"{name}: endpoint {self.url} answered HTTP {exc.code}: {' '.join(detail.split())}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise HipkgError(f"{name}: cannot reach endpoint {self.url}: {getattr(exc, 'reason', exc)}") from exc
        if ctype == "application/sparql-results+json" or ctype == "application/json":
            data = json.loads(body)
            if "boolean" in data:
                return Result("ASK", boolean=bool(data["boolean"]))
            names = tuple(data["head"]["vars"])
            rows = tuple(tuple(_from_json(b.get(v)) for v in names) for b in data["results"]["bindings"])
            return Result("SELECT", names, rows)
        graph = new_graph()
        graph.parse(data=body, format="nt" if "n-triples" in ctype else "turtle")
        return Result("CONSTRUCT", graph=graph)


def _from_json(cell: dict | None) -> Node | None:
    """A SPARQL 1.1 Query Results JSON term as an rdflib term."""
    if cell is None:
        return None
    if cell["type"] == "uri":
        return URIRef(cell["value"])
    if cell["type"] == "bnode":
        return BNode(cell["value"])
    if "xml:lang" in cell:
        return Literal(cell["value"], lang=cell["xml:lang"])
    datatype = cell.get("datatype")
    return Literal(cell["value"], datatype=URIRef(datatype)) if datatype and datatype != str(XSD.string) else Literal(cell["value"])
