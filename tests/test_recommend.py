"""The answer's shape, determinism, citations, and every kind of bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

import hipkg
from conftest import EXAMPLES, REPO
from hipkg.cli import main
from hipkg.errors import InputError
from hipkg.situations import Situation

SOURCE = (REPO / "ontology" / "sources" / "therapeutic-hip-injection.txt").read_text(encoding="utf-8")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_shape_and_every_option_once(capsys: pytest.CaptureFixture[str], kg) -> None:
    code, out, _ = run(capsys, "recommend", "--finding", "ICD10CM:M16.11", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert set(data) >= {"situation", "unrecognized", "options", "advice", "disclaimer"}
    ids = [o["id"] for o in data["options"]]
    assert len(ids) == len(set(ids)) == len({row["option"] for row in kg.query("recommend/options").to_dicts()})
    order = ["fits", "caution", "avoid", "not-indicated"]
    keys = [(order.index(o["status"]), o["id"]) for o in data["options"]]
    assert keys == sorted(keys)
    option = data["options"][0]
    assert set(option) >= {"id", "label", "target", "guidance", "medication_categories", "purpose", "status", "reasons"}
    assert data["situation"]["findings"][0]["concepts"][0]["id"] == "hipkg:HipOsteoarthritis"


def test_reasons_quote_the_source_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "recommend", str(EXAMPLES / "osteoarthritis-diabetes-hyperglycaemia.json"), "--format", "json")
    data = json.loads(out)
    reasons = [r for o in data["options"] for r in o["reasons"]]
    assert reasons and {r["id"] for r in reasons} == set(data["reasons"])
    for text in data["reasons"].values():
        assert text["source"]["quote"] in SOURCE, text


def test_same_input_gives_byte_identical_output(capsys: pytest.CaptureFixture[str]) -> None:
    first = run(capsys, "recommend", str(EXAMPLES / "septic-arthritis.json"), "--format", "json")[1]
    second = run(capsys, "recommend", str(EXAMPLES / "septic-arthritis.json"), "--format", "json")[1]
    assert first == second


def test_python_api_accepts_dict_situation_and_graph(kg) -> None:
    from_dict = hipkg.recommend({"findings": ["ICD10CM:M70.61"]}).to_json()
    situation = kg.situation({"findings": ["ICD10CM:M70.61"]})
    assert isinstance(situation, Situation)
    assert kg.recommend(situation).to_json() == from_dict
    assert kg.recommend(situation.to_graph()).to_json() == from_dict


def test_turtle_situation_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.ttl"
    path.write_text('@prefix hipkg: <https://w3id.org/hipkg/> .\n<urn:s> a hipkg:Situation ; hipkg:findingCode "ICD10CM:M16.12" .\n')
    code, out, _ = run(capsys, "recommend", str(path), "--format", "json")
    assert code == 0
    assert any(o["status"] == "fits" for o in json.loads(out)["options"])


def test_table_output_groups_by_status_and_has_disclaimer(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "recommend", str(EXAMPLES / "hip-osteoarthritis-left.json"))
    assert code == 0
    assert "OPTIONS" in out and "RULES (each once" in out
    assert "no substitute for a clinician" in " ".join(out.split())


@pytest.mark.parametrize("name", ["osteoarthritis-lidocaine-allergy", "v2-everything", "guidelines-planned-arthroplasty-mixed"])
def test_table_fits_80_columns_and_reads_each_rule_once(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """#17: a compact matrix of status letters, then each rule once; --all adds every option."""
    code, out, _ = run(capsys, "recommend", str(EXAMPLES / f"{name}.json"))
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80
    quotes = [line for line in out.splitlines() if line.startswith("  \u201c")]
    assert quotes and len(quotes) == len(set(quotes))
    code, every, _ = run(capsys, "recommend", str(EXAMPLES / f"{name}.json"), "--all")
    assert code == 0 and every.count("\nEVERY OPTION\n") == 1 and max(len(line) for line in every.splitlines()) <= 80
    assert len(every.split("\nEVERY OPTION\n", 1)[1].split("\n\n", 1)[0].splitlines()) >= 63


def test_batch_jsonl_one_answer_per_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"findings": ["ICD10CM:M16.12"]}\n\n{"findings": ["ICD10CM:M70.61"]}\n')
    code, out, _ = run(capsys, "recommend", "--batch", str(batch), "--on-error", "skip")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 3  # a blank line is a bad line too: one record per line keeps the numbers aligned
    assert json.loads(lines[1]) == {"line": 2, "error": f"{batch}:2: blank line; expected one JSON situation per line"}
    assert json.loads(lines[2])["situation"]["findings"][0]["code"] == "ICD10CM:M70.61"


