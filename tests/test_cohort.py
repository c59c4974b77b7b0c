"""Cohorts (#18): answers in columns equal the JSON-lines answers; a synthetic OMOP CDM read through DuckDB and through
Parquet equals hipkg recommend --batch on the same persons written as JSON; Spark local[2] equals both; every bad
input names table, column, row and person (exit 2), or, with --on-error skip, is the person's error row."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import EXAMPLES
from hipkg.cli import main
from hipkg.columnar import PER_CASE, SCHEMAS, schema

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")

TABLES = (*PER_CASE, "rules", "sources", "options")
DATE = "2026-06-30"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json") if not p.name.endswith(".expected.json"))
ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(folder: Path, table: str) -> list[tuple]:
    """A table's rows, order-free: each as sorted (column, value) pairs, lists sorted, the line number left out (a
    cohort has none)."""
    out = []
    for r in pq.read_table(folder / f"{table}.parquet").to_pylist():
        out.append(tuple(sorted((k, sorted(v) if isinstance(v, list) else v) for k, v in r.items() if k != "line")))
    return sorted(out, key=repr)


def same_tables(a: Path, b: Path) -> None:
    for table in TABLES:
        left, right = rows(a, table), rows(b, table)
        assert left == right, f"{table}: {len(left)} rows against {len(right)}; first differing: " \
                              f"{next((x for x, y in zip(left, right) if x != y), None)}"


@pytest.fixture(scope="module")
def cdm(tmp_path_factory) -> Path:
    """A synthetic CDM of 1,000 persons (Parquet files, cdm.duckdb, situations.jsonl)."""
    folder = tmp_path_factory.mktemp("cdm")
    assert main(["cohort", "--make-synthetic", "1000", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def cohort_duckdb(cdm, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("answers") / "duckdb"
    assert main(["cohort", "--omop", f"duckdb://{cdm / 'cdm.duckdb'}", "--date", DATE, "--output", str(out), "--jobs", "1"]) == 0
    return out


# ------------------------------------------------------------------------------------------- columns against JSON lines


@pytest.fixture(scope="module")
def examples_batch(tmp_path_factory) -> tuple[Path, Path]:
    """Every example with its name as "case": as JSON lines out, and as columns."""
    folder = tmp_path_factory.mktemp("examples")
    lines = [json.dumps({"case": n, **json.loads((EXAMPLES / f"{n}.json").read_text(encoding="utf-8"))}) for n in NAMES]
    lines.append('{"case": "bad", "findings": ["ICD10CM:M16.ZZ!"]}')
    (folder / "in.jsonl").write_text("\n".join(lines) + "\n")
    return folder, folder / "in.jsonl"


def test_columns_hold_what_the_json_lines_say(examples_batch, capsys) -> None:
    folder, path = examples_batch
    code, out, _ = run(capsys, "recommend", "--batch", str(path), "--on-error", "skip", "--jobs", "1")
    assert code == 0
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a.get("case") for a in answers[:-1]] == NAMES and "error" in answers[-1]
    code, _, err = run(capsys, "recommend", "--batch", str(path), "--on-error", "skip", "--format", "parquet",
                       "--output", str(folder / "cols"), "--chunk", "7", "--jobs", "1")
    assert code == 0 and f"{len(NAMES) + 1} cases: {len(NAMES)} answered, 1 skipped" in err
    cols = folder / "cols"
    statuses = {(a["case"], o["id"]): o["status"] for a in answers[:-1] for o in a["options"]}
    assert {(r["case"], r["option"]): r["status"] for r in pq.read_table(cols / "answers.parquet").to_pylist()} == statuses
    reasons = sorted((a["case"], o["id"], x["id"], x["kind"], x["because"], x.get("rule"), x.get("severity"))
                     for a in answers[:-1] for o in a["options"] for x in o["reasons"])
    assert sorted((r["case"], r["option"], r["rule"], r["kind"], r["because"], r["asks"], r["severity"])
                  for r in pq.read_table(cols / "reasons.parquet").to_pylist()) == reasons
    checks = sorted((a["case"], q["id"], q["check"], q["question"]) for a in answers[:-1] for q in a["questions"])
    assert sorted((r["case"], r["rule"], r["check"], r["question"]) for r in pq.read_table(cols / "checks.parquet").to_pylist()) == checks
    fired = sorted((a["case"], r["id"]) for a in answers[:-1] for r in a["rules"])
    assert sorted((r["case"], r["rule"]) for r in pq.read_table(cols / "fired.parquet").to_pylist()) == fired
    unrecognized = sorted((a["case"], u) for a in answers[:-1] for u in a["unrecognized"])
    assert sorted((r["case"], r["code"]) for r in pq.read_table(cols / "unrecognized.parquet").to_pylist()) == unrecognized
    cases = {r["case"]: r for r in pq.read_table(cols / "cases.parquet").to_pylist()}
    assert cases["bad"]["error"] and "M16.ZZ!" in cases["bad"]["error"] and cases["bad"]["line"] == len(NAMES) + 1
    texts = {r["rule"]: r for r in pq.read_table(cols / "rules.parquet").to_pylist()}
    for a in answers[:-1]:
        for rid, text in a["reasons"].items():
            assert texts[rid]["label"] == text["label"] and texts[rid]["question"] == text.get("question")


@pytest.mark.parametrize("table", TABLES)
def test_each_table_has_its_schema(examples_batch, table, capsys) -> None:
    folder, path = examples_batch
    out = folder / "schema"
    if not out.exists():
        assert run(capsys, "recommend", "--batch", str(path), "--on-error", "skip", "--format", "parquet", "--output", str(out))[0] == 0
    assert pq.read_schema(out / f"{table}.parquet").remove_metadata() == schema(table).remove_metadata()


def test_the_readme_documents_every_table_and_column() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Answers in columns"):]
    for table, columns in SCHEMAS.items():
        assert f"`{table}`" in section, table
        for name, _, _ in columns:
            assert f"`{name}`" in section, f"{table}.{name}"


def test_statements_appear_once_per_run_not_once_per_answer(cohort_duckdb) -> None:
    """The quotes are in sources, once each; the per-case tables hold ids only, and the whole is under 1 KB a case."""
    sources = pq.read_table(cohort_duckdb / "sources.parquet")
    assert sources.num_rows == len(set(sources.column("rule").to_pylist()))
    size = sum(p.stat().st_size for p in cohort_duckdb.glob("*.parquet"))
    assert size < 1000 * 1024, f"{size:,} bytes for 1,000 persons"


def test_a_parquet_batch_answers_as_its_json_lines(cdm, tmp_path, capsys) -> None:
    """Situations as Parquet, a column per key (nested lists and structs), answer as the same situations as JSON lines."""
    given = [json.loads(line) for line in (cdm / "situations.jsonl").read_text().splitlines()[:200]]
    pq.write_table(pa.Table.from_struct_array(pa.array(given)), tmp_path / "in.parquet")  # keys of every row, not the first's
    pq.write_table(pa.table({"case": [g["case"] for g in given], "situation": [json.dumps(g) for g in given]}), tmp_path / "text.parquet")
    (tmp_path / "in.jsonl").write_text("\n".join(map(json.dumps, given)) + "\n")
    for name in ("in.parquet", "text.parquet", "in.jsonl"):
        assert run(capsys, "recommend", "--batch", str(tmp_path / name), "--format", "parquet", "--output", str(tmp_path / f"out-{name}"))[0] == 0
    same_tables(tmp_path / "out-in.parquet", tmp_path / "out-in.jsonl")
    same_tables(tmp_path / "out-text.parquet", tmp_path / "out-in.jsonl")


# ------------------------------------------------------------------------------------------------- the synthetic CDM


def test_the_cohort_answers_equal_the_batch_of_the_same_persons(cdm, cohort_duckdb, tmp_path, capsys) -> None:
    code, _, _ = run(capsys, "recommend", "--batch", str(cdm / "situations.jsonl"), "--format", "parquet", "--output", str(tmp_path / "batch"))
    assert code == 0
    same_tables(cohort_duckdb, tmp_path / "batch")


def test_duckdb_and_parquet_cdms_answer_alike_and_count_what_they_left_out(cdm, cohort_duckdb, tmp_path, capsys) -> None:
    code, _, err = run(capsys, "cohort", "--omop", str(cdm), "--date", DATE, "--output", str(tmp_path / "pq"), "--jobs", "2", "--chunk", "300")
    assert code == 0 and "1,000 persons read, 1,000 answered, 0 skipped" in err
    same_tables(cohort_duckdb, tmp_path / "pq")
    summary = json.loads((tmp_path / "pq" / "run.json").read_text())
    ignored = summary["records_ignored"]
    assert summary["persons_read"] == summary["cases"] == 1000
    for why in ("after the reference date", "ended before the reference date", "an earlier value of the same code"):
        assert ignored.get(why, 0) > 0, (why, ignored)


def test_persons_naming_no_code_the_graph_uses_are_answered_and_counted(cohort_duckdb) -> None:
    cases = pq.read_table(cohort_duckdb / "cases.parquet").to_pylist()
    unused = {c["case"] for c in cases if not c["recognized"]}
    assert unused and json.loads((cohort_duckdb / "run.json").read_text())["unrecognized_only"] == len(unused)
    statuses = {r["status"] for r in pq.read_table(cohort_duckdb / "answers.parquet").to_pylist() if r["case"] in unused}
    assert statuses == {"not-indicated"}


def test_a_code_mapped_from_a_site_vocabulary_is_read(cdm, cohort_duckdb) -> None:
    """Persons whose hip osteoarthritis is recorded only by a custom source concept that "Maps to" SNOMED CT."""
    conditions = pq.read_table(cdm / "condition_occurrence.parquet").to_pylist()
    mapped = {str(c["person_id"]) for c in conditions if c["condition_concept_id"] == 0 and c["condition_source_concept_id"]}
    assert mapped
    indicated = {r["case"] for r in pq.read_table(cohort_duckdb / "answers.parquet").to_pylist() if r["status"] != "not-indicated"}
    assert mapped <= indicated


def test_a_measurement_in_a_unit_hipkg_does_not_read_is_left_out_and_counted(cdm, tmp_path, capsys) -> None:
    folder = _broken(cdm, tmp_path, "measurement", lambda t: _set(_set(t, "unit_concept_id", 0, 0), "unit_source_value", 0, "mg/dL"))
    code, _, err = run(capsys, "cohort", "--omop", str(folder), "--date", DATE, "--output", str(tmp_path / "out"))
    assert code == 0 and "1 a unit hipkg does not read for its code" in err, err


def test_make_synthetic_is_deterministic(tmp_path) -> None:
    for name in ("a", "b"):
        assert main(["cohort", "--make-synthetic", "50", str(tmp_path / name), "--seed", "7"]) == 0
    assert (tmp_path / "a" / "situations.jsonl").read_text() == (tmp_path / "b" / "situations.jsonl").read_text()
    for table in ("person", "condition_occurrence", "measurement", "concept"):
        assert pq.read_table(tmp_path / "a" / f"{table}.parquet").equals(pq.read_table(tmp_path / "b" / f"{table}.parquet"))


# ------------------------------------------------------------------------------------------------------- bad input


def _broken(cdm: Path, tmp_path: Path, table: str, change) -> Path:
    """A copy of the CDM's Parquet folder with ``table`` changed by ``change(rows) -> rows`` (None: removed)."""
    folder = tmp_path / "broken"
    shutil.copytree(cdm, folder, ignore=shutil.ignore_patterns("*.duckdb", "*.jsonl"))
    data = pq.read_table(folder / f"{table}.parquet")
    changed = change(data)
    if changed is None:
        (folder / f"{table}.parquet").unlink()
    else:
        pq.write_table(changed, folder / f"{table}.parquet")
    return folder


