"""OWL 2 as RDF/XML that Protégé opens cleanly.

Protégé needs what plain RDF leaves implicit: an owl:Ontology header, a declaration for every
class and property used, and individuals typed owl:NamedIndividual. Those declarations are
added here from the graph's own structure; no clinical content is added.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS

from hipkg import __version__
from hipkg.export._common import knowledge_graph
from hipkg.namespaces import DERIVED_GRAPH, HIPKG, KB_GRAPH

if TYPE_CHECKING:
    from hipkg.store import Store

ONTOLOGY = URIRef(str(HIPKG) + "ontology")
_BUILT_IN = (str(RDF), str(RDFS), str(OWL))
_PROPERTY_TYPES = (OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty)


def _built_in(node: object) -> bool:
    return str(node).startswith(_BUILT_IN)


def owl_graph(kg: "Store") -> Graph:
    """The knowledge graph plus the OWL declarations Protégé expects (this is what `export` writes)."""
    graph = knowledge_graph(kg)
    classes = set(graph.subjects(RDF.type, OWL.Class))
    if not any(graph.subjects(RDF.type, OWL.Ontology)):
        graph.add((ONTOLOGY, RDF.type, OWL.Ontology))
        graph.add((ONTOLOGY, OWL.versionInfo, Literal(__version__)))
    for iri in (KB_GRAPH, DERIVED_GRAPH):
        for s, o in kg.graph(iri).subject_objects(RDF.type):
            if o in classes and isinstance(s, URIRef):
                graph.add((s, RDF.type, OWL.NamedIndividual))
    # Classes used but declared elsewhere (skos:Concept, prov:Entity).
    used_classes = set(graph.objects(None, RDF.type)) | set(graph.objects(None, RDFS.subClassOf))
    for c in used_classes - classes:
        if isinstance(c, URIRef) and not _built_in(c):
            graph.add((c, RDF.type, OWL.Class))
    # Properties used but not declared (skos:definition, prov:wasDerivedFrom, dcterms:title, skos:*Match):
    # annotation properties, which OWL 2 DL allows with literal and IRI values alike.
    declared = {s for t in _PROPERTY_TYPES for s in graph.subjects(RDF.type, t)}
    for p in set(graph.predicates()) - declared:
        if not _built_in(p):
            graph.add((p, RDF.type, OWL.AnnotationProperty))
    for sub, sup in list(graph.subject_objects(RDFS.subPropertyOf)):
        if sup not in declared and not _built_in(sup):
            for kind in _PROPERTY_TYPES:
                if (sub, RDF.type, kind) in graph:
                    graph.add((sup, RDF.type, kind))
    return graph


def export(kg: "Store") -> str:
    return owl_graph(kg).serialize(format="pretty-xml")
