"""Loading: the bundled ontology as a Dataset of separate named graphs, wrapped, not subclassed."""
from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.namespace import RDF

from hipkg.errors import InputError
from hipkg.mappings import MappingSet, read_sssom
from hipkg.namespaces import (
    DERIVED_GRAPH,
    HIPKG,
    KB_GRAPH,
    MAPPINGS_GRAPH,
    PREFIXES,
    SCHEMA_GRAPH,
    SHAPES_GRAPH,
    SOURCES_GRAPH,
    curie,
)
from hipkg.resources import ontology_dir, relative_name, walk

if TYPE_CHECKING:
    import networkx as nx

    from hipkg.queries import QueryLibrary, Result
    from hipkg.recommending import Recommendation
    from hipkg.validation import ValidationReport

#: Which named graph a bundled file belongs to, by its top folder under ontology/.
_FOLDER_GRAPH = {"schema": SCHEMA_GRAPH, "kb": KB_GRAPH, "shapes": SHAPES_GRAPH}


def new_graph() -> Graph:
    graph = Graph()
    for prefix, ns in PREFIXES.items():
        graph.bind(prefix, ns, replace=True)
    return graph


def parse_turtle(data: str | bytes, name: str, graph: Graph | None = None) -> Graph:
    """Parse Turtle, turning any parser error into an InputError that names file and line."""
    target = graph if graph is not None else new_graph()
    try:
        target.parse(data=data, format="turtle", publicID=f"file:///{name}")
    except Exception as exc:  # rdflib raises many types (BadSyntax, ValueError, ...)
        raise InputError(f"{name}: not valid Turtle: {_parser_message(exc)}") from exc
    return target


def _parser_message(exc: Exception) -> str:
    lines = getattr(exc, "lines", None)
    why = getattr(exc, "_why", None)
    if lines is not None and why:
        return f"line {int(lines) + 1}: {why}"
    return " ".join(str(exc).split())[:300]


