"""Engine parity: every library query and every example situation give the same answers on rdflib and Oxigraph.

Rows are compared as sorted lists of tuples of N3 strings. Three known, documented differences are handled here,
each by a named normalisation, never by skipping a query:

* The default graph. rdflib queries ``kg.data`` (the data graphs merged); Oxigraph queries its store's default
  graph, into which the data graphs are merged at load (hipkg.engines.OxigraphEngine). test_default_graph_is_the_data_graphs
  checks that both see the same triples and neither sees the shapes.
* Literal canonicalisation. Oxigraph stores numbers and booleans by value, so a literal comes back in canonical form
  and the xsd:integer subtypes come back as xsd:integer ("02"^^xsd:positiveInteger is returned as "2"^^xsd:integer);
  rdflib keeps the datatype. ``canonical`` maps both to the canonical value (see test_literal_canonicalisation).
* GROUP_CONCAT order. SPARQL 1.1 leaves the order of the concatenated values undefined and the engines differ;
  ``group_concat_columns`` finds those columns in the query text and compares their parts as sorted lists.

ORDER BY is checked as well: the sequence of sort keys must match (rows that tie may come in any order).
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

import pytest
from rdflib import Literal, URIRef
from rdflib import namespace

import hipkg
from conftest import EXAMPLES
from hipkg.queries import QueryLibrary

LIBRARY = QueryLibrary.bundled()
#: Values for parameters a query cannot run without (cardinality "one" and no default).
REQUIRED = {
    "option": URIRef("https://w3id.org/hipkg/Option_IntraArticularHipInjection_CorticosteroidAndLocalAnesthetic_FluoroscopyGuidance_TherapeuticPurpose"),
    "concept": URIRef("https://w3id.org/hipkg/HipOsteoarthritis"),
}
SITUATIONS = sorted(p for p in EXAMPLES.glob("*.json") if not p.name.endswith(".expected.json"))

_INTEGERS = {str(namespace.XSD[t]) for t in (
    "integer", "nonPositiveInteger", "negativeInteger", "long", "int", "short", "byte", "nonNegativeInteger",
    "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte", "positiveInteger")}
_GROUP_CONCAT = re.compile(r'GROUP_CONCAT\s*\((?:[^()]|\([^()]*(?:\([^()]*\))*[^()]*\))*?;\s*separator\s*=\s*"((?:[^"\\]|\\.)*)"\s*\)\s*AS\s*\?(\w+)', re.I | re.S)
_ORDER_BY = re.compile(r"ORDER\s+BY\s+((?:(?:ASC|DESC)\s*\(\s*\?\w+\s*\)|\?\w+)(?:\s+(?:(?:ASC|DESC)\s*\(\s*\?\w+\s*\)|\?\w+))*)", re.I)


@pytest.fixture(scope="module")
def engines():
    return {name: hipkg.load(engine=name) for name in ("rdflib", "oxigraph")}


def canonical(term) -> str:
    """A term as N3, literals in canonical form (Oxigraph canonicalises numbers and booleans when it stores them)."""
    if term is None:
        return "UNDEF"
    if isinstance(term, Literal) and term.datatype is not None and not term.language:
        datatype, text = str(term.datatype), str(term)
        try:
            if datatype in _INTEGERS:
                return Literal(str(int(text)), datatype=namespace.XSD.integer).n3()
            if datatype == str(namespace.XSD.decimal):
                value = Decimal(text)
                lexical = f"{int(value)}.0" if value == value.to_integral_value() else format(value.normalize(), "f")
                return Literal(lexical, datatype=namespace.XSD.decimal).n3()
            if datatype == str(namespace.XSD.boolean):
                return Literal("true" if text.strip() in ("true", "1") else "false", datatype=namespace.XSD.boolean).n3()
        except (ValueError, InvalidOperation):
            pass
    return term.n3()


def group_concat_columns(text: str) -> dict[str, str]:
    """Variable -> separator of every GROUP_CONCAT ... AS ?var in the query."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return {var: sep.encode().decode("unicode_escape") for sep, var in _GROUP_CONCAT.findall(body)}


