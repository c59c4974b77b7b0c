"""Load the knowledge graph into any SPARQL 1.1 server, so that ``--endpoint`` can run hipkg's queries there.

What is sent: every data graph (schema, kb, mappings, derived, sources) merged into one graph, as N-Triples; never the
shapes. That is exactly what hipkg's own engines see as the default graph, so the same .rq files give the same answers.

How: the SPARQL 1.1 Graph Store HTTP Protocol first (``PUT URL?default`` or ``PUT URL?graph=IRI``; ``POST`` with
``append``), trying ``application/n-triples`` and then ``text/turtle``; when the server has no store protocol there
(HTTP 404, 405 or 415, or 501) it falls back to SPARQL 1.1 Update: ``CLEAR SILENT`` the target (unless ``append``),
then ``INSERT DATA`` in chunks. Triples that share a blank node always travel in the same chunk.

User name and password may be given in the URL (``http://user:secret@host/...``); hipkg.http sends them with HTTP Basic
or Digest authentication as the server asks, and never prints them.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Iterable, Iterator

import pyoxigraph as ox
from rdflib import Literal, URIRef

from hipkg.errors import EndpointError, InputError
from hipkg.http import Client, with_query
from hipkg.namespaces import DATA_GRAPHS, HIPKG
from hipkg.queries import to_term
from hipkg.situations import Situation
from hipkg.store import Store

#: Status codes that mean "no Graph Store Protocol (for this media type) here": fall back.
FALLBACK_STATUS = (404, 405, 415, 501)
DEFAULT_CHUNK = 2000  # also in hipkg/cli/push.py
DEFAULT_TIMEOUT = 120.0  # also in hipkg/cli/push.py


@dataclass(frozen=True)
class PushReport:
    method: str  # "graph-store" | "update"
    url: str  # where the data went (credentials removed)
    graph: str | None  # None: the default graph
    triples: int
    requests: int
    media_type: str | None = None  # graph-store only
    note: str = ""  # why the store protocol was not used, when it was not

    def describe(self) -> str:
        where = f"graph <{self.graph}>" if self.graph else "the default graph"
        how = (f"the Graph Store Protocol ({self.media_type})" if self.method == "graph-store"
               else f"SPARQL Update, {self.requests} request{'s' if self.requests != 1 else ''}")
        text = f"pushed {self.triples:,} triples into {where} of {self.url} with {how}"
        return text + (f"; {self.note}" if self.note else "")

    def to_json(self) -> dict:
        return {"method": self.method, "url": self.url, "graph": self.graph, "triples": self.triples,
                "requests": self.requests, "media_type": self.media_type, "note": self.note}


# ---------------------------------------------------------------------------------------------- what is sent


def data_triples(kg: Store) -> list[str]:
    """Every distinct triple of the data graphs (not the shapes) as one N-Triples line each, sorted."""
    wanted = {str(g) for g in DATA_GRAPHS}
    lines = set()
    for quad in ox.parse(kg.nquads, format=ox.RdfFormat.N_QUADS):
        if isinstance(quad.graph_name, ox.NamedNode) and quad.graph_name.value in wanted:
            lines.add(f"{quad.subject} {quad.predicate} {quad.object} .")
    return sorted(lines)


def chunks(lines: list[str], size: int) -> Iterator[list[str]]:
    """N-Triples lines in chunks of about ``size``; lines sharing blank nodes stay in one chunk (INSERT DATA scopes them)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    groups: dict[str | None, list[str]] = {}
    bnodes_of: list[list[str]] = []
    for line in lines:
        (triple,) = ox.parse(line.encode("utf-8"), format=ox.RdfFormat.N_TRIPLES) if "_:" in line else (None,)
        names = [t.value for t in (triple.subject, triple.object) if isinstance(t, ox.BlankNode)] if triple else []
        for a, b in zip(names, names[1:]):
            parent[find(a)] = find(b)
        bnodes_of.append(names)
    for line, names in zip(lines, bnodes_of):
        groups.setdefault(find(names[0]) if names else None, []).append(line)
    plain = groups.pop(None, [])
    for batch, _ in _pack([*groups.values(), *([line] for line in plain)], size):
        yield batch


def _pack(groups: list[list[str]], size: int) -> Iterator[tuple[list[str], int]]:
    """Whole groups in batches of about ``size`` lines (a larger group goes alone): (lines, how many groups)."""
    batch: list[str] = []
    count = 0
    for group in groups:
        if batch and len(batch) + len(group) > size:
            yield batch, count
            batch, count = [], 0
        batch.extend(group)
        count += 1
    if batch:
        yield batch, count


# ---------------------------------------------------------------------------------------------- push


def situation_triples(kg: Store, situations: Iterable[tuple[str, Situation]]) -> list[list[str]]:
    """N-Triples lines for (IRI, situation) pairs, one group per situation (in the given order): its hipkg:Situation
    node with normalised codes, goal and events, and the completeness mark hipkg:tripleCount (how many triples the
    group holds beside the mark), by which ``hipkg recommend --stored`` tells a situation an interrupted push left
    incomplete. A group travels in one request."""
    vocabulary = kg.vocabulary
    groups = []
    for iri, situation in situations:
        node = URIRef(to_term(iri, "iri", "situation IRI")[1:-1])
        triples = situation.triples(node, vocabulary.purposes[situation.goal], vocabulary)
        lines = sorted({f"{s.n3()} {p.n3()} {o.n3()} ." for s, p, o in triples})
        lines.append(f"{node.n3()} {HIPKG.tripleCount.n3()} {Literal(len(lines)).n3()} .")
        groups.append(lines)
    return groups


