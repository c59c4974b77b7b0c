"""pyshacl-turbo gives exactly pySHACL's report, so it may be the default validator.

pySHACL is the reference. `--validator auto` (the default) uses pyshacl-turbo when it is
installed; that is only allowed because these tests show that on every shape fixture
(good and broken), on every `hipkg validate` fixture and on the bundled graph the two
engines give the same ValidationReport: the same verdict and the same results, compared
as (severity, focus node, path, value, source shape, message). Timings are not tested.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import RDFS

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SHAPE_FIXTURES = TESTS / "fixtures" / "shapes"
VALIDATE_FIXTURES = TESTS / "fixtures" / "validate"

if str(ROOT) not in sys.path:  # run from anywhere, before hipkg is installed
    sys.path.insert(0, str(ROOT))

from conftest import parse_turtle_files, schema_graph, shapes_graph  # noqa: E402
from hipkg.validation import VALIDATORS, ValidationReport, resolve_validator, run_shacl, turbo_available  # noqa: E402

needs_turbo = pytest.mark.skipif(
    not turbo_available(),
    reason="pyshacl-turbo is not installed (pip install pyshacl-turbo); nothing to compare with pySHACL",
)

SHAPE_CASES = sorted(SHAPE_FIXTURES.glob("*/good.ttl")) + sorted(SHAPE_FIXTURES.glob("*/broken.ttl"))
# validate/broken.ttl is not Turtle at all (it tests the parser error), so no engine sees it.
VALIDATE_CASES = sorted(p for p in VALIDATE_FIXTURES.glob("*.ttl") if p.name != "broken.ttl")


def _id(path: Path) -> str:
    return str(path.relative_to(TESTS / "fixtures"))


@functools.cache
def bundled():  # type: ignore[no-untyped-def]
    import hipkg

    return hipkg.load()


def _rows(report: ValidationReport) -> set[tuple]:
    return {(r.severity, r.focus_node, r.path, r.value, r.source_shape, r.message) for r in report.results}


def assert_same_report(reference: ValidationReport, turbo: ValidationReport) -> None:
    assert turbo.conforms == reference.conforms
    only_reference, only_turbo = _rows(reference) - _rows(turbo), _rows(turbo) - _rows(reference)
    assert not only_reference and not only_turbo, (
        f"pySHACL only: {sorted(only_reference)}\npyshacl-turbo only: {sorted(only_turbo)}"
    )
    assert turbo == reference  # also the order and the absence of duplicates


@needs_turbo
@pytest.mark.parametrize("path", SHAPE_CASES + VALIDATE_CASES, ids=_id)
def test_turbo_equals_pyshacl_on_fixture(path: Path) -> None:
    data, shapes, schema = parse_turtle_files(path), shapes_graph(), schema_graph()
    reference = run_shacl(data, shapes, schema, validator="pyshacl")
    if path.name == "broken.ttl":  # the comparison must not be vacuous
        assert reference.results, f"{_id(path)} gives no results with pySHACL"
    assert_same_report(reference, run_shacl(data, shapes, schema, validator="turbo"))


@needs_turbo
@pytest.mark.parametrize("path", [None, *VALIDATE_CASES], ids=lambda p: "bundled" if p is None else f"bundled+{p.name}")
def test_turbo_equals_pyshacl_on_bundled_graph(path: Path | None) -> None:
    """As `hipkg validate [FILE]` runs it: the bundled graph, alone or with a contributed file."""
    kg = bundled()
    data = [kg.data] if path is None else [kg.data, parse_turtle_files(path)]
    reference = run_shacl(data, kg.shapes, kg.schema, validator="pyshacl")
    assert_same_report(reference, run_shacl(data, kg.shapes, kg.schema, validator="turbo"))


@pytest.mark.parametrize("validator", ["pyshacl", pytest.param("turbo", marks=needs_turbo)])
def test_no_validator_mutates_its_inputs(validator: str) -> None:
    data = parse_turtle_files(SHAPE_FIXTURES / "PassageQuoteInSourceShape" / "broken.ttl")
    extra = parse_turtle_files(VALIDATE_FIXTURES / "statement-without-source.ttl")
    shapes, schema = shapes_graph(), schema_graph()
    before = (set(data), set(extra), len(shapes), len(schema))
    report = run_shacl([data, extra], shapes, schema, validator=validator)
    assert not report.conforms
    assert (set(data), set(extra), len(shapes), len(schema)) == before


def test_several_graphs_are_validated_as_one() -> None:
    """run_shacl([a, b]) is run_shacl(a + b), so a file may complete what another lacks."""
    good = parse_turtle_files(SHAPE_FIXTURES / "IndicationShape" / "good.ttl")
    broken = parse_turtle_files(SHAPE_FIXTURES / "IndicationShape" / "broken.ttl")
    shapes, schema = shapes_graph(), schema_graph()
    for validator in ("pyshacl", *(("turbo",) if turbo_available() else ())):
        assert run_shacl([good, broken], shapes, schema, validator=validator) == run_shacl(
            good + broken, shapes, schema, validator=validator
        )


def test_validator_choice() -> None:
    assert set(VALIDATORS) == {"auto", "pyshacl", "turbo"}
    assert resolve_validator("pyshacl") == "pyshacl"
    assert resolve_validator("auto") == ("turbo" if turbo_available() else "pyshacl")
    with pytest.raises(ValueError, match="unknown validator"):
        resolve_validator("fast")


@needs_turbo
def test_auto_falls_back_to_pyshacl_when_turbo_cannot_read_the_data() -> None:
    data = parse_turtle_files(SHAPE_FIXTURES / "IndicationShape" / "broken.ttl")
    data.add((URIRef("https://example.org/not an iri"), RDFS.label, Literal("no N-Triples for this")))
    shapes, schema = shapes_graph(), schema_graph()
    reference = run_shacl(data, shapes, schema, validator="pyshacl")
    assert run_shacl(data, shapes, schema, validator="auto") == reference
    with pytest.raises(Exception):  # an explicit choice is not second-guessed
        run_shacl(data, shapes, schema, validator="turbo")


@needs_turbo
def test_cli_validator_option(capsys: pytest.CaptureFixture[str]) -> None:
    from hipkg.cli import main

    outputs = {}
    for validator in ("pyshacl", "turbo"):
        code = main(["validate", str(VALIDATE_FIXTURES / "quote-not-in-source.ttl"), "--format", "json",
                     "--validator", validator])
        outputs[validator] = (code, json.loads(capsys.readouterr().out))
    assert outputs["turbo"] == outputs["pyshacl"]
    assert outputs["pyshacl"][0] == 1


def test_cli_help_names_every_validator(capsys: pytest.CaptureFixture[str]) -> None:
    from hipkg.cli import main

    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--validator {auto,pyshacl,turbo}" in text
    assert "'pyshacl' is pySHACL, the reference" in text and "'turbo' is pyshacl-turbo" in text
    assert "'auto' (default)" in text