def order_keys(text: str, variables: tuple[str, ...]) -> list[str]:
    """The projected variables of the outermost ORDER BY (empty when there is none or it orders by expressions)."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    found = _ORDER_BY.findall(body)
    if not found:
        return []
    keys = re.findall(r"\?(\w+)", found[-1])
    return keys if all(k in variables for k in keys) else []


def normalise(result, text: str):
    """A Result as comparable data: sorted N3 rows (SELECT), sorted N3 triples (CONSTRUCT/DESCRIBE) or a boolean."""
    if result.kind == "ASK":
        return result.boolean
    if result.graph is not None:
        return sorted(" ".join(canonical(t) for t in triple) for triple in result.graph)
    concat = group_concat_columns(text)
    rows = []
    for row in result.rows:
        cells = []
        for var, term in zip(result.vars, row):
            cell = canonical(term)
            if var in concat and isinstance(term, Literal):
                cell = json.dumps(sorted(str(term).split(concat[var])) if str(term) else [])
            cells.append(cell)
        rows.append(tuple(cells))
    return sorted(rows)


# ---------------------------------------------------------------------------------------------- every query


def held_examples(kg) -> list:
    """The example situations as hipkg:Situation triples, for the queries that read situations from the store."""

    from rdflib import Literal

    from hipkg.namespaces import HIPKG

    out = []
    for i, path in enumerate(SITUATIONS):
        situation = kg.situation(json.loads(path.read_text(encoding="utf-8")))
        node = URIRef(f"urn:example:{path.stem}")
        triples = situation.triples(node, kg.vocabulary.purposes[situation.goal], kg.vocabulary)
        out += triples + [(node, HIPKG.tripleCount, Literal(len(set(triples)) + i % 2))]  # every other one incomplete
    return out


@pytest.mark.parametrize("name", LIBRARY.names())
def test_query_gives_the_same_answer_on_every_engine(engines, name):
    query = LIBRARY.get(name)
    params = {p.name: REQUIRED[p.name] for p in query.params if p.cardinality == "one" and not p.default}
    text = query.bind(**params)
    reads_situations = any(term in query.text for term in ("hipkg:findingCode", "a hipkg:Situation", "hipkg:tripleCount", "hipkg:observation",
                                                           "hipkg:procedure", "hipkg:injection"))
    results = {}
    for engine, kg in engines.items():
        with kg.engine.hold(held_examples(kg) if reads_situations else []):
            results[engine] = query.run(kg.engine, **params)
    reference = normalise(results["rdflib"], text)
    other = normalise(results["oxigraph"], text)
    assert other == reference, f"{name}: Oxigraph and rdflib disagree"
    if isinstance(reference, list):
        assert reference or name.startswith("qc/"), f"{name}: no answer on either engine, so parity proves nothing"
    first = results["rdflib"]
    if first.kind == "SELECT" and first.vars == results["oxigraph"].vars:
        keys = order_keys(text, first.vars)
        if keys:
            def sequence(result):
                index = [result.vars.index(k) for k in keys]
                return [tuple(canonical(row[i]) for i in index) for row in result.rows]
            assert sequence(results["oxigraph"]) == sequence(first), f"{name}: ORDER BY {keys} gives another order"
    assert results["oxigraph"].vars == first.vars


# ---------------------------------------------------------------------------------------------- every example


@pytest.mark.parametrize("path", SITUATIONS, ids=lambda p: p.stem)
def test_example_situation_gives_the_same_recommendation_on_every_engine(engines, path):
    situation = json.loads(path.read_text(encoding="utf-8"))
    answers = {name: kg.recommend(situation).to_json() for name, kg in engines.items()}
    assert answers["oxigraph"] == answers["rdflib"]


def test_there_are_examples_to_compare():
    assert len(SITUATIONS) >= 12


# ---------------------------------------------------------------------------------------------- the known differences


def test_default_graph_is_the_data_graphs(engines):
    """Both engines answer over schema + kb + mappings + derived + sources as one default graph, never the shapes."""
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    shapes = "ASK { ?shape a <http://www.w3.org/ns/shacl#NodeShape> }"
    named = "SELECT ?g WHERE { GRAPH ?g { ?s ?p ?o } } LIMIT 1"
    rdflib_kg, oxigraph_kg = engines["rdflib"], engines["oxigraph"]
    n = len(rdflib_kg.data)
    assert int(rdflib_kg.engine.execute(count).rows[0][0]) == n
    assert int(oxigraph_kg.engine.execute(count).rows[0][0]) == n
    assert rdflib_kg.engine.execute(shapes).boolean is False
    assert oxigraph_kg.engine.execute(shapes).boolean is False
    assert len(rdflib_kg.shapes) > 0  # the shapes exist; they are just not queried
    # GRAPH differs by design: rdflib queries one merged graph and refuses GRAPH; Oxigraph's store keeps the named graphs.
    # (rdflib raises while rows are read, outside RdflibEngine's try, so it is not an InputError yet: reported.)
    with pytest.raises(Exception, match="dataset"):
        rdflib_kg.engine.execute(named)
    assert len(oxigraph_kg.engine.execute(named)) == 1


def test_literal_canonicalisation(engines):
    """Oxigraph returns integer subtypes as canonical xsd:integer; rdflib keeps the datatype; canonical() equates them."""
    text = """PREFIX hipkg: <https://w3id.org/hipkg/>
SELECT ?n WHERE { ?step hipkg:stepNumber ?n } LIMIT 1"""
    rdflib_n = engines["rdflib"].engine.execute(text).rows[0][0]
    oxigraph_n = engines["oxigraph"].engine.execute(text).rows[0][0]
    assert rdflib_n.datatype == namespace.XSD.positiveInteger
    assert oxigraph_n.datatype == namespace.XSD.integer  # if this fails, Oxigraph keeps subtypes now: drop the normalisation
    assert canonical(rdflib_n) == canonical(Literal(str(rdflib_n), datatype=namespace.XSD.integer))
    assert canonical(Literal("02", datatype=namespace.XSD.positiveInteger)) == canonical(Literal("2", datatype=namespace.XSD.integer))
    assert canonical(Literal("1", datatype=namespace.XSD.boolean)) == canonical(Literal("true", datatype=namespace.XSD.boolean))
    assert canonical(Literal("1.50", datatype=namespace.XSD.decimal)) == canonical(Literal("1.5", datatype=namespace.XSD.decimal))


def test_group_concat_columns_are_found():
    text = LIBRARY.get("knowledge/outcome-factors").text
    assert group_concat_columns(text) == {"related": "; ", "quotes": " | "}
    assert order_keys(LIBRARY.get("knowledge/procedure-steps").text, ("stepNumber", "subStepNumber")) == ["stepNumber", "subStepNumber"]
