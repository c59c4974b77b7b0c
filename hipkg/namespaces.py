"""Namespaces, named-graph IRIs and the prefixes every serialisation uses."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Iterable

from rdflib import Graph, Namespace
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SH, SKOS, XSD

if TYPE_CHECKING:
    from rdflib.term import Node

HIPKG = Namespace("https://w3id.org/hipkg/")
GRAPH = Namespace("https://w3id.org/hipkg/graph/")

#: Named graphs of the dataset: schema, shapes, kb and mappings are never merged.
SCHEMA_GRAPH = GRAPH.schema
SHAPES_GRAPH = GRAPH.shapes
KB_GRAPH = GRAPH.kb
MAPPINGS_GRAPH = GRAPH.mappings
DERIVED_GRAPH = GRAPH.derived
SOURCES_GRAPH = GRAPH.sources
#: The graphs every query sees, as one default graph; shapes are not among them.
DATA_GRAPHS = (SCHEMA_GRAPH, KB_GRAPH, MAPPINGS_GRAPH, DERIVED_GRAPH, SOURCES_GRAPH)

PREFIXES: dict[str, str] = {
    "hipkg": str(HIPKG),
    "dcterms": str(DCTERMS),
    "owl": str(OWL),
    "prov": str(PROV),
    "rdf": str(RDF),
    "rdfs": str(RDFS),
    "sh": str(SH),
    "skos": str(SKOS),
    "xsd": str(XSD),
}


def curie(iri: object, prefixes: dict[str, str] = PREFIXES) -> str:
    """Shorten an IRI with the longest matching known prefix (for human and JSON output)."""
    return _curie(str(iri)) if prefixes is PREFIXES else _shorten(str(iri), prefixes)


@functools.lru_cache(maxsize=65536)
def _curie(text: str) -> str:
    return _shorten(text, PREFIXES)


def _shorten(text: str, prefixes: dict[str, str]) -> str:
    best = max((p for p, ns in prefixes.items() if text.startswith(ns)), key=lambda p: len(prefixes[p]), default=None)
    return f"{best}:{text[len(prefixes[best]):]}" if best else text


def new_graph(triples: "Iterable[tuple[Node, Node, Node]]" = ()) -> Graph:
    """An rdflib Graph bound to hipkg's prefixes, optionally filled with triples."""
    graph = Graph()
    for prefix, iri in PREFIXES.items():
        graph.bind(prefix, iri, replace=True)
    for triple in triples:
        graph.add(triple)
    return graph