def push(kg: Store, endpoint: str, graph: str | None = None, update_endpoint: str | None = None,
         append: bool = False, chunk: int = DEFAULT_CHUNK, timeout: float = DEFAULT_TIMEOUT,
         force_update: bool = False, lines: list[str] | None = None, groups: list[list[str]] | None = None) -> PushReport:
    """Load the data graphs (or other N-Triples ``lines``, or ``groups`` of lines such as situation_triples, each of
    which travels in one request) into ``endpoint`` (a Graph Store Protocol URL), into ``graph`` or the default graph.

    Falls back to SPARQL Update at ``update_endpoint`` (default: ``endpoint`` itself) when the store protocol is not
    available. ``append`` adds to what the target graph holds; otherwise the target graph is replaced.
    ``force_update`` skips the store protocol (for servers that accept it but should not be used that way).
    """
    if chunk < 1:
        raise InputError(f"--chunk {chunk}: expected a positive number of triples")
    if graph is not None:
        try:
            graph = to_term(graph, "iri", "--graph")[1:-1]  # a full IRI or a CURIE; refuses spaces, quotes, brackets
        except InputError as exc:
            raise InputError(f"--graph {graph!r}: expected an absolute http(s) or urn IRI, or a CURIE ({exc})") from None
    if groups is not None:
        lines = [line for group in groups for line in group]
    elif lines is None:
        lines = data_triples(kg)
    note = ""
    if not force_update:
        client = Client(endpoint, timeout)
        target = with_query(client.url, "graph=" + urllib.parse.quote(graph, safe="") if graph else "default")
        body = ("\n".join(lines) + "\n").encode("utf-8")
        # N-Triples first; N-Triples is also valid Turtle, for stores that only take text/turtle.
        for media_type in ("application/n-triples", "text/turtle"):
            try:
                client.send("POST" if append else "PUT", target, body, media_type)
            except EndpointError as exc:
                if exc.status is None:
                    raise
                if exc.status not in FALLBACK_STATUS:
                    raise EndpointError(f"push: {client.public} answered HTTP {exc.status} to the Graph Store Protocol: {exc.detail}",
                                        client.public, exc.status, exc.detail) from None
                note = f"the Graph Store Protocol answered HTTP {exc.status}"
                if exc.status != 415:
                    break  # no store protocol at all: another media type will not help
                continue
            return PushReport("graph-store", client.public, graph, len(lines), 1, media_type)
    return _push_update(lines, groups, update_endpoint or endpoint, graph, append, chunk, timeout, note)


def _push_update(lines: list[str], groups: list[list[str]] | None, url: str, graph: str | None, append: bool, chunk: int,
                 timeout: float, note: str) -> PushReport:
    client = Client(url, timeout)
    requests = 0
    done = 0  # groups committed

    def update(text: str, sent: int = 0) -> None:
        nonlocal requests, done
        try:
            client.send("POST", client.url, text.encode("utf-8"), "application/sparql-update")
        except EndpointError as exc:
            committed = (f"; {done:,} of {len(groups):,} situations were committed before it, each whole (pushing the same "
                         "file again completes the rest: it only adds what is missing)") if groups is not None else ""
            if exc.status is None:
                raise EndpointError(f"{exc}{committed}", exc.url, None, exc.detail, committed=done) from None
            raise EndpointError(f"push: the SPARQL Update endpoint {client.public} answered HTTP {exc.status}: {exc.detail}"
                                + (f" ({note}; give --update-endpoint URL)" if note else "") + committed,
                                client.public, exc.status, exc.detail, committed=done) from None
        requests += 1
        done += sent

    if not append:
        update(f"CLEAR SILENT GRAPH <{graph}>" if graph else "CLEAR SILENT DEFAULT")
    if groups is None:
        for text in update_requests(lines, graph, chunk):
            update(text)
    else:
        for text, sent in group_requests(groups, graph, chunk):
            update(text, sent)
    return PushReport("update", client.public, graph, len(lines), requests, None,
                      note + ("; fell back to SPARQL Update" if note else ""))


def _insert(batch: list[str], graph: str | None) -> str:
    body = "\n".join(batch)
    return f"INSERT DATA {{ GRAPH <{graph}> {{\n{body}\n}} }}" if graph else f"INSERT DATA {{\n{body}\n}}"


def update_requests(lines: Iterable[str], graph: str | None, chunk: int) -> Iterator[str]:
    """The INSERT DATA requests of a fallback push, one per chunk."""
    for batch in chunks(list(lines), chunk):
        yield _insert(batch, graph)


def group_requests(groups: list[list[str]], graph: str | None, chunk: int) -> Iterator[tuple[str, int]]:
    """(INSERT DATA request, how many groups it carries): whole groups only, about ``chunk`` triples a request (a group
    larger than that travels alone). A request is atomic on the server, so an interruption leaves whole groups."""
    for batch, count in _pack(groups, chunk):
        yield _insert(batch, graph), count
