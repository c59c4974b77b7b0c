"""The command line: validate exit codes and messages, info, version, help on every command."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import hipkg
from hipkg.cli import COMMANDS, main

FIXTURES = Path(__file__).parent / "fixtures" / "validate"

BROKEN = {
    "contraindication-without-scope.ttl": ("hipkg:ContraindicationWithoutScope", "scope"),
    "statement-without-source.ttl": ("hipkg:UnsourcedPro", "source"),
    "quote-not-in-source.ttl": ("Passage_InventedCon", "quote"),
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_bundled_graph_conforms(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate")
    assert code == 0 and "conforms" in out


def test_validate_good_addition_conforms(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "validate", str(FIXTURES / "good-addition.ttl"))[0] == 0


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_broken_file_exits_1_and_names_the_problem(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    focus, word = BROKEN[name]
    code, out, _ = run(capsys, "validate", str(FIXTURES / name), "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["conforms"] is False
    hits = [r for r in report["results"] if r["severity"] == "Violation" and (focus in r["focus_node"] or focus in (r["value"] or ""))]
    assert hits, report["results"]
    assert any(word in r["message"].lower() for r in hits), [r["message"] for r in hits]


def test_validate_broken_turtle_exits_2_naming_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(FIXTURES / "broken.ttl"))
    assert code == 2 and "broken.ttl" in err and "line" in err and "Traceback" not in err


def test_validate_missing_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", "no-such-file.ttl")
    assert code == 2 and "no-such-file.ttl" in err


def test_info_counts_sources_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["version"] == hipkg.__version__
    assert data["counts"]["hipkg:Contraindication"] >= 18
    assert {s["id"] for s in data["sources"]} >= {"hipkg:Source_TherapeuticHipInjection"}


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and hipkg.__version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_on_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "usage: hipkg" in out and len(out) > 200


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2


def test_fmt_check_reports_a_non_canonical_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "x.ttl"
    f.write_text("@prefix hipkg: <https://w3id.org/hipkg/> .\nhipkg:b hipkg:p hipkg:c . hipkg:a hipkg:p hipkg:c .\n")
    assert run(capsys, "fmt", "--check", str(f))[0] == 1
    assert run(capsys, "fmt", str(f))[0] == 0
    assert run(capsys, "fmt", "--check", str(f))[0] == 0


def test_console_script_runs_without_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "hipkg", "recommend", "--finding", "ICD10CM:M16.ZZ!"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "M16.ZZ!" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------------- papercuts (#17)


def test_batch_refuses_the_table_format(capsys: pytest.CaptureFixture[str]) -> None:
    """A batch writes JSON lines: asking for a table is refused, not silently ignored."""
    assert main(["recommend", "--batch", "x.jsonl", "--format", "table"]) == 2
    assert "--format table is for one situation" in capsys.readouterr().err


def test_not_json_on_stdin_gives_one_error_line_and_no_parser_warning() -> None:
    done = subprocess.run([sys.executable, "-m", "hipkg", "recommend", "-"], input="not json", capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "does not look like a valid URI" not in done.stderr


@pytest.mark.parametrize("value, code", [("hipkg:DoesNotExist", 2), ("hipkg:TrochantericBursaInjection", 0),
                                         ("trochanteric bursa injection", 0)])
def test_a_hipkg_iri_that_names_nothing_is_an_input_error(value: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "knowledge/indications", "--param", f"target={value}", "--format", "json"]) == code
    if code:
        assert "hipkg:DoesNotExist" in capsys.readouterr().err


@pytest.mark.parametrize("finding, read_as", [("hip osteoarthritis", "hipkg:HipOsteoarthritis"), ("Coxarthrosis", "hipkg:HipOsteoarthritis"),
                                              ("M16.11", "ICD10CM:M16.11"), ("m70.61", "ICD10CM:M70.61")])
def test_findings_may_be_names_synonyms_or_bare_icd10cm_codes(finding: str, read_as: str, capsys: pytest.CaptureFixture[str]) -> None:
    """#17: what the web form accepts, the command line and JSON accept too, and the answer says what each was read as."""
    assert main(["recommend", "--finding", finding, "--allergy", "lignocaine", "--format", "json"]) == 0
    situation = json.loads(capsys.readouterr().out)["situation"]
    assert situation["findings"][0]["code"] == read_as and situation["findings"][0]["given"] == finding
    assert situation["allergies"][0] == {"code": "hipkg:Lidocaine", "concepts": [{"id": "hipkg:Lidocaine", "label": "lidocaine"}],
                                         "given": "lignocaine"}


def test_an_ambiguous_name_is_refused_with_its_candidates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["recommend", "--finding", "cellulitis"]) == 2
    err = capsys.readouterr().err
    assert "hipkg:CellulitisOfHipRegion" in err and "hipkg:SkinInfection" in err


def test_validate_counts_quality_warnings_in_one_line_and_lists_them_with_qc(capsys: pytest.CaptureFixture[str]) -> None:
    """#17: make demo no longer opens with dozens of warning rows; --qc lists them; no message is squeezed into a column."""
    assert main(["validate"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("quality checks: ") and out[-1].endswith("list them: hipkg validate --qc")
    assert not any(line.startswith("qc/") for line in out)
    assert all(len(line) <= 80 for line in out[:-1])
    assert main(["validate", "--qc"]) == 0
    assert any(line.startswith("qc/") for line in capsys.readouterr().out.splitlines())


def test_faq_queries_read_as_records_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """#17: the FAQ's long answers are not cut to a table column; any query can ask for records, and the FAQ can ask for a table."""
    from hipkg.queries import QueryLibrary

    library = QueryLibrary.bundled()
    faq = [q for q in library.names() if q.startswith("faq/")]
    assert len(faq) >= 9
    assert main(["query", "faq/cortisone-shot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("entry:") and "\u2026" not in out and "Not always." in out
    assert main(["query", "faq/cortisone-shot", "--format", "table"]) == 0 and capsys.readouterr().out.startswith("entry")
    for name in faq:
        assert library.get(name).layout == "records"


def test_the_package_exports_its_errors_and_recommend_many() -> None:
    """#17: batch use from Python is one call, and its errors can be caught by name."""
    answers = hipkg.recommend_many([{"findings": ["M16.11"]}, {"findings": ["ICD10CM:M70.61"]}])
    assert [len(a.options) for a in answers] == [63, 63]
    with pytest.raises(hipkg.InputError):
        hipkg.recommend_many([{"findings": ["ICD10CM:M16.ZZ!"]}])
    assert issubclass(hipkg.InputError, hipkg.HipkgError)


def test_the_table_names_an_allergy_row_allergy(capsys: pytest.CaptureFixture[str]) -> None:
    """#17 papercut: the row was labelled 'allergie' (kind[:-1])."""
    assert main(["recommend", "--finding", "ICD10CM:M16.11", "--allergy", "RXNORM:6387"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines() if "RXNORM:6387" in line and line.split()]
    assert "allergy" in rows and "allergie" not in rows