BAD = {
    "malformed ICD-10-CM code": ('{"findings": ["ICD10CM:M16.ZZ!"]}', "M16.ZZ!"),
    "not JSON": ("{findings: [", "not valid JSON"),
    "unknown prefix": ('{"findings": ["LOINC:1234-5"]}', "LOINC"),
    "no findings": ('{"findings": []}', "findings"),
    "missing findings": ('{"allergies": []}', "findings"),
    "unknown goal": ('{"findings": ["ICD10CM:M16.9"], "goal": "cosmetic"}', "cosmetic"),
    "unknown key": ('{"findings": ["ICD10CM:M16.9"], "age": 70}', "age"),
    "bad SNOMED check digit": ('{"findings": ["SNOMEDCT:239872003"]}', "239872003"),
    "allergy with finding prefix": ('{"findings": ["ICD10CM:M16.9"], "allergies": ["ICD10CM:Z88.4"]}', "ICD10CM"),
    "findings not a list": ('{"findings": "ICD10CM:M16.9"}', "findings"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_and_names_the_value(case: str, tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    text, named = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(text)
    code, out, err = run(capsys, "recommend", str(path), "--format", "json")
    assert code == 2
    assert named in err
    assert "Traceback" not in err and out == ""


def test_bad_turtle_situation_names_file_and_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.ttl"
    path.write_text("@prefix hipkg: <https://w3id.org/hipkg/> .\n<urn:s> a hipkg:Situation ;\n  hipkg:findingCode .\n")
    code, _, err = run(capsys, "recommend", str(path))
    assert code == 2 and "bad.ttl" in err and "line" in err


def test_turtle_situation_failing_shacl_is_reported(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nofindings.ttl"
    path.write_text("@prefix hipkg: <https://w3id.org/hipkg/> .\n<urn:s> a hipkg:Situation .\n")
    code, _, err = run(capsys, "recommend", str(path))
    assert code == 2 and "nofindings.ttl" in err


def test_missing_file_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "recommend", "does-not-exist.json")
    assert code == 2 and "does-not-exist.json" in err


def test_api_raises_input_error(kg) -> None:
    with pytest.raises(InputError, match="M16.ZZ!"):
        kg.recommend({"findings": ["ICD10CM:M16.ZZ!"]})


def test_stdin_situation() -> None:
    proc = subprocess.run([sys.executable, "-m", "hipkg", "recommend", "-", "--format", "json"],
                          input='{"findings": ["ICD10CM:M16.12"]}', capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["options"]


def test_batch_bad_line_fails_with_its_line_number(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"findings": ["ICD10CM:M16.12"]}\n{"findings": ["ICD10CM:M16.ZZ!"]}\n{"findings": ["ICD10CM:M70.61"]}\n')
    code, out, err = run(capsys, "recommend", "--batch", str(batch))
    assert code == 2 and "b.jsonl:2" in err and "M16.ZZ!" in err
    assert len(out.strip().splitlines()) == 1  # the answer before the bad line was written


def test_batch_skip_keeps_input_order_and_reports_the_bad_line(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"findings": ["ICD10CM:M16.12"]}\n{"findings": ["ICD10CM:M16.ZZ!"]}\n{"findings": ["ICD10CM:M70.61"]}\n')
    code, out, err = run(capsys, "recommend", "--batch", str(batch), "--on-error", "skip", "--chunk", "2")
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and len(lines) == 3
    assert lines[1]["line"] == 2 and "M16.ZZ!" in lines[1]["error"] and "b.jsonl:2" in err
    assert lines[2]["situation"]["findings"][0]["code"] == "ICD10CM:M70.61"


def test_batch_answers_equal_single_answers(tmp_path, capsys: pytest.CaptureFixture[str], kg) -> None:
    names = sorted(p.stem for p in EXAMPLES.glob("*.json") if not p.name.endswith(".expected.json"))
    batch = tmp_path / "all.jsonl"
    batch.write_text("".join(json.dumps(json.loads((EXAMPLES / f"{n}.json").read_text())) + "\n" for n in names))
    code, out, _ = run(capsys, "recommend", "--batch", str(batch), "--chunk", "5")
    assert code == 0
    answers = [json.loads(line) for line in out.strip().splitlines()]
    for name, answer in zip(names, answers, strict=True):
        assert answer == kg.recommend(json.loads((EXAMPLES / f"{name}.json").read_text())).to_json(), name


def test_batch_csv(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "b.csv"
    batch.write_text("findings,allergies,goal\nICD10CM:M16.12;ICD10CM:Z79.01,,\nhipkg:GreaterTrochantericPainSyndrome,RXNORM:6387,diagnostic-and-therapeutic\n")
    code, out, _ = run(capsys, "recommend", "--batch", str(batch))
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert code == 0 and len(lines) == 2
    assert [f["code"] for f in lines[0]["situation"]["findings"]] == ["ICD10CM:M16.12", "ICD10CM:Z79.01"]
    assert lines[1]["situation"]["goal"] == "diagnostic-and-therapeutic"


@pytest.mark.parametrize("engine", ["oxigraph", "rdflib"])
def test_engine_option(engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "recommend", str(EXAMPLES / "septic-arthritis.json"), "--format", "json", "--engine", engine)
    assert code == 0 and json.loads(out)["advice"]


def test_a_reason_says_the_same_whichever_option_it_concerns(kg) -> None:
    """The JSON gives each reason's text once (``reasons``, by id): so a reason's label, source and question depend on
    its id alone, in every example and in generated situations."""
    import random

    situations = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json")) if not p.name.endswith(".expected.json")]
    rng = random.Random(0)
    concepts = sorted("hipkg:" + str(row[0]).rsplit("/", 1)[1] for row in kg.sparql("SELECT DISTINCT ?t WHERE { ?rule hipkg:triggeredBy ?t }").rows)
    situations += [{"findings": rng.sample(concepts, min(3, len(concepts)))} for _ in range(50)]
    for situation in situations:
        texts: dict[str, dict] = {}
        answer = kg.recommend(situation)
        for option in answer.options:
            for reason in option.reasons:
                assert texts.setdefault(reason.id, reason.text_json()) == reason.text_json(), reason.id
        assert set(answer.to_json()["reasons"]) == set(texts)
