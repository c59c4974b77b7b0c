"""SHACL validation of hipkg graphs, returned as a small typed report.

pyshacl answers with an RDF results graph full of blank nodes; callers (the CLI,
tests, CI) need stable, comparable, JSON-ready values instead. This module is the
only place that knows how a SHACL results graph is shaped.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import rdflib
from rdflib import BNode, Graph, Literal
from rdflib.collection import Collection
from rdflib.namespace import RDF, SH, XSD

from hipkg.namespaces import PREFIXES as _PREFIXES

__all__ = ["ValidationResult", "ValidationReport", "VALIDATORS", "run_shacl", "resolve_validator", "curie"]

# hipkg's fixed prefix table, not the graphs' own bindings, so output does not depend
# on which prefixes a parser or rdflib happened to bind.
PREFIXES: dict[str, str] = dict(_PREFIXES)

_LOCAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*(?<!\.)$")
_SEVERITY_RANK = {"Violation": 0, "Warning": 1, "Info": 2}


@dataclass(frozen=True)
class ValidationResult:
    """One SHACL result, rendered as strings so it can be compared, sorted and printed."""

    severity: str  # "Violation" | "Warning" | "Info"
    focus_node: str  # CURIE where a prefix is known (hipkg:X), else <IRI>
    path: str | None
    value: str | None
    message: str
    source_shape: str  # hipkg:XShape, or hipkg:XShape/<path> for a blank property shape


@dataclass(frozen=True)
class ValidationReport:
    """All results of one validation run, in a stable order."""

    conforms: bool  # False only when some result has severity Violation
    results: tuple[ValidationResult, ...]

    def to_json(self) -> dict:
        """Plain dict for `json.dumps`; keys match the dataclass fields."""
        return {"conforms": self.conforms, "results": [asdict(r) for r in self.results]}

    def violations(self) -> tuple[ValidationResult, ...]:
        """Only the results that make the graph non-conforming."""
        return tuple(r for r in self.results if r.severity == "Violation")


def curie(node: rdflib.term.Node) -> str:
    """Render an IRI as prefix:local where the prefix is known, else as <IRI>."""
    if isinstance(node, BNode):
        return "[]"  # blank node ids differ between runs; never leak them
    text = str(node)
    # Longest namespace first, so a more specific namespace wins.
    for prefix, ns in sorted(PREFIXES.items(), key=lambda kv: -len(kv[1])):
        if text.startswith(ns):
            local = text[len(ns):]
            if local == "" or _LOCAL_NAME.match(local):
                return f"{prefix}:{local}"
    return f"<{text}>"


def _render_value(node: rdflib.term.Node) -> str:
    """A value as a curator would write it in Turtle: "text", "text"@en, "1"^^xsd:integer, hipkg:X."""
    if isinstance(node, Literal):
        lexical = str(node).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        if node.language:
            return f'"{lexical}"@{node.language}'
        if node.datatype is None or node.datatype == XSD.string:
            return f'"{lexical}"'
        return f'"{lexical}"^^{curie(node.datatype)}'
    return curie(node)


def _render_path(path: rdflib.term.Node, graph: Graph) -> str:
    """A SHACL property path in SPARQL property-path syntax (p, ^p, p/q, (p|q), p*)."""
    if not isinstance(path, BNode):
        return curie(path)
    if (path, RDF.first, None) in graph:
        return "/".join(_render_path(p, graph) for p in Collection(graph, path))
    for predicate, template in (
        (SH.inversePath, "^{}"),
        (SH.zeroOrMorePath, "{}*"),
        (SH.oneOrMorePath, "{}+"),
        (SH.zeroOrOnePath, "{}?"),
    ):
        inner = graph.value(path, predicate)
        if inner is not None:
            return template.format(_render_path(inner, graph))
    alternatives = graph.value(path, SH.alternativePath)
    if alternatives is not None:
        return "(" + "|".join(_render_path(p, graph) for p in Collection(graph, alternatives)) + ")"
    return "[]"


def _render_shape(shape: rdflib.term.Node, shapes: Graph) -> str:
    """Name a shape by its IRI; a blank property shape by its parent shape plus its path.

    Blank node labels are meaningless to a curator and unstable between runs, so
    "_:b123" must never appear in a report.
    """
    if not isinstance(shape, BNode):
        return curie(shape)
    parent = next(iter(sorted(shapes.subjects(SH.property, shape), key=str)), None)
    path = shapes.value(shape, SH.path)
    path_text = _render_path(path, shapes) if path is not None else None
    if parent is None:
        return f"[]/{path_text}" if path_text else "[]"
    parent_text = _render_shape(parent, shapes)
    return f"{parent_text}/{path_text}" if path_text else parent_text


def _message(results: Graph, result: rdflib.term.Node) -> str:
    """The English message if there are several; deterministic otherwise."""
    messages = sorted(
        results.objects(result, SH.resultMessage),
        key=lambda m: (getattr(m, "language", None) not in (None, "en"), str(m)),
    )
    return str(messages[0]) if messages else ""


def _severity(node: rdflib.term.Node | None) -> str:
    if node is None:
        return "Violation"
    text = str(node)
    return text[len(str(SH)):] if text.startswith(str(SH)) else curie(node)


def _sort_key(r: ValidationResult) -> tuple:
    return (
        _SEVERITY_RANK.get(r.severity, len(_SEVERITY_RANK)),
        r.focus_node,
        r.path or "",
        r.message,
        r.value or "",
        r.source_shape,
    )


VALIDATORS: dict[str, str] = {
    "auto": "pyshacl-turbo when it is installed, else pySHACL (tests/test_validators.py proves both give the "
    "same report on every shape fixture and on the bundled graph)",
    "pyshacl": "pySHACL, the reference implementation (pure Python; about 1 s on the bundled graph)",
    "turbo": "pyshacl-turbo, a Rust SHACL engine with pySHACL's API, Core and SHACL-SPARQL (about 0.2 s)",
}

_log = logging.getLogger(__name__)


def turbo_available() -> bool:
    """True when pyshacl-turbo can be imported."""
    try:
        import pyshacl_turbo  # noqa: F401 - optional engine: this only asks whether it is installed
    except ImportError:
        return False
    return True


def resolve_validator(validator: str = "auto") -> str:
    """The engine `validator` stands for: "pyshacl" or "turbo"."""
    if validator not in VALIDATORS:
        raise ValueError(f"unknown validator {validator!r}; choose one of {', '.join(VALIDATORS)}")
    if validator == "auto":
        return "turbo" if turbo_available() else "pyshacl"
    if validator == "turbo" and not turbo_available():
        raise ValueError("validator 'turbo' needs pyshacl-turbo: pip install pyshacl-turbo")
    return validator


# Settings shared by both engines. No inference is run: class targets and sh:class
# still see subclasses because the engines mix the ontology into a *copy* of the data
# (inplace=False), which also leaves the caller's graphs untouched. advanced=True
# enables the two SHACL-SPARQL quote checks (pyshacl-turbo runs them natively).
_SETTINGS = {"inference": "none", "allow_warnings": True, "advanced": True, "inplace": False}


def _as_graph(item: Graph | bytes) -> Graph:
    if isinstance(item, Graph):
        return item
    graph = Graph()
    graph.parse(data=item, format="nt")
    return graph


def _pyshacl_results(data: list[Graph | bytes], shapes: Graph, ontology: Graph | None) -> Graph:
    data = [_as_graph(g) for g in data]
    if len(data) == 1:
        merged = data[0]
    else:
        merged = Graph()
        for graph in data:
            for triple in graph:
                merged.add(triple)
    import pyshacl  # imported here: its cold import alone takes about 0.6 s

    return pyshacl.validate(merged, shacl_graph=shapes, ont_graph=ontology, **_SETTINGS)[1]


def _oxigraph_store(data: list[Graph | bytes]) -> object | None:
    """The data as one pyoxigraph Store (default graph), or None if that is not possible.

    pyshacl-turbo keeps a Store native through ontology inoculation; an rdflib Graph
    would be converted back to rdflib after inoculation, which costs more than the
    validation itself.
    """
    try:
        import pyoxigraph  # may be missing: then pyshacl-turbo is given rdflib graphs (None below)
    except ImportError:
        return None
    store = pyoxigraph.Store()
    # One load of all graphs, so a blank node shared by two graphs stays one node.
    ntriples = b"".join(g if isinstance(g, bytes) else g.serialize(format="nt", encoding="utf-8") for g in data)
    try:
        store.bulk_load(ntriples, format=pyoxigraph.RdfFormat.N_TRIPLES)
    except (SyntaxError, ValueError) as exc:  # e.g. an IRI rdflib accepts and Oxigraph does not
        _log.debug("pyshacl-turbo: data not loadable into Oxigraph (%s); passing rdflib graphs", exc)
        return None
    return store


def _turbo_results(data: list[Graph | bytes], shapes: Graph, ontology: Graph | None) -> Graph:
    import pyshacl_turbo  # optional engine, imported on first use (resolve_validator checked that it is installed)

    source = _oxigraph_store(data)
    if source is None:
        graphs = [_as_graph(g) for g in data]
        source = graphs[0] if len(graphs) == 1 else graphs  # a list is combined by pyshacl-turbo
    return pyshacl_turbo.validate(source, shacl_graph=shapes, ont_graph=ontology, **_SETTINGS)[1]


def run_shacl(
    data: Graph | bytes | Iterable[Graph | bytes],
    shapes: Graph,
    ontology: Graph | None = None,
    validator: str = "auto",
) -> ValidationReport:
    """Validate `data` against `shapes`, with `ontology` supplying rdfs:subClassOf.

    `data` is one graph (an rdflib Graph or N-Triples bytes) or several, validated together as one graph (no copy is made
    when the engine does not need one). `validator` picks the engine (see VALIDATORS):
    "pyshacl" is the reference, "turbo" is pyshacl-turbo, "auto" is turbo when it is
    installed, else pyshacl (and pyshacl again if turbo fails on this input). Both give
    the same typed report; engine details (blank node ids, result order, duplicates)
    are normalised away here. No input graph is modified.
    """
    graphs = [data] if isinstance(data, (Graph, bytes)) else list(data)
    engine = resolve_validator(validator)
    if engine == "turbo":
        try:
            results_graph = _turbo_results(graphs, shapes, ontology)
        except Exception as exc:  # noqa: BLE001 - the reference engine is the safety net for "auto"
            if validator != "auto":
                raise
            _log.warning("pyshacl-turbo failed (%s: %s); validating with pySHACL instead", type(exc).__name__, exc)
            results_graph = _pyshacl_results(graphs, shapes, ontology)
    else:
        results_graph = _pyshacl_results(graphs, shapes, ontology)
    results: list[ValidationResult] = []
    for result in results_graph.subjects(RDF.type, SH.ValidationResult):
        focus = results_graph.value(result, SH.focusNode)
        path = results_graph.value(result, SH.resultPath)
        value = results_graph.value(result, SH.value)
        source = results_graph.value(result, SH.sourceShape)
        # Paths and shapes are blank-node structures of the shapes graph; read them
        # there, falling back to the results graph (the engine may copy them).
        path_graph = results_graph if (path, None, None) in results_graph else shapes
        shape_graph = shapes if (source, None, None) in shapes else results_graph
        results.append(
            ValidationResult(
                severity=_severity(results_graph.value(result, SH.resultSeverity)),
                focus_node=_render_value(focus) if focus is not None else "[]",
                path=_render_path(path, path_graph) if path is not None else None,
                value=_render_value(value) if value is not None else None,
                message=_message(results_graph, result),
                source_shape=_render_shape(source, shape_graph) if source is not None else "[]",
            )
        )
    ordered = tuple(sorted(set(results), key=_sort_key))
    return ValidationReport(
        conforms=not any(r.severity == "Violation" for r in ordered),
        results=ordered,
    )
