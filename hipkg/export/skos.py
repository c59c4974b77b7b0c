"""SKOS: hipkg's concepts as one concept scheme, linked to external codes by the mapping table.

For thesaurus tools (Skosmos, VocBench, PoolParty) that read SKOS but not hipkg's schema:
rdfs:label becomes skos:prefLabel, skos:broader gives the hierarchy, and each mapping row with
a code becomes a skos:*Match to the code's IRI as the SSSOM curie_map expands it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from rdflib import Graph, Literal
from rdflib.namespace import DCTERMS, OWL, PROV, RDF, RDFS, SKOS

from hipkg import __version__
from hipkg.export._common import concepts
from hipkg.namespaces import HIPKG, new_graph

if TYPE_CHECKING:
    from hipkg.store import Store

SCHEME = HIPKG.ConceptScheme


def skos_graph(kg: "Store") -> Graph:
    """The concept scheme as an rdflib graph (what `export` serialises)."""
    graph = new_graph()
    for prefix, ns in kg.mapping_set.curie_map.items():
        if prefix not in dict(graph.namespaces()):
            graph.bind(prefix, ns)
    graph.add((SCHEME, RDF.type, SKOS.ConceptScheme))
    graph.add((SCHEME, SKOS.prefLabel, Literal("hipkg concepts", lang="en")))
    graph.add((SCHEME, OWL.versionInfo, Literal(__version__)))
    for onto in kg.schema.subjects(RDF.type, OWL.Ontology):
        for p in (DCTERMS.title, DCTERMS.license):
            for value in kg.schema.objects(onto, p):
                graph.add((SCHEME, p, value))
    members = concepts(kg)
    member_set = set(members)
    for node in members:
        graph.add((node, RDF.type, SKOS.Concept))
        graph.add((node, SKOS.inScheme, SCHEME))
        prefs = set(kg.data.objects(node, RDFS.label))
        for value in prefs:
            graph.add((node, SKOS.prefLabel, value))
        for value in kg.data.objects(node, SKOS.altLabel):
            if value not in prefs:
                graph.add((node, SKOS.altLabel, value))
        for value in kg.data.objects(node, SKOS.definition):
            graph.add((node, SKOS.definition, value))
        broader = [b for b in kg.data.objects(node, SKOS.broader) if b in member_set]
        for b in broader:
            graph.add((node, SKOS.broader, b))
        if not broader:
            graph.add((node, SKOS.topConceptOf, SCHEME))
            graph.add((SCHEME, SKOS.hasTopConcept, node))
    _recommendations(kg, graph, member_set)
    for triple in kg.mapping_set.to_graph():
        graph.add(triple)
    return graph


def _recommendations(kg: "Store", graph: Graph, members: set) -> None:
    """Guideline recommendations as a skos:Collection of concepts: label, definition, the guideline's statement as a
    skos:note, and skos:related to the concepts of their scope and population (SKOS has no place for direction or
    strength; the OWL, JSON-LD and FHIR exports carry those)."""
    collection = HIPKG.GuidelineRecommendations
    graph.add((collection, RDF.type, SKOS.Collection))
    graph.add((collection, SKOS.prefLabel, Literal("hipkg guideline recommendations", lang="en")))
    for rec in sorted(kg.data.subjects(RDF.type, HIPKG.GuidelineRecommendation), key=str):
        graph.add((collection, SKOS.member, rec))
        graph.add((rec, RDF.type, SKOS.Concept))
        for value in kg.data.objects(rec, RDFS.label):
            graph.add((rec, SKOS.prefLabel, value))
        for value in kg.data.objects(rec, SKOS.definition):
            graph.add((rec, SKOS.definition, value))
        for passage in kg.data.objects(rec, PROV.wasDerivedFrom):
            for quote in kg.data.objects(passage, HIPKG.quote):
                graph.add((rec, SKOS.note, Literal(str(quote), lang="en")))
        for p in (HIPKG.scope, HIPKG.population):
            for concept in kg.data.objects(rec, p):
                if concept in members:
                    graph.add((rec, SKOS.related, concept))


def export(kg: "Store") -> str:
    return skos_graph(kg).serialize(format="longturtle")
