"""Guidelines beside the source (issue #15): recommendations as data with honest sourcing, the verdict per option, the
guidelines policy, and the library queries on disagreements and changes."""
from __future__ import annotations

import json
import re

import pytest

import hipkg
from conftest import EXAMPLES
from hipkg.cli import main
from hipkg.errors import InvalidSituation


@pytest.fixture(scope="module")
def kg():
    return hipkg.load()


@pytest.fixture(scope="module")
def rows(kg):
    return kg.query("recommend/guideline-recommendations").to_dicts()


def test_every_recommendation_has_body_year_direction_strength_and_locator(kg, rows):
    declared = kg.sparql("SELECT ?r WHERE { ?r a hipkg:GuidelineRecommendation }").rows
    assert len(rows) == len(declared) >= 25  # the query joins every required field: a missing one drops the row
    for r in rows:
        assert r["body"] and int(r["year"]) > 1990 and r["direction"] and r["strength"] and r["locator"], r


def test_each_statement_is_one_short_sentence_and_unverified_ones_have_none(rows):
    for r in rows:
        if r["verified"] == "true":
            statement = r["statement"]
            assert statement and len(statement) <= 320, r["recommendation"]
            assert not re.search(r"[.!?] [A-Z]", statement), f"{r['recommendation']}: more than one sentence"
        else:
            assert r["statement"] is None and r["reason"], r["recommendation"]


def test_at_least_25_verified_recommendations_from_at_least_5_guidelines(rows):
    verified = [r for r in rows if r["verified"] == "true"]
    assert len(verified) >= 25
    assert len({r["guideline"] for r in verified}) >= 5


def test_no_policy_rule_comes_from_an_unverified_or_superseded_recommendation(kg):
    found = kg.sparql("""SELECT ?rule WHERE { ?rule a hipkg:GuidelinePolicyRule ; hipkg:forRecommendation ?r .
        ?r hipkg:guideline ?g . { ?r hipkg:unverified true } UNION { ?later hipkg:supersedes ?g } }""").rows
    assert found == ()
    assert kg.sparql("SELECT ?rule WHERE { ?rule a hipkg:GuidelinePolicyRule }").rows


def test_unverified_recommendations_change_no_verdict(kg):
    unverified = [str(r[0]) for r in kg.sparql("SELECT ?r WHERE { ?r hipkg:unverified true }").rows]
    assert unverified
    rows = kg.query("recommend/guideline-verdicts", groups=["1"], members=[("1", r) for r in unverified]).rows
    assert [str(v) for _, v in rows] == ["none"]


@pytest.mark.parametrize("path", sorted(p for p in EXAMPLES.glob("*.json") if not p.name.endswith(".expected.json")), ids=lambda p: p.stem)
def test_the_source_policy_gives_no_guideline_reason_and_the_guidelines_policy_only_adds_them(kg, path):
    """Under the default policy (source) the guidelines change no status; under guidelines, an option whose status
    changes has a reason of kind guideline."""
    data = json.loads(path.read_text())
    source = kg.recommend({**data, "policy": "source"})
    guided = kg.recommend({**data, "policy": "guidelines"})
    assert all(r.kind != "guideline" for o in source.options for r in o.reasons)
    before = {o.id: o.status for o in source.options}
    for o in guided.options:
        if o.status != before[o.id]:
            assert any(r.kind == "guideline" for r in o.reasons), o.id
        assert {r.kind for r in o.reasons} - {"guideline"} <= {r.kind for r in next(x for x in source.options if x.id == o.id).reasons}


def test_recommendations_are_sorted_by_year_then_body(kg):
    answer = kg.recommend({"findings": ["ICD10CM:M16.11"]})
    for o in answer.options:
        keys = [(r.year, r.body, r.id) for r in o.guidelines.recommendations]
        assert keys == sorted(keys)
    assert any(o.guidelines.recommendations for o in answer.options)


def test_a_guideline_reason_names_its_severity(kg):
    answer = kg.recommend({"findings": ["ICD10CM:M16.11"], "policy": "guidelines"})
    reasons = [r.to_json() for o in answer.options for r in o.reasons if r.kind == "guideline"]
    assert reasons and {r["severity"] for r in reasons} == {"avoid", "caution"}


def test_a_finding_cannot_switch_the_policy(kg):
    answer = kg.recommend({"findings": ["ICD10CM:M16.11", "hipkg:PolicyGuidelines"]})
    assert answer.unrecognized == ("hipkg:PolicyGuidelines",)
    assert all(r.kind != "guideline" for o in answer.options for r in o.reasons)


def test_the_policy_travels_in_turtle_and_is_checked(kg):
    situation = kg.situation({"findings": ["ICD10CM:M16.11"], "policy": "guidelines"})
    graph = situation.to_graph(goal=kg.vocabulary.purposes[situation.goal], vocabulary=kg.vocabulary)
    assert kg.situation(graph).policy == "guidelines"
    with pytest.raises(InvalidSituation, match="unknown policy 'strict'; expected one of guidelines, source"):
        kg.situation({"findings": ["ICD10CM:M16.11"], "policy": "strict"})


def test_the_cli_policy_flag(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"findings": ["ICD10CM:M16.11"]}))
    assert main(["recommend", str(path), "--policy", "guidelines", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["situation"]["policy"] == "guidelines"
    assert any(r["kind"] == "guideline" for o in data["options"] for r in o["reasons"])
    assert main(["recommend", "--batch", str(path), "--policy", "guidelines"]) == 2
    assert "each situation names its \"policy\"" in capsys.readouterr().err
    assert main(["recommend", str(path), "--policy", "nope"]) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err


def test_disagreements_and_changes_are_readable_answers(kg):
    disagreements = kg.query("guidelines/disagreements").to_dicts()
    assert {d["kind"] for d in disagreements} == {"opposite", "firmness"}
    assert all(d["one"] != d["other"] for d in disagreements)
    (change,) = kg.query("guidelines/changes").to_dicts()
    assert (change["body"], int(change["earlierYear"]), change["earlierDirection"], int(change["laterYear"]), change["laterDirection"]) == \
        ("AAOS", 2017, "for", 2023, "conditional-for")


def test_the_expect_block_gives_the_guidelines_benefit_duration(kg):
    answer = kg.recommend({"findings": ["ICD10CM:M16.11"]}).to_json()
    benefit = [b for o in answer["options"] for e in o["expect"] for b in e.get("benefit_per_guidelines", ())]
    assert benefit and {b["duration"] for b in benefit} == {"short-term benefit"}
    assert {b["recommendation"] for b in benefit} == {"hipkg:Recommendation_AAOS2023HipOAIntraArticularCorticosteroid"}


def test_a_csv_batch_may_name_the_policy(tmp_path, capsys):
    path = tmp_path / "s.csv"
    path.write_text("findings,policy\nICD10CM:M16.11,guidelines\nICD10CM:M16.11,\n")
    assert main(["recommend", "--batch", str(path)]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (first["situation"]["policy"], second["situation"]["policy"]) == ("guidelines", "source")
