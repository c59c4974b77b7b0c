"""The facade: ``hipkg.load()`` gives a KnowledgeGraph, a Store (data + engine + query) that can also recommend,
validate and become a networkx graph. It sits above every module it calls, so none of them calls back into it."""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from rdflib import Graph
from rdflib.namespace import RDF

from hipkg import situations
from hipkg.fhir_in import FhirReader
from hipkg.namespaces import HIPKG
from hipkg.recommending import Recommendation, Recommender
from hipkg.results import Result
from hipkg.sparql import DEFAULT_MAX_MEMORY, DEFAULT_TIMEOUT, evaluate, isolated
from hipkg.store import Store, bundled_nquads, read_mappings
from hipkg.validation import ValidationReport, run_shacl

if TYPE_CHECKING:
    import networkx as nx


class KnowledgeGraph(Store):
    """The bundled knowledge graph with everything hipkg does with it (see Store for the data and the engine)."""

    @functools.cached_property
    def recommender(self) -> Recommender:
        """Holds the situation-independent tables and the memos; one per graph."""
        return Recommender(self)

    def sparql(self, text: str, *, timeout: float | None = DEFAULT_TIMEOUT, max_memory: int | None = DEFAULT_MAX_MEMORY,
               **bindings: Any) -> Result:
        """Run any SPARQL query of yours on the data graphs, on this graph's engine; ``bindings`` give single values to
        variables, as a trailing VALUES clause of validated terms (so they join the query's solutions).

        A binding that is an rdflib term is used as it is; a string that is an IRI in angle brackets, a full http(s)/urn
        IRI or a CURIE with a known prefix (hipkg:Corticosteroid) becomes an IRI; anything else becomes a literal.
        The hipkg prefixes are predeclared. Updates, SERVICE and FROM are refused as in ``hipkg query``. As there, the
        evaluation runs in a child process stopped after ``timeout`` seconds (default 30; QueryTimeout), so that a
        runaway query (a catastrophic regex, a cartesian product) cannot hang the caller, and held to ``max_memory``
        bytes beyond the loaded graph (default 2 GiB; QueryMemoryExceeded); ``timeout=None`` runs it in-process with
        neither limit. On an endpoint the HTTP timeout and the server's own limit apply instead.
        """
        if timeout is None or self.endpoint is not None:
            return evaluate(self.engine, text, name="sparql", bindings=bindings)
        return isolated(self.engine, text, timeout=timeout, limit=None, name="sparql", bindings=bindings, max_memory=max_memory)

    def validate(self, extra: Iterable[Graph] = (), validator: str = "auto") -> ValidationReport:
        """SHACL-validate the knowledge base (plus any extra graphs) without mutating anything.

        The data goes to the validator as N-Triples, so the fast validator never waits for rdflib to parse it, and
        without the values of query-index properties (hipkg:QueryIndexProperty, derived only to make queries cheap:
        they restate the rest of the graph), which were 45% of the triples and of the validation time.
        """
        index = {f"<{p}>".encode() for p in self.schema.subjects(RDF.type, HIPKG.QueryIndexProperty)}
        data = b"".join(line + b"\n" for line in self.ntriples().splitlines() if line.split(b" ", 2)[1] not in index)
        return run_shacl([data, *extra], self.shapes, self.schema, validator=validator)

    def validate_situation(self, situation: Graph) -> ValidationReport:
        """SHACL-validate a user's situation graph on its own (the knowledge base is not needed)."""
        return run_shacl(situation, self.shapes, self.schema)

    def recommend(self, situation: Any) -> Recommendation:
        """Which injection options fit ``situation`` (dict, Situation or rdflib Graph), and why."""
        return self.recommender.recommend(self.situation(situation))

    def recommend_many(self, given: Sequence[Any]) -> list[Recommendation]:
        """Many situations answered together, with one run of each query (see hipkg.recommending)."""
        return self.recommender.recommend_many([self.situation(s) for s in given])

    @functools.cached_property
    def fhir(self) -> FhirReader:
        """Reads FHIR R4 input (a Bundle, a resource, or a list of resources) into situations; one per graph."""
        return FhirReader(self)

    def situation(self, given: Any, date: str | None = None) -> situations.Situation:
        """A Situation from a Situation, a dict (a hipkg situation, or FHIR R4 JSON: a Bundle, a resource, or a list of
        resources, read as of ``date``, else the Bundle's timestamp, else today), or an rdflib Graph holding one
        hipkg:Situation (validated)."""
        if isinstance(given, situations.Situation):
            return given
        if isinstance(given, Graph):
            return situations.from_graph(self.vocabulary, given, self.validate_situation)
        if situations.is_fhir(given):
            return self.fhir.situation(given, date=date)
        return situations.from_dict(self.vocabulary, given)

    def to_networkx(self, derived: bool = True) -> "nx.MultiDiGraph":
        """Concepts and the object-property edges between them (see hipkg/export/networkx_export.py)."""
        from hipkg.export.networkx_export import to_networkx  # networkx is imported only when asked for (start-up time)

        return to_networkx(self, derived=derived)


@functools.lru_cache(maxsize=4)
def load(engine: str = "oxigraph", endpoint: str | None = None, update_endpoint: str | None = None) -> KnowledgeGraph:
    """Load the bundled graph once per process and engine (see KnowledgeGraph)."""
    mapping_set = read_mappings()
    return KnowledgeGraph(bundled_nquads(mapping_set), mapping_set, engine=engine, endpoint=endpoint, update_endpoint=update_endpoint)
