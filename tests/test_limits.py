"""Limits, each with its flag and documented default (issue #14): entries per situation list, the size of one
situation file, the length of a batch line, and a deadline for kg.sparql."""
from __future__ import annotations

import json

import pytest

import hipkg
from hipkg import batch, situations
from hipkg.cli import build_parser, main
from hipkg.errors import InvalidSituation, QueryTimeout


@pytest.fixture(scope="module")
def kg():
    return hipkg.load()


def test_a_list_longer_than_the_limit_is_refused(kg):
    with pytest.raises(InvalidSituation, match="more than the 1,000 allowed"):
        kg.situation({"findings": [f"ICD10CM:S{i // 100 % 10}{i // 10 % 10}.{i % 10}" for i in range(1001)]})
    assert kg.situation({"findings": [f"ICD10CM:S{i // 100 % 10}{i // 10 % 10}.{i % 10}" for i in range(1000)]})


@pytest.mark.parametrize("key", ["allergies", "medications", "observations", "procedures", "injections"])
def test_every_list_has_the_limit(kg, key):
    with pytest.raises(InvalidSituation, match=f"'{key}' has 3"):
        situations.from_dict(kg.vocabulary, {"findings": ["ICD10CM:M16.11"], key: [{}] * 3}, max_codes=2)


def test_the_cli_flags_refuse_with_exit_2(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"findings": ["ICD10CM:M16.11", "ICD10CM:M16.12"]}))
    assert main(["recommend", str(path), "--max-codes", "1"]) == 2
    assert "more than the 1 allowed (--max-codes)" in capsys.readouterr().err
    assert main(["recommend", str(path), "--max-bytes", "20"]) == 2
    assert "more than the 20 allowed (--max-bytes)" in capsys.readouterr().err


def test_the_help_states_the_defaults_the_code_uses():
    helps = {a.dest: a.help for a in build_parser()._subparsers._group_actions[0].choices["recommend"]._actions}
    assert f"{situations.MAX_ENTRIES:,}" in helps["max_codes"]
    assert f"{situations.MAX_SITUATION_BYTES:,}" in helps["max_bytes"]
    assert f"{batch.MAX_LINE_BYTES}" in helps["max_line_bytes"]


def test_kg_sparql_stops_a_runaway_query(kg):
    with pytest.raises(QueryTimeout):
        kg.sparql("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }", timeout=0.5)


def test_kg_sparql_answers_within_its_deadline_and_binds(kg):
    assert kg.sparql("SELECT ?x WHERE { }", x="a").rows[0][0].toPython() == "a"
    assert kg.sparql("SELECT ?x WHERE { }", timeout=None, x="a").rows[0][0].toPython() == "a"


def test_validate_refuses_a_file_larger_than_its_limit(tmp_path, capsys):
    from hipkg import rdfio

    path = tmp_path / "big.ttl"
    path.write_text("@prefix ex: <http://example.org/> .\n" + "".join(f"ex:s{i} ex:p {i} .\n" for i in range(200)))
    assert main(["validate", str(path), "--max-bytes", "1000"]) == 2
    assert "more than the 1,000 allowed (--max-bytes)" in capsys.readouterr().err
    helps = {a.dest: a.help for a in build_parser()._subparsers._group_actions[0].choices["validate"]._actions}
    assert f"{rdfio.MAX_USER_FILE_BYTES:,}" in helps["max_bytes"]
