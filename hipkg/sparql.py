"""Running SPARQL: the one evaluation path that ``kg.sparql``, ``hipkg query`` and ``hipkg serve`` share.

``evaluate`` checks the text (hipkg.safety: updates, SERVICE unless allowed, FROM / FROM NAMED are refused) and runs
it on an engine, reading at most ``limit`` rows (the engines stream, so a limit stops evaluation early unless the
query must see every row first: ORDER BY, DISTINCT, aggregates). ``isolated`` does the same in a forked child killed
at a deadline and held to a memory limit, because an rdflib or Oxigraph evaluation cannot be interrupted inside a
thread, and Oxigraph, out of memory, aborts its process. The server needs no such child: its
workers are themselves processes that it kills at the deadline.

Values are bound as RDF terms that hipkg.queries validated and serialised: parameters replace a library query's
VALUES rows, and ``bindings`` of a query of yours become a trailing VALUES clause; user text is never pasted in.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping

from rdflib import Literal, URIRef
from rdflib.namespace import RDFS, SKOS
from rdflib.term import Node

from hipkg import isolation
from hipkg.errors import (
    AmbiguousName,
    InputError,
    ParameterError,
    QueryFailed,
    QueryMemoryExceeded,
    QueryTimeout,
    UnknownName,
    shown,
)
from hipkg.namespaces import HIPKG, curie, new_graph
from hipkg.queries import Query, expand, to_term
from hipkg.results import Result
from hipkg.safety import Checked, check_query

if TYPE_CHECKING:
    from rdflib import Graph

    from hipkg.engines import Engine

DEFAULT_TIMEOUT = 30.0
DEFAULT_LIMIT = 10_000
DEFAULT_MAX_MEMORY = 2 * 2**30  # bytes an evaluation may allocate beyond what the loaded graph holds at the fork


def evaluate(engine: "Engine", text: str, *, limit: int | None = None, allow_service: bool = False, name: str = "query",
             bindings: Mapping[str, Any] | None = None, checked: Checked | None = None) -> Result:
    """Check ``text`` (unless the caller passes what check_query said of it), bind ``bindings`` (variable -> value) as a
    trailing VALUES clause, and run it on ``engine``."""
    if checked is None:
        checked = check_query(text, allow_service, name)
    text = _with_bindings(text, checked, name, bindings)
    return engine.execute(text, name, limit)


def _with_bindings(text: str, checked: Checked, name: str, bindings: Mapping[str, Any] | None) -> str:
    """``text`` with ``bindings`` as a trailing VALUES clause (refused when the query ends with one already)."""
    if not bindings:
        return text
    if checked.has_values:
        raise InputError(f"{name}: the query ends with a VALUES clause already; bind the values there instead")
    return text + "\n" + values_clause(bindings)


def values_clause(bindings: Mapping[str, Any]) -> str:
    """``VALUES (?a ?b) { (term term) }`` from validated terms: an rdflib term as it is; a string that is an IRI in
    angle brackets, a full http(s)/urn IRI or a CURIE with a known prefix becomes an IRI; anything else a literal."""
    names, terms = [], []
    for var, value in bindings.items():
        if not var.isidentifier():
            raise InputError(f"sparql: {shown(var)} is not a variable name")
        names.append(f"?{var}")
        terms.append(to_term(_as_term(value), "iri" if isinstance(_as_term(value), URIRef) else "literal", var))
    return f"VALUES ({' '.join(names)}) {{ ({' '.join(terms)}) }}"


def _as_term(value: Any) -> Node:
    if isinstance(value, Node):
        return value
    if isinstance(value, str):
        try:
            return expand(value)
        except InputError:
            return Literal(value)
    return Literal(value)


def isolated(engine: "Engine", text: str, *, timeout: float = DEFAULT_TIMEOUT, limit: int | None = DEFAULT_LIMIT,
             allow_service: bool = False, name: str = "query", bindings: Mapping[str, Any] | None = None,
             max_memory: int | None = DEFAULT_MAX_MEMORY) -> Result:
    """``evaluate`` in a forked child (hipkg.isolation) that is killed after ``timeout`` seconds and may allocate at
    most ``max_memory`` bytes more than it inherited (the loaded engine): QueryTimeout, QueryMemoryExceeded. Where
    there is no fork (Windows), it runs here, without either limit."""
    checked = check_query(text, allow_service, name)  # refuse before forking; the child checks again, cheaply
    text = _with_bindings(text, checked, name, bindings)

    def work() -> tuple[Any, ...]:
        try:
            result = evaluate(engine, text, limit=limit, allow_service=allow_service, name=name)
        except QueryFailed as exc:
            if exc.cause == "MemoryError":  # rdflib, in Python, wrapped by the engine
                raise MemoryError from exc
            raise
        triples = list(result.graph) if result.graph is not None else None  # send triples, not an rdflib store
        return result.kind, result.vars, result.rows, result.boolean, triples, result.truncated

    kind, vars_, rows, boolean, triples, truncated = isolation.run(
        work, timeout=timeout, max_memory=max_memory, timed_out=lambda: QueryTimeout(name, timeout),
        out_of_memory=lambda: QueryMemoryExceeded(name, max_memory or 0),
        failed=lambda detail, cause: QueryFailed(name, f"query evaluation failed ({detail})", cause))
    if triples is not None:
        return Result(kind, graph=new_graph(triples), truncated=truncated)
    return Result(kind, vars_, rows, boolean=boolean, truncated=truncated)


# ---------------------------------------------------------------------------------------------- parameters


def resolve_iri(data: "Graph", value: str, what: str, key: str | None = None) -> URIRef:
    """An IRI, a CURIE with a known prefix, or a label / altLabel of ``data`` naming exactly one thing (case-insensitive).
    ``what`` names the value in messages; ``key``, the parameter it is for."""
    text = value.strip()
    if not text:
        raise UnknownName(what, text, key)
    try:
        iri = expand(text)
    except InputError:
        pass
    else:  # a hipkg IRI no triple mentions is a misspelling: answering nothing would hide it
        if iri.startswith(HIPKG) and (iri, None, None) not in data and (None, None, iri) not in data and (None, iri, None) not in data:
            raise UnknownName(what, text, key, names_nothing=True)
        return iri
    needle = text.casefold()
    matches: set[URIRef] = set()
    for predicate in (RDFS.label, SKOS.altLabel):
        for subject, label in data.subject_objects(predicate):
            if isinstance(subject, URIRef) and str(label).casefold() == needle:
                matches.add(subject)
    if len(matches) == 1:
        return matches.pop()
    if not matches:
        raise UnknownName(what, text, key)
    candidates = []
    for m in sorted(matches, key=str):
        label = data.value(m, RDFS.label)
        candidates.append((curie(m), str(label) if label is not None else curie(m)))
    raise AmbiguousName(what, text, candidates, key)


def bind_params(data: "Graph", query: Query, given: Iterable[tuple[str, str]], flag: str = "--param") -> dict[str, Any]:
    """(KEY, VALUE) pairs as values for Query.bind: IRIs resolved, one tuple per row for multi-column parameters.
    ``flag`` names the pairs in messages (``--param`` on the command line)."""
    rows: dict[str, list[Any]] = {}
    for key, raw in given:
        p = query.param(key)
        cells = [c.strip() for c in raw.split(",")] if len(p.columns) > 1 else [raw]
        if len(cells) != len(p.columns):
            cols = [c.var for c in p.columns]
            raise ParameterError(f"{flag} {key}: takes {len(p.columns)} comma-separated values per row ({','.join(cols)}), "
                                 f"got {len(cells)}", key, "columns", columns=cols)
        terms = [
            resolve_iri(data, cell, f"{flag} {key} ?{col.var}", key) if col.kind == "iri" else cell
            for cell, col in zip(cells, p.columns)
        ]
        rows.setdefault(key, []).append(tuple(terms) if len(terms) > 1 else terms[0])
    values: dict[str, Any] = {}
    for key, items in rows.items():
        if query.param(key).cardinality == "many":
            values[key] = items
        elif len(items) > 1:
            raise ParameterError(f"{flag} {key}: takes one value (give it once)", key, "once")
        else:
            values[key] = items[0]
    return values
