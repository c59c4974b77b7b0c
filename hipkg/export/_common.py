"""What every exporter shares: which triples form the knowledge graph and which nodes are concepts.

Defined once here so that the RDF, SKOS, FHIR, CSV and networkx views never disagree about
what "the knowledge graph" and "a hipkg concept" are.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from rdflib import Graph, URIRef
from rdflib.namespace import RDF, RDFS, SKOS

from hipkg.namespaces import DERIVED_GRAPH, HIPKG, KB_GRAPH, MAPPINGS_GRAPH, SCHEMA_GRAPH, curie, new_graph

if TYPE_CHECKING:
    from hipkg.store import Store

#: The exported knowledge graph: shapes are tooling, source full texts are copies of bundled files.
EXPORT_GRAPHS = (SCHEMA_GRAPH, KB_GRAPH, MAPPINGS_GRAPH, DERIVED_GRAPH)


def knowledge_graph(kg: "Store") -> Graph:
    """Schema + kb + mappings + derived in one graph with hipkg's prefixes bound, without the query-index vocabulary
    (hipkg:QueryIndexProperty and the triples of its properties: derived only to make queries cheap, they restate the
    rest, and a class of properties is no OWL 2 DL, which owlready2 cannot load)."""
    index = {p for p in kg.schema.subjects(RDF.type, HIPKG.QueryIndexProperty)}
    graph = new_graph()
    for iri in EXPORT_GRAPHS:
        for s, p, o in kg.graph(iri):
            if p in index or s in index or HIPKG.QueryIndexProperty in (s, o):
                continue
            graph.add((s, p, o))
    return graph


def concept_classes(kg: "Store") -> set[URIRef]:
    """Schema classes whose instances are SKOS concepts (skos:Concept and its subclasses)."""
    return {c for c in kg.schema.transitive_subjects(RDFS.subClassOf, SKOS.Concept) if isinstance(c, URIRef)}


def concepts(kg: "Store") -> list[URIRef]:
    """The hipkg concepts: kb and derived individuals of a concept class, sorted by IRI.

    Source passages and sources (prov:Entity) are provenance, not concepts.
    """
    classes = concept_classes(kg)
    found: set[URIRef] = set()
    for iri in (KB_GRAPH, DERIVED_GRAPH):
        for s, o in kg.graph(iri).subject_objects(RDF.type):
            if o in classes and isinstance(s, URIRef):
                found.add(s)
    return sorted(found, key=str)


def concept_type(kg: "Store", node: URIRef) -> str:
    """The most specific schema class(es) of a node as CURIEs ('|' joined when several)."""
    types = {o for o in kg.data.objects(node, RDF.type) if isinstance(o, URIRef)}
    specific = {t for t in types if not any(o != t and t in kg.schema.transitive_objects(o, RDFS.subClassOf) for o in types)}
    return "|".join(sorted(curie(t) for t in specific))


def label(kg: "Store", node: URIRef) -> str:
    value = kg.data.value(node, RDFS.label)
    return str(value) if value is not None else curie(node)


def definition(kg: "Store", node: URIRef) -> str:
    value = kg.data.value(node, SKOS.definition)
    return str(value) if value is not None else ""


def alt_labels(kg: "Store", node: URIRef) -> list[str]:
    """Synonyms, sorted, without any that repeat the preferred label (SKOS S14)."""
    pref = label(kg, node)
    return sorted({str(v) for v in kg.data.objects(node, SKOS.altLabel)} - {pref})


def local_name(node: URIRef) -> str:
    """A concept's code in non-RDF formats: its CURIE without the hipkg: prefix."""
    text = curie(node)
    return text.split(":", 1)[1] if text.startswith("hipkg:") else text
