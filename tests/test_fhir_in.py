"""FHIR R4 in (issue #16): examples/fhir/NAME.json answers as examples/NAME.json does; what is left out is listed."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from conftest import EXAMPLES
from hipkg.cli import main
from hipkg.errors import InvalidFhir

FHIR = EXAMPLES / "fhir"
BUNDLES = sorted(p.stem for p in FHIR.glob("*.json"))
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"


def bundle(name: str) -> dict:
    return json.loads((FHIR / f"{name}.json").read_text())


def without_reading(answer: dict) -> dict:
    """The answer as a hipkg situation would have it: no "read", and no codings of systems hipkg does not read."""
    out = {k: v for k, v in answer.items() if k != "read"}
    out["unrecognized"] = [u for u in answer["unrecognized"] if "|" not in u]
    return out


def condition(code: str, verification: str | None = None, clinical: str = "active", cid: str = "c9") -> dict:
    r = {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
         "clinicalStatus": {"coding": [{"system": CLINICAL, "code": clinical}]},
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}}
    if verification:
        r["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return r


def test_there_are_at_least_eight_bundles() -> None:
    assert len(BUNDLES) >= 8 and all((EXAMPLES / f"{n}.json").exists() for n in BUNDLES)


@pytest.mark.parametrize("name", BUNDLES)
def test_bundle_answers_as_its_json_situation(kg, name: str) -> None:
    fhir = kg.recommend(bundle(name)).to_json()
    assert without_reading(fhir) == kg.recommend(json.loads((EXAMPLES / f"{name}.json").read_text())).to_json()


@pytest.mark.parametrize("name", BUNDLES)
def test_every_resource_left_out_is_listed_with_why(kg, name: str) -> None:
    """The bundles name the resources that must be left out (ids with 'ignored'); exactly those are listed."""
    data = bundle(name)
    reading = kg.recommend(data).to_json()["read"]
    meant = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in data["entry"] if "ignored" in e["resource"]["id"]}
    assert {i["resource"] for i in reading["ignored"]} == meant
    assert all(i["why"] for i in reading["ignored"]) and reading["resources"] == len(data["entry"])


def test_reference_date_comes_from_date_then_timestamp_then_today(kg) -> None:
    data = bundle("v2-hba1c-ifcc-units")
    assert kg.fhir.read(data).date_from == "Bundle.timestamp" and kg.fhir.read(data).situation["date"] == "2026-12-01"
    assert kg.fhir.read(data, date="2026-12-24").situation["date"] == "2026-12-24"
    del data["timestamp"]
    reading = kg.fhir.read(data)
    assert reading.date_from == "today" and "date" not in reading.situation


def test_codings_of_other_systems_are_unrecognized(kg) -> None:
    answer = kg.recommend(bundle("osteoarthritis-diabetes-hyperglycaemia")).to_json()
    assert "http://example.org/local-problem-list|OA-HIP" in answer["unrecognized"]


@pytest.mark.parametrize("verification, certainty", [("confirmed", "confirmed"), ("provisional", "suspected"), ("differential", "suspected"),
                                                     ("unconfirmed", "suspected"), ("refuted", "absent"), (None, "confirmed")])
def test_verification_status_gives_the_certainty(kg, verification, certainty) -> None:
    data = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": condition("M16.11", cid="c1")},
                                                                      {"resource": condition("M00.051", verification)}]}
    found = {(f if isinstance(f, str) else f["code"]): ("confirmed" if isinstance(f, str) else f["certainty"])
             for f in kg.fhir.read(data).situation["findings"]}
    assert found["ICD10CM:M00.051"] == certainty


@pytest.mark.parametrize("clinical, verification", [("resolved", "confirmed"), ("inactive", None), ("remission", None), ("active", "entered-in-error")])
def test_conditions_not_present_are_ignored(kg, clinical, verification) -> None:
    data = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": condition("M16.11", cid="c1")},
                                                                      {"resource": condition("M00.051", verification, clinical)}]}
    reading = kg.fhir.read(data)
    assert "ICD10CM:M00.051" not in json.dumps(reading.situation)
    assert [i.resource for i in reading.ignored] == ["Condition/c9"]


def test_a_code_confirmed_anywhere_is_confirmed(kg) -> None:
    data = {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": condition("M16.11", cid="c1")}, {"resource": condition("M00.051", "refuted", cid="c2")},
                      {"resource": condition("M00.051", "confirmed", cid="c3")}]}
    reading = kg.fhir.read(data)
    assert "ICD10CM:M00.051" in reading.situation["findings"]
    assert [(i.resource, "confirmed in Condition/c3" in i.why) for i in reading.ignored] == [("Condition/c2", True)]


def test_resources_one_per_line_answer_as_the_bundle(kg, tmp_path: Path, capsys) -> None:
    data = bundle("v2-warfarin-medication")
    path = tmp_path / "patient.ndjson"
    path.write_text("\n".join(json.dumps(e["resource"]) for e in data["entry"]) + "\n")
    assert main(["recommend", str(path), "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert without_reading(answer) == without_reading(kg.recommend(data).to_json())


def test_batch_of_bundles_one_per_line(kg, tmp_path: Path, capsys) -> None:
    path = tmp_path / "bundles.jsonl"
    path.write_text("".join(json.dumps(bundle(n)) + "\n" for n in BUNDLES))
    assert main(["recommend", "--batch", str(path), "--jobs", "1"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [kg.recommend(bundle(n)).to_json() for n in BUNDLES]


def test_date_option_sets_the_reference_date(capsys) -> None:
    path = str(FHIR / "v2-hba1c-ifcc-units.json")
    assert main(["recommend", path, "--format", "json", "--date", "2026-12-10"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["situation"]["date"] == "2026-12-10" and answer["read"]["date_from"] == "given"


def broken(change) -> dict:
    data = copy.deepcopy(bundle("osteoarthritis-diabetes-hyperglycaemia"))
    change(data["entry"][1]["resource"])
    return data


@pytest.mark.parametrize("change, resource, element", [
    (lambda r: r.update(onsetDateTime="2026-13-40"), "Condition/c1", "onsetDateTime"),
    (lambda r: r["code"]["coding"][0].update(code="M16.ZZ!"), "Condition/c1", "code.coding[0].code"),
    (lambda r: r.update(onsetDateTime="2999-01-01"), "Condition/c1", "onsetDateTime"),
    (lambda r: r.update(clinicalStatus="active"), "Condition/c1", "clinicalStatus"),
    (lambda r: r.update(resourceType="Conditoin"), "Conditoin/c1", "resourceType"),
])
def test_malformed_resources_are_refused_naming_the_resource_and_element(kg, change, resource, element) -> None:
    with pytest.raises(InvalidFhir) as error:
        kg.recommend(broken(change))
    assert error.value.resource == resource and error.value.element.startswith(element), str(error.value)
    assert resource in str(error.value) and "2026-13-40" not in error.value.public


def test_malformed_bundle_exits_2_with_no_traceback(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken(lambda r: r.update(onsetDateTime="2026-13-40"))))
    assert main(["recommend", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Condition/c1" in err and "onsetDateTime" in err and "Traceback" not in err


@pytest.mark.parametrize("kind, when", [("Procedure", {"status": "completed", "performedDateTime": "2026-10-27"}),
                                        ("ServiceRequest", {"status": "completed", "intent": "order", "occurrenceDateTime": "2026-10-27"})])
def test_an_earlier_hip_injection_is_read_by_its_names(kg, kind, when) -> None:
    """A done Procedure or ServiceRequest whose text names an injection target is an earlier injection, with the
    medication categories it names."""
    resource = {"resourceType": kind, "id": "x1", "subject": {"reference": "Patient/p1"}, **when,
                "code": {"text": "Intra-articular hip injection of triamcinolone (corticosteroid)"}}
    data = {"resourceType": "Bundle", "type": "collection", "timestamp": "2026-12-01T08:00:00Z",
            "entry": [{"resource": condition("M16.11", cid="c1")}, {"resource": resource}]}
    assert kg.fhir.read(data).situation["injections"] == [{"date": "2026-10-27", "target": "intra-articular", "medications": ["corticosteroid"]}]
    draft = {**resource, "status": "active" if kind == "ServiceRequest" else "in-progress"}
    data["entry"][1]["resource"] = draft
    reading = kg.fhir.read(data)
    assert "injections" not in reading.situation and [i.resource for i in reading.ignored] == [f"{kind}/x1"]


def test_a_status_outside_its_value_set_is_refused(kg) -> None:
    data = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": condition("M16.11", cid="c1")}, {"resource": {
        "resourceType": "Observation", "id": "o1", "status": "done", "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        "valueQuantity": {"value": 7, "code": "%"}}}]}
    with pytest.raises(InvalidFhir) as error:
        kg.fhir.read(data)
    assert error.value.resource == "Observation/o1" and error.value.element == "status" and "observation-status" in str(error.value)