def read_user_file(path: str | Path) -> Graph:
    """A user's Turtle file, or an InputError naming it."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read file ({exc.strerror or exc})") from exc
    return parse_turtle(data, str(p))


class KnowledgeGraph:
    """The bundled knowledge graph: named graphs for schema, shapes, kb, mappings, derived.

    Query and validate through this object; ``dataset`` exposes the named graphs as rdflib
    objects for export. Shapes are never part of the data that is queried or validated.
    """

    def __init__(self, dataset: Dataset, mapping_set: MappingSet) -> None:
        self.dataset = dataset
        self.mapping_set = mapping_set

    def graph(self, iri: URIRef) -> Graph:
        return self.dataset.graph(iri)

    @property
    def schema(self) -> Graph:
        return self.graph(SCHEMA_GRAPH)

    @property
    def shapes(self) -> Graph:
        return self.graph(SHAPES_GRAPH)

    @property
    def kb(self) -> Graph:
        return self.graph(KB_GRAPH)

    @functools.cached_property
    def data(self) -> Graph:
        """Everything a query sees: schema, kb, mappings, derived facts and source texts."""
        merged = new_graph()
        for iri in (SCHEMA_GRAPH, KB_GRAPH, MAPPINGS_GRAPH, DERIVED_GRAPH, SOURCES_GRAPH):
            for triple in self.graph(iri):
                merged.add(triple)
        return merged

    @functools.cached_property
    def queries(self) -> "QueryLibrary":
        from hipkg.queries import QueryLibrary

        return QueryLibrary.bundled()

    def query(self, name: str, **params: Any) -> "Result":
        """Run a library query (queries/NAME.rq) with bound parameters."""
        return self.queries.get(name).run(self.data, **params)

    def sparql(self, text: str, **bindings: Any) -> "Result":
        """Run any SPARQL query of yours on ``data``; ``bindings`` give single values to variables (rdflib initBindings).

        A binding that is an rdflib term is used as it is; a string that is an IRI in angle brackets, a full http(s)/urn
        IRI or a CURIE with a known prefix (hipkg:Corticosteroid) becomes an IRI; anything else becomes a literal.
        The hipkg prefixes are predeclared. Updates, SERVICE and FROM are refused as in ``hipkg query``; unlike it, this
        runs in-process with no timeout.
        """
        from rdflib import Variable
        from rdflib.plugins.sparql import prepareQuery
        from rdflib.term import Node

        from hipkg.queries import Result, expand
        from hipkg.safety import check_query

        check_query(text, name="sparql")

        init: dict[Variable, Node] = {}
        for name, value in bindings.items():
            if isinstance(value, Node):
                init[Variable(name)] = value
                continue
            try:
                init[Variable(name)] = expand(value) if isinstance(value, str) else Literal(value)
            except InputError:
                init[Variable(name)] = Literal(value)
        try:
            prepared = prepareQuery(text, initNs=PREFIXES)
            answer = self.data.query(prepared, initBindings=init)
            if answer.type == "SELECT":
                return Result("SELECT", tuple(str(v) for v in answer.vars), tuple(tuple(row) for row in answer))
        except Exception as exc:  # rdflib raises ParseException, ValueError, ...
            raise InputError(f"sparql: {' '.join(str(exc).split())[:400]}") from exc
        if answer.type == "ASK":
            return Result("ASK", boolean=bool(answer.askAnswer))
        out = new_graph()
        for triple in answer:
            out.add(triple)
        return Result(answer.type, graph=out)

    def validate(self, extra: Iterable[Graph] = ()) -> "ValidationReport":
        """SHACL-validate the knowledge base (plus any extra graphs) without mutating anything."""
        from hipkg.validation import run_shacl

        data = new_graph()
        for triple in self.data:
            data.add(triple)
        for g in extra:
            for triple in g:
                data.add(triple)
        return run_shacl(data, self.shapes, self.schema)

    def validate_situation(self, situation: Graph) -> "ValidationReport":
        """SHACL-validate a user's situation graph on its own (the knowledge base is not needed)."""
        from hipkg.validation import run_shacl

        return run_shacl(situation, self.shapes, self.schema)

    def recommend(self, situation: Any) -> "Recommendation":
        from hipkg.recommending import recommend

        return recommend(self, situation)

    def label(self, node: URIRef) -> str:
        from rdflib.namespace import RDFS

        value = self.data.value(node, RDFS.label)
        return str(value) if value is not None else curie(node)

    def to_networkx(self, derived: bool = True) -> "nx.MultiDiGraph":
        """Concepts and the object-property edges between them (see hipkg/export/networkx_export.py)."""
        from hipkg.export.networkx_export import to_networkx

        return to_networkx(self, derived=derived)

    def counts_by_class(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for s, o in self.data.subject_objects(RDF.type):
            if isinstance(o, URIRef) and str(o).startswith(str(HIPKG)) and (s, RDF.type, o) not in self.schema:
                counts[curie(o)] += 1
        return dict(sorted(counts.items()))


def _derive(data: Graph, derived: Graph) -> None:
    """Materialise situation-independent facts (options, rule scopes) with queries/derive/*.rq."""
    from hipkg.queries import QueryLibrary

    for query in QueryLibrary.bundled().group("derive"):
        result = query.run(data)
        for triple in result.graph:
            derived.add(triple)
            data.add(triple)


@functools.lru_cache(maxsize=1)
def load() -> KnowledgeGraph:
    """Load the bundled graph once per process: parse, add source texts, derive, map codes."""
    root = ontology_dir()
    dataset = Dataset()
    for prefix, ns in PREFIXES.items():
        dataset.bind(prefix, ns, replace=True)
    for node in walk(root, ".ttl"):
        name = relative_name(root, node)
        folder = name.split("/", 1)[0] if "/" in name else "schema"
        parse_turtle(node.read_bytes(), f"ontology/{name}", dataset.graph(_FOLDER_GRAPH.get(folder, SCHEMA_GRAPH)))
    mapping_set = MappingSet(metadata={}, curie_map={}, mappings=())
    for node in walk(root / "mappings", ".sssom.tsv"):
        mapping_set = read_sssom(node.read_text(encoding="utf-8"), f"ontology/mappings/{node.name}")
        for triple in mapping_set.to_graph():
            dataset.graph(MAPPINGS_GRAPH).add(triple)
    kb = dataset.graph(KB_GRAPH)
    sources = dataset.graph(SOURCES_GRAPH)
    for source, copy in kb.subject_objects(HIPKG.localCopy):
        sources.add((source, HIPKG.fullText, Literal((root / str(copy)).read_text(encoding="utf-8"))))
    kg = KnowledgeGraph(dataset, mapping_set)
    _derive(kg.data, dataset.graph(DERIVED_GRAPH))
    return kg
