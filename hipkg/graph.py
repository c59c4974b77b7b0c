"""Loading: the bundled ontology as a Dataset of separate named graphs, wrapped, not subclassed."""
from __future__ import annotations

import functools
import hashlib
import os
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
    new_graph,
)
from hipkg.engines import ENGINES
from hipkg.resources import ontology_dir, relative_name, walk

#: The graphs every query sees, as one default graph; shapes are not among them.
DATA_GRAPHS = (SCHEMA_GRAPH, KB_GRAPH, MAPPINGS_GRAPH, DERIVED_GRAPH, SOURCES_GRAPH)

if TYPE_CHECKING:
    from hipkg.engines import Engine
    import networkx as nx

    from hipkg.queries import QueryLibrary, Result
    from hipkg.recommending import Recommendation
    from hipkg.validation import ValidationReport

#: Which named graph a bundled file belongs to, by its top folder under ontology/.
_FOLDER_GRAPH = {"schema": SCHEMA_GRAPH, "kb": KB_GRAPH, "shapes": SHAPES_GRAPH}




def cut_graphs(nquads: bytes, graphs: Iterable[URIRef]) -> bytes:
    """The triples of ``graphs`` as N-Triples, cut from N-Quads: they keep one quad per line with the graph term last,
    so no RDF parser is needed to select graphs."""
    wanted = {f" <{g}> .".encode() for g in graphs}
    out = []
    for line in nquads.splitlines():
        cut = line.rfind(b" <")
        if cut > 0 and line[cut:] in wanted:
            out.append(line[:cut] + b" .")
    return b"\n".join(out) + b"\n"


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

    Queries run on ``engine`` (Oxigraph by default, rdflib, or an external endpoint); ``dataset`` exposes
    the named graphs as rdflib objects for validation and export and is parsed only when first used.
    Shapes are never part of the data that is queried or validated.
    """

    def __init__(self, nquads: bytes, mapping_set: MappingSet, engine: str = "oxigraph", endpoint: str | None = None,
                 update_endpoint: str | None = None) -> None:
        self.nquads = nquads
        self.mapping_set = mapping_set
        self.engine_name = "endpoint" if endpoint else engine
        self.endpoint = endpoint
        self.update_endpoint = update_endpoint
        self._graphs: dict[URIRef, Graph] = {}
        if self.engine_name not in (*ENGINES, "endpoint"):
            raise InputError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")

    @functools.cached_property
    def dataset(self) -> Dataset:
        dataset = Dataset()
        for prefix, ns in PREFIXES.items():
            dataset.bind(prefix, ns, replace=True)
        dataset.parse(data=self.nquads, format="nquads")
        return dataset

    @functools.cached_property
    def engine(self) -> "Engine":
        from hipkg.engines import EndpointEngine, OxigraphEngine, RdflibEngine

        if self.endpoint:
            return EndpointEngine(self.endpoint, update_url=self.update_endpoint)
        if self.engine_name == "rdflib":
            return RdflibEngine(self.data)
        return OxigraphEngine(self.nquads, self.ntriples())

    def ntriples(self, *graphs: URIRef) -> bytes:
        """The triples of the given named graphs (default: the data graphs) as N-Triples (see cut_graphs)."""
        return cut_graphs(self.nquads, graphs or DATA_GRAPHS)

    def graph(self, iri: URIRef) -> Graph:
        """One named graph as an rdflib Graph, parsed on first use (small graphs parse fast on their own)."""
        if iri not in self._graphs:
            graph = new_graph()
            graph.parse(data=self.ntriples(iri), format="nt")
            self._graphs[iri] = graph
        return self._graphs[iri]

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
        merged.parse(data=self.ntriples(*DATA_GRAPHS), format="nt")
        return merged

    @functools.cached_property
    def queries(self) -> "QueryLibrary":
        from hipkg.queries import QueryLibrary

        return QueryLibrary.bundled()

    def query(self, name: str, **params: Any) -> "Result":
        """Run a library query (queries/NAME.rq) with bound parameters."""
        return self.queries.get(name).run(self.engine, **params)

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

    def validate(self, extra: Iterable[Graph] = (), validator: str = "auto") -> "ValidationReport":
        """SHACL-validate the knowledge base (plus any extra graphs) without mutating anything.

        The data goes to the validator as N-Triples, so the fast validator never waits for rdflib to parse it, and
        without the values of query-index properties (hipkg:QueryIndexProperty, derived only to make queries cheap:
        they restate the rest of the graph), which were 45% of the triples and of the validation time.
        """
        from hipkg.validation import run_shacl

        index = {f"<{p}>".encode() for p in self.schema.subjects(RDF.type, HIPKG.QueryIndexProperty)}
        data = b"".join(line + b"\n" for line in self.ntriples().splitlines() if line.split(b" ", 2)[1] not in index)
        return run_shacl([data, *extra], self.shapes, self.schema, validator=validator)

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


def _bundle_key() -> str:
    """Content hash of everything a load computes from: ontology files, derive queries, version, and the code that
    builds (this module and hipkg.mappings), so that a changed build never reads a stale cache."""
    from hipkg import __version__, mappings
    from hipkg.resources import queries_dir

    digest = hashlib.sha256(__version__.encode())
    root = ontology_dir()
    for node in (*walk(root, ".ttl"), *walk(root, ".tsv"), *walk(root, ".txt"), *walk(queries_dir() / "derive", ".rq")):
        digest.update(str(node).encode())
        digest.update(node.read_bytes())
    for module in (__file__, mappings.__file__):
        digest.update(Path(module).read_bytes())
    return digest.hexdigest()[:32]


def _cache_dir() -> Path:
    base = os.environ.get("HIPKG_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hipkg")
    return Path(base)


def _read_mappings() -> MappingSet:
    mapping_set = MappingSet(metadata={}, curie_map={}, mappings=())
    for node in walk(ontology_dir() / "mappings", ".sssom.tsv"):
        mapping_set = read_sssom(node.read_text(encoding="utf-8"), f"ontology/mappings/{node.name}")
    return mapping_set


def _build(mapping_set: MappingSet) -> bytes:
    """Parse the bundled Turtle, add mappings and source texts, derive with queries/derive/*.rq; N-Quads out."""
    from hipkg.engines import OxigraphEngine
    from hipkg.queries import QueryLibrary

    root = ontology_dir()
    dataset = Dataset()
    for node in walk(root, ".ttl"):
        name = relative_name(root, node)
        folder = name.split("/", 1)[0] if "/" in name else "schema"
        parse_turtle(node.read_bytes(), f"ontology/{name}", dataset.graph(_FOLDER_GRAPH.get(folder, SCHEMA_GRAPH)))
    for triple in mapping_set.to_graph():
        dataset.graph(MAPPINGS_GRAPH).add(triple)
    sources = dataset.graph(SOURCES_GRAPH)
    for source, copy in dataset.graph(KB_GRAPH).subject_objects(HIPKG.localCopy):
        sources.add((source, HIPKG.fullText, Literal((root / str(copy)).read_text(encoding="utf-8"))))
    derived = dataset.graph(DERIVED_GRAPH)
    for query in QueryLibrary.bundled().group("derive"):
        # Each rule sees what the earlier ones derived; Oxigraph makes the whole build take well under a second.
        nquads = dataset.serialize(format="nquads", encoding="utf-8")
        engine = OxigraphEngine(nquads, cut_graphs(nquads, DATA_GRAPHS))
        for triple in query.run(engine).graph:
            derived.add(triple)
    return dataset.serialize(format="nquads", encoding="utf-8")


def bundled_nquads(mapping_set: MappingSet) -> bytes:
    """The built graph as N-Quads, from the cache when its content key matches (the cache is only an optimisation)."""
    path = _cache_dir() / f"graph-{_bundle_key()}.nq"
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = _build(mapping_set)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        pass  # a read-only home is fine: we just rebuild next time
    return data


@functools.lru_cache(maxsize=4)
def load(engine: str = "oxigraph", endpoint: str | None = None, update_endpoint: str | None = None) -> KnowledgeGraph:
    """Load the bundled graph once per process and engine (see KnowledgeGraph)."""
    mapping_set = _read_mappings()
    return KnowledgeGraph(bundled_nquads(mapping_set), mapping_set, engine=engine, endpoint=endpoint, update_endpoint=update_endpoint)
