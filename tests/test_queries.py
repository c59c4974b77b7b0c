"""The query library (queries/*/*.rq), `hipkg queries`, `hipkg query`, its safety checks, and kg.sparql."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from rdflib.plugins.sparql.parser import parseQuery

import hipkg
from hipkg.cli import main
from hipkg.queries import QueryLibrary, parse_query_file

ROOT = Path(__file__).resolve().parents[1]
QUERY_FILES = sorted((ROOT / "queries").rglob("*.rq"))
OPTION = "hipkg:Option_IntraArticularHipInjection_CorticosteroidAndLocalAnesthetic_FluoroscopyGuidance_TherapeuticPurpose"


@pytest.fixture(scope="module")
def kg():
    return hipkg.load()


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------------ every file parses


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: str(p.relative_to(ROOT / "queries")))
def test_query_file_parses(path):
    text = path.read_text(encoding="utf-8")
    parseQuery(text)
    query = parse_query_file(str(path.relative_to(ROOT / "queries"))[: -len(".rq")], text)
    assert query.summary
    assert query.examples, "every .rq header gives an example"
    for p in query.params:  # the bound text parses too
        if p.cardinality == "many":
            value = [tuple("hipkg:X" if c.kind == "iri" else "x" for c in p.columns)] if len(p.columns) > 1 else ["hipkg:X" if p.columns[0].kind == "iri" else "x"]
        else:
            value = tuple("hipkg:X" if c.kind == "iri" else "x" for c in p.columns)
            value = value[0] if len(value) == 1 else value
        parseQuery(query.bind(**{p.name: value}))


def test_new_folders_are_present():
    names = QueryLibrary.bundled().names()
    assert len([n for n in names if n.startswith("faq/")]) == 9
    assert {"knowledge", "faq", "qc", "recommend", "derive"} <= {n.split("/")[0] for n in names}


# ------------------------------------------------------------------------------------------------ expected results


def _contraindications(rows):
    by = {r["contraindication"]: r for r in rows}
    assert by["hipkg:ContraindicationCorticosteroidAllergy"]["scope"] == "hipkg:Corticosteroid"
    assert by["hipkg:CautionPregnancyFluoroscopy"]["severity"] == "hipkg:Caution"
    assert by["hipkg:ContraindicationSepticArthritis"]["severity"] == "hipkg:Avoid"
    assert "septic arthritis" in by["hipkg:ContraindicationSepticArthritis"]["quote"]
    # hyaluronic acid is not in this option's regimen, so its allergy does not concern it
    assert "hipkg:ContraindicationHyaluronicAcidAllergy" not in by
    assert all(r["section"] and r["quote"] for r in rows)


def _indications(rows):
    assert {r["target"] for r in rows} == {"hipkg:TrochantericBursaInjection"}
    assert "hipkg:IndicationGreaterTrochantericPainSyndrome" in {r["indication"] for r in rows}
    assert all(r["purposes"] and r["quote"] for r in rows)


def _medication_categories(rows):
    by = {r["category"]: r for r in rows}
    assert by["hipkg:LocalAnesthetic"]["onset"] == "rapid onset"
    assert by["hipkg:LocalAnesthetic"]["duration"] == "short duration"
    assert by["hipkg:Corticosteroid"]["mechanism"] == "anti-inflammatory action"
    assert by["hipkg:Corticosteroid"]["onset"] == "delayed onset"
    assert "longer duration" in by["hipkg:Corticosteroid"]["duration"]
    assert all(by[c]["reversibility"] == "reversible effect" for c in ("hipkg:LocalAnesthetic", "hipkg:Corticosteroid"))


def _option_risks(rows):
    kinds = {(r["kind"], r["risk"]) for r in rows}
    assert ("procedure", "hipkg:Infection") in kinds
    assert ("medication", "hipkg:TransientBloodSugarElevation") in kinds  # corticosteroid's systemic effect
    assert ("medication", "hipkg:TemporaryLegNumbnessOrWeakness") in kinds  # local anaesthetic
    assert ("guidance", "hipkg:RadiationExposure") in kinds  # fluoroscopy


def _procedure_steps(rows):
    top = []
    for r in rows:
        if not top or top[-1] != r["stepNumber"]:
            top.append(r["stepNumber"])
    assert top == ["1", "2", "3", "4", "5"]
    subs = [r["subStepNumber"] for r in rows if r["stepNumber"] == "2"]
    assert subs == sorted(subs) and subs[0] == "1"
    assert rows[0]["step"] == "hipkg:StepEvaluation"


def _outcome_factors(rows):
    assert "hipkg:OutcomeMedicationChoice" in {r["factor"] for r in rows}
    assert all(r["quotes"] for r in rows)


def _alternatives(rows):
    by = {r["alternative"]: r for r in rows}
    assert by["hipkg:HipReplacement"]["group"] == "surgical options"
    assert "invasive" in by["hipkg:HipReplacement"]["comparison"]
    assert "advanced hip arthritis" in by["hipkg:HipReplacement"]["consideredWhen"]


def _pros_cons(rows):
    assert {r["kind"] for r in rows} == {"con"}
    assert "hipkg:ConProcedureRisks" in {r["item"] for r in rows}


def _faq(entry, answer_text, quote_text):
    def check(rows):
        assert rows and {r["entry"] for r in rows} == {entry}
        assert answer_text in rows[0]["answer"]
        assert any(quote_text in r["quote"] for r in rows)
        assert all(r["section"] == "Therapeutic hip injection Common questions (FAQ)" for r in rows)
    return check


def _qc_empty(rows):
    assert rows == []


def _qc_shape(rows):
    for r in rows:
        assert set(r) == {"entity", "property", "value"}
        assert r["entity"].startswith("hipkg:")


def _code_mapping(rows):
    _qc_shape(rows)
    entities = {r["entity"] for r in rows}
    assert "hipkg:HipOsteoarthritis" not in entities  # mapped to ICD-10-CM M16
    assert all(r["property"] == "skos:exactMatch" for r in rows)


def _missing_definitions(rows):
    _qc_shape(rows)
    assert "hipkg:Corticosteroid" not in {r["entity"] for r in rows}


def _orphans(rows):
    _qc_shape(rows)
    entities = {r["entity"] for r in rows}
    assert not entities & {"hipkg:Corticosteroid", "hipkg:IntraArticularHipInjection", "hipkg:FAQSafety"}


def _concept_rules(rows):
    assert {"concept": "hipkg:TrochantericBursitis", "rule": "hipkg:IndicationGreaterTrochantericPainSyndrome",
            "how": "hipkg:triggeredBy"} in rows
    assert all(r["how"] in ("hipkg:triggeredBy", "hipkg:triggeredByAllergyTo", "hipkg:requiresAlso") for r in rows)


def _neighbourhood(rows):
    narrower = [r for r in rows if r["role"] == "narrower"]
    assert [(r["node"], r["label"], r["kind"]) for r in narrower] == [("hipkg:AdvancedHipArthritis", "advanced hip arthritis", None)]
    indication = [r for r in rows if r["node"] == "hipkg:IndicationHipOsteoarthritis"]
    assert len(indication) == 1 and indication[0]["kind"] == "indication" and int(indication[0]["options"]) > 0
    assert {r["role"] for r in rows} <= {"broader", "narrower", "rule"}


EXPECTED = {
    "knowledge/concept-rules": ({}, _concept_rules),
    "knowledge/neighbourhood": ({"concept": "hipkg:HipOsteoarthritis"}, _neighbourhood),
    "knowledge/contraindications": ({"option": OPTION}, _contraindications),
    "knowledge/indications": ({"target": "hipkg:TrochantericBursaInjection"}, _indications),
    "knowledge/medication-categories": ({}, _medication_categories),
    "knowledge/option-risks": ({"option": OPTION}, _option_risks),
    "knowledge/procedure-steps": ({}, _procedure_steps),
    "knowledge/outcome-factors": ({}, _outcome_factors),
    "knowledge/alternatives": ({}, _alternatives),
    "knowledge/pros-cons": ({"kind": "con"}, _pros_cons),
    "faq/cortisone-shot": ({}, _faq("hipkg:FAQCortisoneShot", "Not always", "corticosteroid")),
    "faq/cost": ({}, _faq("hipkg:FAQCost", "Costs vary widely", "Costs vary widely")),
    "faq/driving-or-work": ({}, _faq("hipkg:FAQDrivingOrWork", "Plans vary", "numb or weak")),
    "faq/imaging-guidance": ({}, _faq("hipkg:FAQImagingGuidance", "ultrasound or fluoroscopy", "deep")),
    "faq/joint-or-muscle": ({}, _faq("hipkg:FAQJointOrMuscle", "suspected pain source", "intra-articular")),
    "faq/procedure-pain": ({}, _faq("hipkg:FAQProcedurePain", "mild pressure", "brief discomfort")),
    "faq/repeat-injection": ({}, _faq("hipkg:FAQRepeatInjection", "Sometimes", "response to prior injections")),
    "faq/results-duration": ({}, _faq("hipkg:FAQResultsDuration", "Duration varies widely", "How long do results last?")),
    "faq/safety": ({}, _faq("hipkg:FAQSafety", "All medical procedures carry risks", "temporary pain flare")),
    "qc/missing-labels": ({}, _qc_empty),
    "qc/missing-definitions": ({}, _missing_definitions),
    "qc/statements-without-source": ({}, _qc_empty),
    "qc/concepts-without-code-mapping": ({}, _code_mapping),  # being completed elsewhere: no exact count
    "qc/orphans": ({}, _orphans),
}


def test_every_library_query_has_an_expected_result():
    library = {n for n in QueryLibrary.bundled().names() if n.split("/")[0] in ("knowledge", "faq", "qc")}
    assert library == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_library_query_result(kg, name):
    params, check = EXPECTED[name]
    check(kg.query(name, **params).to_dicts())


# ------------------------------------------------------------------------------------------------ CLI


def test_queries_lists_library(capsys):
    code, out, _ = run_cli(capsys, "queries")
    assert code == 0
    assert "knowledge/contraindications" in out and "faq/safety" in out and "qc/orphans" in out
    code, out, _ = run_cli(capsys, "queries", "qc", "--format", "json")
    listed = json.loads(out)
    assert code == 0 and {q["name"] for q in listed} == {n for n in EXPECTED if n.startswith("qc/")}
    code, out, _ = run_cli(capsys, "queries", "knowledge", "--format", "json")
    risks = next(q for q in json.loads(out) if q["name"] == "knowledge/option-risks")
    assert risks["params"][0]["name"] == "option" and risks["params"][0]["cardinality"] == "one"


def test_query_table_and_label_parameter(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # wide enough that no cell is shortened
    code, out, _ = run_cli(capsys, "query", "knowledge/indications", "--param", "target=TROCHANTERIC bursa injection")
    assert code == 0
    assert "hipkg:TrochantericBursaInjection" in out and "greater trochanteric" in out
    assert out.splitlines()[1].startswith("------")
    monkeypatch.setenv("COLUMNS", "120")
    code, out, err = run_cli(capsys, "query", "knowledge/indications", "--param", "target=hipkg:TrochantericBursaInjection")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 120
    assert "shortened" in err


def test_query_altlabel_parameter_json(capsys):
    code, out, _ = run_cli(capsys, "query", "knowledge/medication-categories", "-p", "category=steroid", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["head"]["vars"][0] == "category"
    [binding] = data["results"]["bindings"]
    assert binding["category"] == {"type": "uri", "value": "https://w3id.org/hipkg/Corticosteroid"}
    assert binding["label"] == {"type": "literal", "value": "corticosteroid", "xml:lang": "en"}


def test_query_ambiguous_label_lists_candidates(capsys):
    code, _, err = run_cli(capsys, "query", "knowledge/contraindications", "--param", "option=red-flag symptoms")
    assert code == 2
    assert "ambiguous" in err and "hipkg:RedFlagSymptoms" in err and "hipkg:ContraindicationRedFlagSymptoms" in err


def test_query_unknown_label_and_parameter(capsys):
    code, _, err = run_cli(capsys, "query", "knowledge/option-risks", "--param", "option=no such thing")
    assert code == 2 and "not an IRI" in err
    code, _, err = run_cli(capsys, "query", "knowledge/option-risks", "--param", "nope=x")
    assert code == 2 and "unknown parameter" in err
    code, _, err = run_cli(capsys, "query", "knowledge/option-risks")
    assert code == 2 and "required" in err
    code, _, err = run_cli(capsys, "query", "no/such-query")
    assert code == 2 and "unknown query" in err


def test_query_multi_column_parameter_rows(capsys):
    code, out, _ = run_cli(capsys, "query", "recommend/status",
                           "--param", "triggered=1,hipkg:IndicationHipOsteoarthritis,hipkg:TherapeuticPurpose",
                           "--param", "triggered=1,certain fractures,therapeutic", "--format", "csv")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "case,option,status"
    assert "1,hipkg:Option_IntraArticularHipInjection_Corticosteroid_UltrasoundGuidance_TherapeuticPurpose,avoid" in lines
    code, _, err = run_cli(capsys, "query", "recommend/status", "--param", "triggered=only-one")
    assert code == 2 and "3 comma-separated values" in err


def test_query_file_formats(capsys, tmp_path):
    select = tmp_path / "select.rq"
    select.write_text("SELECT ?s ?label WHERE { ?s a hipkg:MedicationCategory ; rdfs:label ?label } ORDER BY ?s")
    code, out, _ = run_cli(capsys, "query", "--file", str(select), "--format", "tsv")
    assert code == 0 and out.splitlines()[0] == "s\tlabel" and "hipkg:Antiseptic\tantiseptic" in out
    ask = tmp_path / "ask.rq"
    ask.write_text("ASK { hipkg:Corticosteroid a hipkg:MedicationCategory }")
    code, out, _ = run_cli(capsys, "query", "--file", str(ask), "--format", "json")
    assert code == 0 and json.loads(out) == {"head": {}, "boolean": True}
    construct = tmp_path / "construct.rq"
    construct.write_text("CONSTRUCT { ?c a hipkg:MedicationCategory } WHERE { ?c a hipkg:MedicationCategory }")
    code, out, _ = run_cli(capsys, "query", "--file", str(construct), "--format", "turtle")
    assert code == 0 and "hipkg:Corticosteroid" in out
    code, _, err = run_cli(capsys, "query", "--file", str(construct), "--format", "json")
    assert code == 2 and "turtle" in err
    describe = tmp_path / "describe.rq"
    describe.write_text("DESCRIBE hipkg:Corticosteroid")
    code, out, _ = run_cli(capsys, "query", "--file", str(describe), "--format", "turtle")
    assert code == 0 and "corticosteroid" in out


def test_query_limit_truncates_with_note(capsys, tmp_path):
    f = tmp_path / "all.rq"
    f.write_text("SELECT * WHERE { ?s ?p ?o FILTER(!isLiteral(?o)) }")  # no multi-line text in the CSV
    code, out, err = run_cli(capsys, "query", "--file", str(f), "--limit", "5", "--format", "csv")
    assert code == 0
    assert len(out.splitlines()) == 6  # header + 5 rows
    assert "cut to the first 5 rows" in err


# ------------------------------------------------------------------------------------------------ hostile queries


def test_service_makes_no_connection(capsys, tmp_path):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    f = tmp_path / "service.rq"
    f.write_text(f"SELECT * WHERE {{\n  SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }}\n}}")
    try:
        code, _, err = run_cli(capsys, "query", "--file", str(f))
        assert code == 2 and "SERVICE is refused" in err
        listener.settimeout(1.0)
        with pytest.raises(socket.timeout):
            conn, _ = listener.accept()
            conn.close()
    finally:
        listener.close()


def test_cartesian_product_times_out(capsys, tmp_path):
    hipkg.load()  # the graph is cached; the timeout covers evaluation only
    f = tmp_path / "cartesian.rq"
    f.write_text("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }")
    start = time.monotonic()
    code, _, err = run_cli(capsys, "query", "--file", str(f), "--timeout", "2")
    elapsed = time.monotonic() - start
    assert code == 2 and "timed out" in err
    assert elapsed < 10


@pytest.mark.parametrize("update", [
    "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
    "DELETE WHERE { ?s ?p ?o }",
    "LOAD <http://127.0.0.1:9/data.ttl>",
    "CLEAR ALL",
    "DROP GRAPH <urn:g>",
    "CREATE GRAPH <urn:g>",
])
def test_update_is_refused(capsys, tmp_path, update):
    f = tmp_path / "update.rq"
    f.write_text(update)
    before = len(hipkg.load().data)
    code, _, err = run_cli(capsys, "query", "--file", str(f))
    assert code == 2 and "updates are refused" in err
    assert len(hipkg.load().data) == before


def test_from_is_refused(capsys, tmp_path):
    f = tmp_path / "from.rq"
    f.write_text("SELECT * FROM <http://127.0.0.1:9/g.ttl> WHERE { ?s ?p ?o }")
    code, _, err = run_cli(capsys, "query", "--file", str(f))
    assert code == 2 and "FROM" in err


def test_syntax_error_names_line_and_column(capsys, tmp_path):
    f = tmp_path / "bad.rq"
    f.write_text("PREFIX hipkg: <https://w3id.org/hipkg/>\nSELECT ?s WHERE {\n  ?s hipkg:label ?x ?y .\n}\n")
    code, out, err = run_cli(capsys, "query", "--file", str(f))
    assert code == 2 and out == ""
    assert "line 3" in err and "column" in err
    assert "Traceback" not in err


def test_runtime_error_is_reported(capsys, tmp_path):
    f = tmp_path / "prefix.rq"
    f.write_text("SELECT * WHERE { ?s nosuchprefix:p ?o }")
    code, _, err = run_cli(capsys, "query", "--file", str(f))
    assert code == 2 and "nosuchprefix" in err


def test_query_needs_name_or_file(capsys):
    code, _, err = run_cli(capsys, "query")
    assert code == 2 and "exactly one" in err


# ------------------------------------------------------------------------------------------------ validate, API


def test_validate_reports_quality_checks(capsys):
    code, out, _ = run_cli(capsys, "validate", "--format", "json")
    data = json.loads(out)
    assert "qc" in data and "results" in data
    assert {f["check"] for f in data["qc"]} <= {n for n in EXPECTED if n.startswith("qc/")}
    assert all(set(f) == {"check", "entity", "property", "value"} for f in data["qc"])
    assert code == (0 if data["conforms"] else 1)  # QC findings never change the exit code


def test_sparql_api(kg):
    result = kg.sparql("SELECT ?label WHERE { ?c rdfs:label ?label }", c="hipkg:Corticosteroid")
    assert result.to_dicts() == [{"label": "corticosteroid"}]
    assert kg.sparql("ASK { ?c a hipkg:MedicationCategory }", c="hipkg:Antiseptic").boolean is True
    frame = kg.sparql("SELECT ?c WHERE { ?c a hipkg:MedicationCategory } ORDER BY ?c").to_dataframe()
    assert list(frame.columns) == ["c"] and "hipkg:Corticosteroid" in set(frame["c"])
    with pytest.raises(hipkg.errors.InputError):
        kg.sparql("SELECT * WHERE {")
