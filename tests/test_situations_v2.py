"""Version-2 situations: every new field is read from JSON and from Turtle alike, and bad input is refused with exit
code 2 and a message that names the bad value and what was expected (one case per kind of bad input)."""
from __future__ import annotations

import json

import pytest
from rdflib import URIRef

import hipkg
from hipkg.cli import main

OA = "ICD10CM:M16.11"

#: (name, situation, words the message must contain)
BAD = [
    ("unparseable date", {"date": "2026-02-30", "findings": [OA]}, ["'2026-02-30'", "YYYY-MM-DD"]),
    ("finding dated after the reference date", {"date": "2026-12-01", "findings": [{"code": OA, "date": "2026-12-02"}]},
     ["'2026-12-02'", "after the reference date 2026-12-01"]),
    ("unknown certainty", {"findings": [{"code": OA, "certainty": "probable"}]}, ["'probable'", "absent, confirmed, suspected"]),
    ("unknown key in a finding", {"findings": [{"code": OA, "when": "x"}]}, ["'when'", "code, certainty, date"]),
    ("observation value not a number", {"findings": [OA], "observations": [{"code": "LOINC:4548-4", "value": "9.1", "unit": "%"}]},
     ["'9.1'", "expected a number"]),
    ("observation value a boolean", {"findings": [OA], "observations": [{"code": "LOINC:4548-4", "value": True, "unit": "%"}]},
     ["True", "expected a number"]),
    ("observation unit the graph does not accept", {"findings": [OA], "observations": [{"code": "LOINC:4548-4", "value": 9.1, "unit": "mg/dL"}]},
     ["'mg/dL'", "%, mmol/mol"]),
    ("malformed LOINC code", {"findings": [OA], "observations": [{"code": "LOINC:45484", "value": 9.1, "unit": "%"}]},
     ["'45484'", "LOINC code such as 4548-4"]),
    ("observation without a unit", {"findings": [OA], "observations": [{"code": "LOINC:4548-4", "value": 9.1}]},
     ["'unit'", "code, value, unit"]),
    ("past procedure after the reference date", {"date": "2026-12-01", "findings": [OA], "procedures": [{"code": "SNOMEDCT:52734007", "date": "2027-01-01"}]},
     ["'2027-01-01'", "after the reference date"]),
    ("planned procedure in the past", {"date": "2026-12-01", "findings": [OA], "procedures": [{"code": "SNOMEDCT:52734007", "date": "2026-11-01", "planned": True}]},
     ["'2026-11-01'", "planned procedure is in the future"]),
    ("planned not a boolean", {"findings": [OA], "procedures": [{"code": "SNOMEDCT:52734007", "planned": "yes"}]}, ["'yes'", "true or false"]),
    ("injection target that is not an option target", {"findings": [OA], "injections": [{"date": "2026-01-05", "target": "knee"}]},
     ["'knee'", "intra-articular"]),
    ("injection medication that is not a category", {"findings": [OA], "injections": [{"date": "2026-01-05", "target": "intra-articular", "medications": ["cortisone"]}]},
     ["['cortisone']", "corticosteroid"]),
    ("injection without a date", {"findings": [OA], "injections": [{"target": "intra-articular"}]}, ["'date'", "date, target"]),
    ("medication with a finding prefix", {"findings": [OA], "medications": ["ICD10CM:Z79.01"]}, ["'ICD10CM'", "ATC, HIPKG, RXNORM"]),
    ("observations not a list", {"findings": [OA], "observations": {"code": "LOINC:4548-4"}}, ["'observations' must be a list"]),
    ("a number of 5,000 digits", None, ["number too long"]),
    ("JSON nested 2,000 deep", None, ["nested too deeply"]),
]


def _text(name: str, situation: dict | None) -> str:
    if name.startswith("a number"):
        return '{"findings": ["ICD10CM:M16.11"], "observations": [{"code": "LOINC:4548-4", "value": ' + "9" * 5000 + ', "unit": "%"}]}'
    if name.startswith("JSON nested"):
        return '{"findings": ["ICD10CM:M16.11"], "goal": ' + "[" * 2000 + "]" * 2000 + "}"
    return json.dumps(situation)


@pytest.mark.parametrize("name,situation,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_with_exit_2_naming_the_value(name, situation, words, tmp_path, capsys):
    path = tmp_path / "situation.json"
    path.write_text(_text(name, situation), encoding="utf-8")
    code = main(["recommend", str(path), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.startswith("hipkg: error: "), (code, err)
    assert "Traceback" not in err and len(err) < 1000
    for word in words:
        assert word in err, (word, err)


def test_a_bad_line_of_a_batch_names_its_line_number(tmp_path, capsys):
    lines = [json.dumps({"findings": [OA]}), json.dumps({"findings": [OA], "observations": [{"code": "LOINC:4548-4", "value": 1, "unit": "g"}]})]
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["recommend", "--batch", str(path), "--on-error", "skip", "--jobs", "1"])
    out, _ = capsys.readouterr()
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(records) == 2 and "options" in records[0]
    assert records[1]["line"] == 2 and "'g'" in records[1]["error"]


EVERYTHING = {
    "date": "2026-12-01",
    "findings": [OA, {"code": "ICD10CM:R50.9", "certainty": "confirmed", "date": "2026-11-30"},
                 {"code": "hipkg:SepticArthritis", "certainty": "suspected"}, {"code": "hipkg:SystemicInfection", "certainty": "absent"}],
    "allergies": ["RXNORM:6387"], "medications": ["RXNORM:11289"],
    "observations": [{"code": "LOINC:4548-4", "value": 9.1, "unit": "%", "date": "2026-11-20"}],
    "procedures": [{"code": "SNOMEDCT:52734007", "date": "2026-10-20"}, {"code": "SNOMEDCT:52734007", "date": "2027-01-15", "planned": True}],
    "injections": [{"date": "2026-10-27", "target": "intra-articular", "medications": ["corticosteroid"]}],
    "goal": "therapeutic",
}


def test_turtle_form_answers_as_the_json_does():
    kg = hipkg.load()
    situation = kg.situation(EVERYTHING)
    graph = situation.to_graph(URIRef("urn:example:everything"), kg.vocabulary.purposes[situation.goal], kg.vocabulary)
    assert kg.recommend(graph).to_json() == kg.recommend(EVERYTHING).to_json()


def test_the_answer_says_which_date_it_used_and_shows_every_field():
    kg = hipkg.load()
    head = kg.recommend(EVERYTHING).to_json()["situation"]
    assert head["date"] == "2026-12-01"
    assert {"medications", "observations", "procedures", "injections"} <= set(head)
    assert [f.get("certainty", "confirmed") for f in head["findings"]] == ["confirmed", "confirmed", "suspected", "absent"]
    assert head["observations"] == [{"code": "LOINC:4548-4", "value": 9.1, "unit": "%", "date": "2026-11-20"}]
    undated = kg.recommend({"findings": [OA]}).to_json()["situation"]
    assert len(undated["date"]) == 10  # the current date, stated


def test_an_answered_check_turns_into_what_the_rule_says():
    kg = hipkg.load()

    def statuses(extra):
        answer = kg.recommend({"findings": [OA, "ICD10CM:E11.9", *extra]})
        return {o.status for o in answer.options if o.medication_categories == ("corticosteroid",) and o.target == "intra-articular"}

    assert statuses([]) == {"check"}
    assert statuses([{"code": "hipkg:PoorlyControlledDiabetes", "certainty": "absent"}]) == {"caution"}
    assert statuses([{"code": "hipkg:PoorlyControlledDiabetes", "certainty": "confirmed"}]) == {"avoid"}
