"""Export formats of ``hipkg export``: one registry feeds the CLI choices, its --help and the lookup.

Each exporter lives in its own module and is imported only when asked for, so listing the
formats (``hipkg export --help``) never imports networkx, json-ld or FHIR machinery.
An exporter is ``function(kg) -> str`` (text formats) or ``-> bytes`` (binary ones).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable, NamedTuple

from hipkg.errors import InputError

if TYPE_CHECKING:
    from hipkg.store import Store


class Exporter(NamedTuple):
    module: str
    function: str
    description: str
    binary: bool


#: format name -> (module under hipkg.export, function name, one-line description, returns bytes?)
EXPORTERS: dict[str, Exporter] = {
    "turtle": Exporter("turtle", "export", "canonical Turtle (rdflib longturtle) of schema, kb, mappings and derived facts", False),
    "ntriples": Exporter("ntriples", "export", "N-Triples of the same knowledge graph, sorted lines", False),
    "jsonld": Exporter("jsonld", "export", "JSON-LD with an inline @context of hipkg's prefixes (no remote context)", False),
    "owl": Exporter("owl", "export", "OWL as RDF/XML for Protégé: ontology header, declarations, owl:NamedIndividual", False),
    "skos": Exporter("skos", "export", "SKOS concept scheme (Turtle) with labels, hierarchy and *Match links to external codes", False),
    "sssom": Exporter("sssom_tsv", "export", "the code mapping table as SSSOM/TSV (with NoTermFound rows)", False),
    "fhir": Exporter("fhir", "export", "FHIR R4B (4.3.0) JSON Bundle: CodeSystem, ConceptMaps per target system, trigger ValueSets, PlanDefinitions", False),
    "graphml": Exporter("graphml", "export", "GraphML of the concept graph (networkx), edges labelled with predicate CURIEs", True),
    "nodelink": Exporter("nodelink", "export", "networkx node-link JSON of the concept graph", False),
    "csv": Exporter("csv_table", "export", "CSV, one row per concept: id, type, label, definition, synonyms, codes in one column per SKOS mapping predicate", False),
}


def function(name: str) -> Callable[["Store"], str | bytes]:
    """The exporter function for a format name (imports its module now)."""
    if name not in EXPORTERS:
        raise InputError(f"unknown export format {name!r}; known formats: {', '.join(EXPORTERS)}")
    entry = EXPORTERS[name]
    return getattr(importlib.import_module(f"hipkg.export.{entry.module}"), entry.function)


def export(kg: "Store", name: str) -> str | bytes:
    """Serialise the knowledge graph in the named format."""
    return function(name)(kg)
