"""Loading: the bundled ontology built into named graphs (cached as N-Quads), and the Store that holds them with
the engine that queries them. A Store is data + engine + query; what is done with it (recommending, validating,
exporting) lives in the modules above, and hipkg.graph.KnowledgeGraph puts them behind one facade."""
from __future__ import annotations

import functools
import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS

from hipkg import __version__
from hipkg.engines import ENGINES, EndpointEngine, Engine, OxigraphEngine, RdflibEngine
from hipkg.errors import InputError
from hipkg.mappings import MappingSet, read_sssom
from hipkg.namespaces import (
    DATA_GRAPHS,
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
from hipkg.queries import QueryLibrary
from hipkg.rdfio import cut_graphs, parse_turtle
from hipkg.resources import ontology_dir, queries_dir, relative_name, walk
from hipkg.results import Result
from hipkg.vocabulary import Vocabulary

#: Which named graph a bundled file belongs to, by its top folder under ontology/.
_FOLDER_GRAPH = {"schema": SCHEMA_GRAPH, "kb": KB_GRAPH, "shapes": SHAPES_GRAPH}
#: The modules a build runs through: their code is part of the cache key, so a changed build never reads a stale cache.
_BUILD_MODULES = ("store", "engines", "queries", "mappings", "rdfio", "namespaces", "results", "resources")


class Store:
    """The bundled knowledge graph: named graphs for schema, shapes, kb, mappings, derived and sources.

    Queries run on ``engine`` (Oxigraph by default, rdflib, or an external endpoint); ``dataset`` exposes the named
    graphs as rdflib objects for validation and export and is parsed only when first used. Shapes are never part of
    the data that is queried or validated.
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
    def engine(self) -> Engine:
        if self.endpoint:
            return EndpointEngine(self.endpoint, update_url=self.update_endpoint)
        if self.engine_name == "rdflib":
            return RdflibEngine(self.data)
        return OxigraphEngine(self.nquads, self.ntriples())

    def ntriples(self, *graphs: URIRef) -> bytes:
        """The triples of the given named graphs (default: the data graphs) as N-Triples (see hipkg.rdfio.cut_graphs)."""
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
    def queries(self) -> QueryLibrary:
        return QueryLibrary.bundled()

    def query(self, name: str, **params: Any) -> Result:
        """Run a library query (queries/NAME.rq) with bound parameters."""
        return self.queries.get(name).run(self.engine, **params)

    @functools.cached_property
    def vocabulary(self) -> Vocabulary:
        """Goals, policies and statuses as the graph defines them (read once)."""
        return Vocabulary.from_results(self.query("recommend/goals"), self.query("recommend/statuses"),
                                       self.query("recommend/certainties"), self.query("recommend/observation-units"),
                                       self.query("recommend/injection-terms"), self.query("recommend/policies"),
                                       self.query("recommend/names"))

    @functools.cached_property
    def term_labels(self) -> dict[tuple[str, str], str]:
        """(kind, slug) -> the label of that target, medication category, guidance method or purpose
        (recommend/term-labels): how pictures and reports of an answer name its options' parts."""
        return {(str(kind), str(slug)): str(label) for kind, slug, label in self.query("recommend/term-labels").rows}

    def label(self, node: URIRef) -> str:
        value = self.data.value(node, RDFS.label)
        return str(value) if value is not None else curie(node)

    def counts_by_class(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for s, o in self.data.subject_objects(RDF.type):
            if isinstance(o, URIRef) and str(o).startswith(str(HIPKG)) and (s, RDF.type, o) not in self.schema:
                counts[curie(o)] += 1
        return dict(sorted(counts.items()))


def bundle_key() -> str:
    """Content hash of everything a load computes from: ontology files, derive queries, version, and the code of every
    module the build runs through (_BUILD_MODULES), so that a changed build never reads a stale cache."""
    digest = hashlib.sha256(__version__.encode())
    root = ontology_dir()
    for node in (*walk(root, ".ttl"), *walk(root, ".tsv"), *walk(root, ".txt"), *walk(queries_dir() / "derive", ".rq")):
        digest.update(str(node).encode())
        digest.update(node.read_bytes())
    here = Path(__file__).resolve().parent
    for module in _BUILD_MODULES:
        digest.update((here / f"{module}.py").read_bytes())
    return digest.hexdigest()[:32]


def cache_dir() -> Path:
    base = os.environ.get("HIPKG_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "hipkg")
    return Path(base)


def read_mappings() -> MappingSet:
    mapping_set = MappingSet(metadata={}, curie_map={}, mappings=())
    for node in walk(ontology_dir() / "mappings", ".sssom.tsv"):
        mapping_set = read_sssom(node.read_text(encoding="utf-8"), f"ontology/mappings/{node.name}")
    return mapping_set


def _build(mapping_set: MappingSet) -> bytes:
    """Parse the bundled Turtle, add mappings and source texts, derive with queries/derive/*.rq; N-Quads out."""
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
    path = cache_dir() / f"graph-{bundle_key()}.nq"
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
