"""The concept graph as a networkx MultiDiGraph: hipkg concepts and the object-property edges between them.

Chosen scope: nodes are hipkg concepts (see _common.concepts) keyed by CURIE, with ``label`` and
``type`` attributes; edges are the kb's (and, by default, the derived graph's) statements linking
two concepts, keyed and attributed by predicate CURIE. Left out: literals, source passages and
sources (provenance would make every concept two hops from every other via the source document),
external codes, and properties the schema declares transitive or reflexive (hipkg:within is a
materialised closure of skos:broader/hipkg:inCategory: it would only add shortcuts and self-loops).
From the derived graph only its new nodes (injection options) and their defining edges (target,
regimen, guidance, purpose) are taken; derived facts about kb concepts (hipkg:appliesToOption,
1,000+ rule-to-option edges computable from scope and option parts) would swamp degree and paths.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
from rdflib import URIRef
from rdflib.namespace import OWL, RDF

from hipkg.export._common import concept_type, concepts, label
from hipkg.namespaces import DERIVED_GRAPH, KB_GRAPH, curie

if TYPE_CHECKING:
    from hipkg.store import Store


def closure_properties(kg: "Store") -> set[URIRef]:
    """Properties whose values are closures of other edges, by their schema declaration."""
    return {p for kind in (OWL.TransitiveProperty, OWL.ReflexiveProperty) for p in kg.schema.subjects(RDF.type, kind)
            if isinstance(p, URIRef)}


def to_networkx(kg: "Store", derived: bool = True) -> "nx.MultiDiGraph":
    """MultiDiGraph of concepts (CURIE nodes with label/type) and predicate-labelled edges between them."""
    graph = nx.MultiDiGraph(name="hipkg")
    nodes = concepts(kg)
    members = set(nodes)
    for node in nodes:
        graph.add_node(curie(node), label=label(kg, node), type=concept_type(kg, node))
    skip = closure_properties(kg) | {RDF.type}
    derived_graph = kg.graph(DERIVED_GRAPH)
    new_nodes = set(derived_graph.subjects(RDF.type, None))
    edges = set()
    for s, p, o in kg.graph(KB_GRAPH):
        if s in members and o in members and p not in skip:
            edges.add((curie(s), curie(p), curie(o)))
    if derived:
        for s, p, o in derived_graph:
            if s in new_nodes and s in members and o in members and p not in skip:
                edges.add((curie(s), curie(p), curie(o)))
    for s, p, o in sorted(edges):
        graph.add_edge(s, o, key=p, predicate=p)
    return graph
