"""Every SHACL shape of ontology/shapes is exercised by a fixture pair.

tests/fixtures/shapes/<ShapeLocalName>/good.ttl must conform; broken.ttl must fail
because of that shape, in every one of its parts (a constraint that no fixture can
trip is a defect: it would also never catch a curator's mistake). Fixtures are
self-contained and otherwise valid, so a broken fixture fails for one reason only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import rdflib
from rdflib import BNode, Graph, URIRef
from rdflib.collection import Collection
from rdflib.namespace import RDF, SH

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures" / "shapes"
HIPKG = "https://w3id.org/hipkg/"

if str(ROOT) not in sys.path:  # run from anywhere, before hipkg is installed
    sys.path.insert(0, str(ROOT))

from conftest import ONTOLOGY, parse_turtle_files, schema_graph, shapes_graph  # noqa: E402
from hipkg.validation import ValidationReport, ValidationResult, curie, run_shacl  # noqa: E402

TARGETS = (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf)
# Constraint parameters that, on a node shape itself, make it report as itself.
NODE_LEVEL = (
    SH["or"], SH.xone, SH["and"], SH["not"], SH.node, SH["class"], SH.datatype, SH.nodeKind,
    SH["in"], SH.hasValue, SH.pattern, SH.minLength, SH.maxLength, SH.languageIn,
    SH.minInclusive, SH.maxInclusive, SH.minExclusive, SH.maxExclusive, SH.closed, SH.sparql,
)
LOGICAL_LISTS = (SH["or"], SH.xone, SH["and"])


def top_level_shapes(shapes: Graph) -> list[rdflib.term.Node]:
    """Shapes that are declared as such or have targets (blank ones included, to catch them)."""
    found = set(shapes.subjects(RDF.type, SH.NodeShape)) | set(shapes.subjects(RDF.type, SH.PropertyShape))
    for target in TARGETS:
        found |= set(shapes.subjects(target, None))
    return sorted(found, key=str)


def named_shapes(shapes: Graph) -> list[str]:
    return [str(s)[len(HIPKG):] for s in top_level_shapes(shapes) if str(s).startswith(HIPKG)]


def all_shape_nodes(shapes: Graph) -> set[rdflib.term.Node]:
    """Top-level shapes, their property shapes, and the shapes inside sh:or/sh:xone/sh:and/sh:not/sh:node."""
    todo = list(top_level_shapes(shapes))
    seen: set[rdflib.term.Node] = set()
    while todo:
        shape = todo.pop()
        if shape in seen:
            continue
        seen.add(shape)
        todo += list(shapes.objects(shape, SH.property))
        todo += list(shapes.objects(shape, SH["not"])) + list(shapes.objects(shape, SH.node))
        for predicate in LOGICAL_LISTS:
            for head in shapes.objects(shape, predicate):
                todo += list(Collection(shapes, head))
    return seen


def expected_parts(shapes: Graph, name: str) -> set[str]:
    """The source_shape strings a complete broken fixture must produce for this shape."""
    shape = URIRef(HIPKG + name)
    parts = {f"hipkg:{name}/{curie(shapes.value(p, SH.path))}" for p in shapes.objects(shape, SH.property)}
    if any((shape, p, None) in shapes for p in NODE_LEVEL) or (shape, SH.path, None) in shapes:
        parts.add(f"hipkg:{name}")
    return parts


def from_shape(result: ValidationResult, name: str) -> bool:
    return result.source_shape == f"hipkg:{name}" or result.source_shape.startswith(f"hipkg:{name}/")


def describe(report: ValidationReport) -> str:
    return "\n".join(
        f"  {r.severity} {r.focus_node} {r.path} {r.value} [{r.source_shape}] {r.message}" for r in report.results
    ) or "  (no results)"


SHAPE_NAMES = named_shapes(shapes_graph())


def test_shapes_exist() -> None:
    assert len(SHAPE_NAMES) >= 20, SHAPE_NAMES


@pytest.mark.parametrize("name", SHAPE_NAMES, ids=SHAPE_NAMES)
def test_shape_fixture_pair(name: str) -> None:
    shapes, schema = shapes_graph(), schema_graph()

    good = parse_turtle_files(FIXTURES / name / "good.ttl")
    report = run_shacl(good, shapes, schema)
    assert report.conforms, f"good.ttl of {name} does not conform:\n{describe(report)}"
    assert not [r for r in report.results if from_shape(r, name)], f"good.ttl trips {name}:\n{describe(report)}"

    broken = parse_turtle_files(FIXTURES / name / "broken.ttl")
    report = run_shacl(broken, shapes, schema)
    mine = [r for r in report.results if from_shape(r, name)]
    assert mine, f"broken.ttl of {name} does not trip it:\n{describe(report)}"
    others = [r for r in report.results if not from_shape(r, name)]
    assert not others, f"broken.ttl of {name} also fails for other reasons:\n{describe(report)}"

    missing = expected_parts(shapes, name) - {r.source_shape for r in mine}
    assert not missing, f"no broken node of {name} trips {sorted(missing)}:\n{describe(report)}"

    broken_nodes = {
        curie(s) for s in set(broken.subjects()) if isinstance(s, URIRef) and "Broken" in str(s)
    }
    # SPARQL shapes on a source report the offending passage as the value.
    untripped = broken_nodes - {r.focus_node for r in mine} - {r.value for r in mine}
    assert not untripped, f"these Broken* nodes of {name} pass: {sorted(untripped)}:\n{describe(report)}"


def test_every_shape_has_severity_and_message() -> None:
    shapes = shapes_graph()
    lacking = []
    for shape in all_shape_nodes(shapes):
        label = curie(shape) if isinstance(shape, URIRef) else f"blank shape {shapes.value(shape, SH.path)}"
        if shapes.value(shape, SH.severity) is None:
            lacking.append(f"{label}: no sh:severity")
        messages = list(shapes.objects(shape, SH.message))
        if not messages or not all(len(str(m).split()) >= 4 for m in messages):
            lacking.append(f"{label}: no human sh:message")
    assert not lacking, "\n".join(sorted(lacking))


def test_top_level_shapes_are_named() -> None:
    shapes = shapes_graph()
    bad = [
        str(s)
        for s in top_level_shapes(shapes)
        if isinstance(s, BNode) or not str(s).startswith(HIPKG) or not str(s).endswith("Shape")
    ]
    assert not bad, f"top-level shapes must be hipkg:<Name>Shape IRIs: {bad}"


def test_every_shape_has_a_fixture_pair_and_no_fixture_is_orphaned() -> None:
    missing = [
        f"{name}/{kind}" for name in SHAPE_NAMES for kind in ("good.ttl", "broken.ttl")
        if not (FIXTURES / name / kind).is_file()
    ]
    assert not missing, f"missing fixtures: {missing}"
    orphans = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name not in SHAPE_NAMES)
    assert not orphans, f"fixtures for shapes that no longer exist: {orphans}"


def test_situation_shapes_live_in_their_own_file() -> None:
    situation = parse_turtle_files(ONTOLOGY / "shapes" / "situation.ttl")
    assert (URIRef(HIPKG + "SituationShape"), SH.targetClass, URIRef(HIPKG + "Situation")) in situation


def test_run_shacl_does_not_mutate_its_inputs() -> None:
    data = parse_turtle_files(FIXTURES / "PassageQuoteInSourceShape" / "broken.ttl")
    shapes, schema = shapes_graph(), schema_graph()
    before = (set(data), len(shapes), len(schema))
    run_shacl(data, shapes, schema)
    assert (set(data), len(shapes), len(schema)) == before


def test_report_contract() -> None:
    """What the CLI relies on: warnings alone conform, stable order, JSON-ready, no blank node ids."""
    shapes, schema = shapes_graph(), schema_graph()
    data = parse_turtle_files(FIXTURES / "IndicationShape" / "broken.ttl")
    report = run_shacl(data, shapes, schema)
    assert not report.conforms
    assert report.violations() and all(r.severity == "Violation" for r in report.violations())
    assert any(r.severity == "Warning" for r in report.results)
    ranks = {"Violation": 0, "Warning": 1, "Info": 2}
    keys = [(ranks[r.severity], r.focus_node, r.path or "", r.message) for r in report.results]
    assert keys == sorted(keys)
    payload = report.to_json()
    assert payload["conforms"] is False and len(payload["results"]) == len(report.results)
    assert set(payload["results"][0]) == {"severity", "focus_node", "path", "value", "message", "source_shape"}
    assert not any("_:" in str(v) for r in payload["results"] for v in r.values())

    warning_only = Graph()
    for triple in data.triples((None, None, None)):
        if "BrokenNoTrigger" not in str(triple[0]) and "BrokenNoPurpose" not in str(triple[0]):
            warning_only.add(triple)
    report = run_shacl(warning_only, shapes, schema)
    assert report.conforms and not report.violations()
    assert [r.source_shape for r in report.results] == ["hipkg:IndicationShape/hipkg:indicatesTarget"]
    assert report.results[0].severity == "Warning"
    assert report.results[0].focus_node == "hipkg:BrokenNoTarget"
