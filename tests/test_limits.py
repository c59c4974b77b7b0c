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


# ------------------------------------------------------------------ memory and early stops (hipkg.isolation)

CARTESIAN = "SELECT * WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def test_query_max_memory_stops_an_evaluation_that_must_hold_every_row(tmp_path, capsys):
    path = tmp_path / "sorted.rq"
    path.write_text(CARTESIAN + " ORDER BY ?a ?i ?f")
    assert main(["query", "--file", str(path), "--limit", "10", "--max-memory", "200M", "--timeout", "120"]) == 2
    assert "stopped at the memory limit of 200 MiB (raise --max-memory" in capsys.readouterr().err


def test_query_limit_stops_a_streaming_evaluation_early(tmp_path, capsys):
    """The cartesian product has ~10^13 rows; with --limit 10 the engine stops at the 11th."""
    path = tmp_path / "cartesian.rq"
    path.write_text(CARTESIAN)
    assert main(["query", "--file", str(path), "--limit", "10", "--format", "csv", "--timeout", "60"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) >= 11 and "cut to the first 10 rows" in err


def test_kg_sparql_has_a_memory_limit(kg):
    from hipkg.errors import QueryMemoryExceeded

    with pytest.raises(QueryMemoryExceeded) as caught:
        kg.sparql(CARTESIAN + " ORDER BY ?a ?i ?f", max_memory=100 * 2**20, timeout=120)
    assert caught.value.max_bytes == 100 * 2**20


def test_isolation_reports_python_running_out_of_memory():
    from hipkg import isolation
    from hipkg.errors import InputError

    def greedy() -> int:
        return len(bytearray(400 * 2**20))

    with pytest.raises(InputError, match="out"):
        isolation.run(greedy, timeout=60, max_memory=100 * 2**20, timed_out=lambda: InputError("time"),
                      out_of_memory=lambda: InputError("out"), failed=lambda d, c: InputError(d))
    assert isolation.run(greedy, timeout=60, max_memory=None, timed_out=lambda: InputError("time"),
                         out_of_memory=lambda: InputError("out"), failed=lambda d, c: InputError(d)) == 400 * 2**20


def test_a_typed_error_crosses_from_the_child_with_its_fields():
    """Regression: errors whose __init__ takes fields could not be unpickled in the parent (TypeError, traceback)."""
    from hipkg import isolation
    from hipkg.errors import InputError, Interrupted, QueryFailed

    def fails() -> None:
        raise QueryFailed("q", "detail", "TypeError")

    with pytest.raises(QueryFailed) as caught:
        isolation.run(fails, timeout=60, max_memory=None, timed_out=lambda: InputError("time"),
                      out_of_memory=lambda: InputError("out"), failed=lambda d, c: InputError(d))
    assert (caught.value.name, caught.value.detail, caught.value.cause) == ("q", "detail", "TypeError")
    import pickle

    again = pickle.loads(pickle.dumps(Interrupted(15, "SIGTERM", 3)))
    assert (again.exit_code, again.last_line, str(again)) == (143, 3, str(Interrupted(15, "SIGTERM", 3)))


@pytest.mark.parametrize("text, expected", [("512M", 512 * 2**20), ("2G", 2 * 2**30), ("1.5GiB", int(1.5 * 2**30)),
                                            ("100", 100), ("64kb", 64 * 2**10)])
def test_sizes_are_read_as_powers_of_1024(text, expected):
    from hipkg.cli._common import size

    assert size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "3Q", "-1G", "0", "inf", "nan"])
def test_a_bad_size_names_the_value(text):
    import argparse

    from hipkg.cli._common import size

    with pytest.raises(argparse.ArgumentTypeError, match=repr(text[:40]).replace("(", r"\(")):
        size(text)


def test_validate_is_bounded_in_time(tmp_path, capsys):
    assert main(["validate", "--timeout", "0.05"]) == 2
    assert "validation stopped after 0.05 s" in capsys.readouterr().err


def test_validate_passes_its_memory_limit_to_the_child(monkeypatch, capsys):
    """Whether 1 MiB more is too little depends on what the parent process has freed before (the child reuses it), so
    the limit itself is proven by test_isolation_reports_python_running_out_of_memory; here, that validate passes it on
    and reports it."""
    from hipkg import isolation

    seen = {}

    def run(work, **limits):
        seen.update(limits)
        raise limits["out_of_memory"]()

    monkeypatch.setattr(isolation, "run", run)
    assert main(["validate", "--max-memory", "1M"]) == 2
    assert seen["max_memory"] == 2**20
    assert "validation stopped at the memory limit of 1 MiB" in capsys.readouterr().err
