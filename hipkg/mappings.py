"""The one mapping table (SSSOM/TSV) and the skos:*Match triples generated from it.

The table is the only place a code mapping is written down; the graph's mapping triples
are derived from it at load, so they can never disagree.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from rdflib import Graph, Literal, URIRef

from hipkg.errors import InputError
from hipkg.namespaces import HIPKG

NO_TERM_FOUND = "sssom:NoTermFound"
#: SKOS mapping predicates through which a patient's code reaches a concept: the code means
#: the same (exact/close) or something narrower (narrowMatch: the object is narrower).
MATCHING_PREDICATES = ("skos:exactMatch", "skos:closeMatch", "skos:narrowMatch")
#: Every SKOS mapping predicate, in SKOS's order of closeness (the CSV export's code columns).
MAPPING_PREDICATES = (*MATCHING_PREDICATES, "skos:broadMatch", "skos:relatedMatch")


@dataclass(frozen=True)
class Mapping:
    subject_id: str
    subject_label: str
    predicate_id: str
    object_id: str
    object_label: str
    mapping_justification: str
    comment: str

    @property
    def is_no_term_found(self) -> bool:
        return self.object_id == NO_TERM_FOUND


@dataclass(frozen=True)
class MappingSet:
    metadata: dict[str, str]
    curie_map: dict[str, str]
    mappings: tuple[Mapping, ...] = field(default_factory=tuple)

    def expand(self, curie: str) -> URIRef:
        prefix, _, local = curie.partition(":")
        if prefix not in self.curie_map:
            raise InputError(f"mapping table: prefix {prefix!r} of {curie!r} is not in its curie_map")
        return URIRef(self.curie_map[prefix] + local)

    def to_graph(self) -> Graph:
        """skos:*Match triples for every row that names a code (NoTermFound rows name none), and each code's CURIE as
        the table writes it (hipkg:curie), by which a situation's codes find it (queries/recommend/reached.rq)."""
        graph = Graph()
        for row in self.mappings:
            if not row.is_no_term_found:
                code = self.expand(row.object_id)
                graph.add((self.expand(row.subject_id), self.expand(row.predicate_id), code))
                graph.add((code, HIPKG.curie, Literal(row.object_id)))
        return graph


def _parse_metadata(lines: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Read the embedded YAML block as SSSOM writes it: scalar keys and one nested curie_map.

    Only this flat subset is accepted, so no YAML library is needed at run time.
    """
    metadata: dict[str, str] = {}
    curie_map: dict[str, str] = {}
    in_map = False
    for raw in lines:
        text = raw[1:].rstrip()
        if not text.strip():
            continue
        indented = text.startswith("  ")
        key, _, value = text.strip().partition(":")
        value = value.strip().strip('"')
        if in_map and indented:
            curie_map[key] = value
            continue
        in_map = key == "curie_map" and not value
        if not in_map:
            metadata[key] = value
    return metadata, curie_map


def read_sssom(text: str, name: str = "mappings") -> MappingSet:
    lines = text.splitlines()
    header = [line for line in lines if line.startswith("#")]
    body = "\n".join(line for line in lines if not line.startswith("#"))
    metadata, curie_map = _parse_metadata(header)
    reader = csv.DictReader(io.StringIO(body), delimiter="\t")
    rows = []
    for number, record in enumerate(reader, start=len(header) + 2):
        try:
            rows.append(Mapping(**{k: (record.get(k) or "").strip() for k in Mapping.__dataclass_fields__}))
        except TypeError as exc:  # pragma: no cover - columns are fixed by the dataclass
            raise InputError(f"{name}:{number}: {exc}") from exc
    return MappingSet(metadata=metadata, curie_map=curie_map, mappings=tuple(rows))