def _set(table: "pa.Table", column: str, row: int, value) -> "pa.Table":
    values = table.column(column).to_pylist()
    values[row] = value
    return table.set_column(table.schema.get_field_index(column), column, pa.array(values, table.schema.field(column).type))


BAD = {
    "missing-table": ("drug_exposure", lambda t: None, "OMOP CDM drug_exposure: the table is missing", False),
    "missing-column": ("measurement", lambda t: t.drop(["unit_concept_id"]), "OMOP CDM measurement.unit_concept_id: the column is missing", False),
    "unknown-concept": ("condition_occurrence", lambda t: _set(t, "condition_concept_id", 0, 123),
                        "OMOP CDM condition_occurrence.condition_concept_id (row condition_occurrence_id 1, person 1): concept id 123 is not in the concept table", True),
    "no-unit": ("measurement", lambda t: _set(_set(t, "unit_concept_id", 0, 0), "unit_source_value", 0, None),
                "OMOP CDM measurement.unit_concept_id (row measurement_id 1, person ", True),
    "future-date": ("procedure_occurrence", lambda t: _set(t, "procedure_date", 0, __import__("datetime").date(2999, 1, 1)),
                    "OMOP CDM procedure_occurrence.procedure_date (row procedure_occurrence_id 1, person ", True),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_cdm_is_refused_naming_table_column_row_and_person(name, cdm, tmp_path, capsys) -> None:
    table, change, message, per_person = BAD[name]
    folder = _broken(cdm, tmp_path, table, change)
    code, _, err = run(capsys, "cohort", "--omop", str(folder), "--date", DATE, "--output", str(tmp_path / "out"))
    assert code == 2 and message in err and "Traceback" not in err, err
    if per_person:
        code, _, err = run(capsys, "cohort", "--omop", str(folder), "--date", DATE, "--output", str(tmp_path / "skip"), "--on-error", "skip")
        assert code == 0 and "999 answered, 1 skipped" in err, err
        bad = [c for c in pq.read_table(tmp_path / "skip" / "cases.parquet").to_pylist() if c["error"]]
        assert len(bad) == 1 and message.split(" (row")[0] in bad[0]["error"]
        assert not [r for r in pq.read_table(tmp_path / "skip" / "answers.parquet").to_pylist() if r["case"] == bad[0]["case"]]


@pytest.mark.parametrize("argv, message", [
    (["cohort", "--omop", "duckdb:///no/such.duckdb", "--date", DATE, "--output", "x"], "no DuckDB file at '/no/such.duckdb'"),
    (["cohort", "--omop", "/no/such/folder", "--date", DATE, "--output", "x"], "neither duckdb:///PATH"),
    (["cohort", "--omop", "x", "--output", "x"], "give --omop URL, --date YYYY-MM-DD and --output DIR"),
    (["cohort", "--omop", "x", "--date", "2999-01-01", "--output", "x"], "--date 2999-01-01 is in the future"),
    (["cohort", "--make-synthetic", "many", "x"], "--make-synthetic 'many': expected a whole number"),
    (["recommend", "--batch", "x.jsonl", "--format", "parquet"], "give both --format parquet and --output DIR"),
    (["cohort", "--omop", "x", "--date", DATE, "--output", "x", "--spark", "local[2]", "--jobs", "2"], "--jobs and --chunk are for answering here"),
    (["recommend", "--finding", "ICD10CM:M16.11", "--format", "parquet", "--output", "x"], "--format parquet is for many situations"),
])
def test_bad_usage_is_refused_with_a_message(argv, message, capsys) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err, err


def test_an_output_folder_that_holds_answers_is_not_overwritten(cohort_duckdb, cdm, capsys) -> None:
    before = (cohort_duckdb / "answers.parquet").stat().st_mtime_ns
    code, _, err = run(capsys, "cohort", "--omop", str(cdm), "--date", DATE, "--output", str(cohort_duckdb))
    assert code == 2 and "already holds" in err
    assert (cohort_duckdb / "answers.parquet").stat().st_mtime_ns == before


def test_a_parquet_batch_with_unknown_columns_is_refused(tmp_path, capsys) -> None:
    pq.write_table(pa.table({"case": ["1"], "diagnoses": ["ICD10CM:M16.11"]}), tmp_path / "in.parquet")
    code, _, err = run(capsys, "recommend", "--batch", str(tmp_path / "in.parquet"), "--format", "parquet", "--output", str(tmp_path / "o"))
    assert code == 2 and "Parquet columns must be 'case' and either 'situation'" in err and "diagnoses" in err


# ----------------------------------------------------------------------------------------------------------- Spark


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs a Java runtime (.ci/run installs openjdk-17-jre-headless)")
    from hipkg import spark as module

    session = module.session("local[2]", "hipkg tests")
    yield session
    session.stop()


def test_spark_answers_equal_the_in_process_answers(spark, cdm, cohort_duckdb, tmp_path) -> None:
    import hipkg
    from hipkg import spark as module

    summary = module.cohort(hipkg.load().recommender, str(cdm), DATE, str(tmp_path / "spark"), "local[2]")
    assert summary["cases"] == summary["answered"] == 1000
    same_tables(cohort_duckdb, tmp_path / "spark")


def test_spark_recommend_reads_a_dataframe_of_situations(spark, cdm, tmp_path, capsys) -> None:
    from hipkg import spark as module

    given = [json.loads(line) for line in (cdm / "situations.jsonl").read_text().splitlines()[:100]]
    pq.write_table(pa.table({"case": [g["case"] for g in given], "situation": [json.dumps(g) for g in given]}), tmp_path / "in.parquet")
    answers = module.recommend(spark.read.parquet(str(tmp_path / "in.parquet"))).collect()
    (tmp_path / "in.jsonl").write_text("\n".join(map(json.dumps, given)) + "\n")
    assert run(capsys, "recommend", "--batch", str(tmp_path / "in.jsonl"), "--format", "parquet", "--output", str(tmp_path / "local"))[0] == 0
    local = {(r["case"], r["option"], r["status"]) for r in pq.read_table(tmp_path / "local" / "answers.parquet").to_pylist()}
    assert {(r["case"], r["option"], r["status"]) for r in answers} == local and len(local) == 100 * 63


def test_the_readme_query_finds_avoided_intra_articular_corticosteroids(cohort_duckdb) -> None:
    import duckdb

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index('duckdb.sql("""', readme.index("## Answers in columns")) + len('duckdb.sql("""')
    sql = readme[start:readme.index('""")', start)].replace("'answers/", f"'{cohort_duckdb}/")
    found = duckdb.sql(sql).fetchall()
    assert found and all(row[2].startswith("hipkg:Contraindication") and row[4] for row in found)


def test_spark_skips_a_bad_person_with_its_message(spark, cdm, tmp_path) -> None:
    import hipkg
    from hipkg import spark as module

    table, change, message, _ = BAD["unknown-concept"]
    folder = _broken(cdm, tmp_path, table, change)
    summary = module.cohort(hipkg.load().recommender, str(folder), DATE, str(tmp_path / "spark"), "local[2]", stop=False)
    assert (summary["cases"], summary["errors"]) == (1000, 1)
    bad = [c for c in pq.read_table(tmp_path / "spark" / "cases.parquet").to_pylist() if c["error"]]
    assert len(bad) == 1 and message.split(" (row")[0] in bad[0]["error"]


def test_spark_writes_into_no_folder_that_holds_something(spark, cdm, tmp_path) -> None:
    from hipkg import spark as module
    from hipkg.errors import InputError

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "answers.parquet").write_text("")
    with pytest.raises(InputError, match="not empty"):
        module.write_parquet(spark.read.parquet(str(cdm / "person.parquet")).selectExpr("CAST(person_id AS STRING) AS case"),
                             str(tmp_path / "out"))
