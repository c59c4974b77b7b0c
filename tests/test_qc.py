"""Every QC query (queries/qc/*.rq) finds the defect it exists to find.

tests/test_queries.py checks that the bundled graph has no bad rows, which a QC query broken to return nothing would
pass too. So each QC query also has a positive fixture, tests/fixtures/qc/<query-name>.ttl: a minimal graph fragment
with exactly that defect. Its header names the row the query must report, as column=value pairs, e.g.

    # expect: entity=hipkg:FixtureRiskWithoutLabel property=rdfs:label

where every column not named there must be unbound. The query runs over the bundled data graphs plus the fixture, on
rdflib and on Oxigraph, and both must report that row. The fixture must add no other row to any QC query, so it has
exactly the one defect. And every QC query must have a fixture, so a new QC query without one fails.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph

import hipkg
from hipkg.engines import OxigraphEngine, RdflibEngine
from hipkg.queries import QueryLibrary

ROOT = Path(__file__).resolve().parents[1]
QC_QUERIES = ROOT / "queries" / "qc"
FIXTURES = ROOT / "tests" / "fixtures" / "qc"
FIXTURE_FILES = sorted(FIXTURES.rglob("*.ttl"))
ENGINES = ("rdflib", "oxigraph")
LIBRARY = QueryLibrary.bundled()
EXPECT = "# expect:"


def query_name(fixture: Path) -> str:
    """tests/fixtures/qc/orphans.ttl -> qc/orphans"""
    return "qc/" + fixture.relative_to(FIXTURES).with_suffix("").as_posix()


def qc_names() -> list[str]:
    return sorted("qc/" + p.relative_to(QC_QUERIES).with_suffix("").as_posix() for p in QC_QUERIES.rglob("*.rq"))


def expected_row(fixture: Path, columns: tuple[str, ...]) -> dict[str, str | None]:
    """The row the fixture's header says its query reports: the named columns, every other one unbound."""
    lines = [line for line in fixture.read_text(encoding="utf-8").splitlines() if line.startswith(EXPECT)]
    assert len(lines) == 1, f"{fixture.name}: needs exactly one '{EXPECT} column=value ...' line, found {len(lines)}"
    named = dict(pair.split("=", 1) for pair in lines[0][len(EXPECT):].split())
    assert "entity" in named, f"{fixture.name}: the {EXPECT} line names no entity"
    assert set(named) <= set(columns), f"{fixture.name}: {sorted(set(named) - set(columns))} are not columns of {columns}"
    return {column: named.get(column) for column in columns}


def make_engine(kind: str, graph: Graph):
    if kind == "rdflib":
        return RdflibEngine(graph)
    ntriples = graph.serialize(format="nt", encoding="utf-8")
    return OxigraphEngine(ntriples, ntriples)  # the QC queries name no graph, so the N-Quads are never loaded


def run(engine, name: str):
    return engine.execute(LIBRARY.get(name).bind(), name)


def as_set(rows: list[dict[str, str | None]]) -> set[tuple]:
    return {tuple(row.items()) for row in rows}


@pytest.fixture(scope="module")
def bundled() -> Graph:
    """A copy of the bundled data graphs (kg.data is cached and shared with other tests, so it is never changed)."""
    graph = Graph()
    graph += hipkg.load().data
    return graph


@pytest.fixture(scope="module")
def engines(bundled):
    """engines(fixture or None, kind): an engine over the bundled data graphs plus that fixture, built once."""
    made = {}

    def get(fixture: Path | None, kind: str):
        if (fixture, kind) not in made:
            graph = Graph()
            graph += bundled
            if fixture is not None:
                graph.parse(fixture, format="turtle")
            made[fixture, kind] = make_engine(kind, graph)
        return made[fixture, kind]

    return get


def test_every_qc_query_has_a_fixture() -> None:
    queries = set(qc_names())
    fixtures = {query_name(p) for p in FIXTURE_FILES}
    assert queries, "no QC queries found"
    missing = sorted(queries - fixtures)
    assert not missing, f"QC queries without a positive fixture in tests/fixtures/qc/: {missing}"
    orphaned = sorted(fixtures - queries)
    assert not orphaned, f"fixtures in tests/fixtures/qc/ for QC queries that do not exist: {orphaned}"
    assert queries == {n for n in LIBRARY.names() if n.startswith("qc/")}, "the query library sees other QC queries"


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_qc_query_reports_its_fixture(engines, fixture: Path, kind: str) -> None:
    name = query_name(fixture)
    result = run(engines(fixture, kind), name)
    expected = expected_row(fixture, result.vars)
    rows = result.to_dicts()
    assert expected in rows, f"{name} on {kind} does not report {expected}; it reports {rows}"


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_has_exactly_its_one_defect(engines, fixture: Path, kind: str) -> None:
    """The rows the fixture adds to each QC query: its expected row to its own query, nothing to the others."""
    own = query_name(fixture)
    added, expected = {}, {}
    for name in qc_names():
        before, after = run(engines(None, kind), name), run(engines(fixture, kind), name)
        added[name] = as_set(after.to_dicts()) - as_set(before.to_dicts())
        expected[name] = as_set([expected_row(fixture, after.vars)]) if name == own else set()
    assert added == expected
