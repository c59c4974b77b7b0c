"""A deterministic synthetic OMOP CDM v5.4, with no patient data: for tests, benchmarks and trying ``hipkg cohort``.

Each person is made as a situation first (hip osteoarthritis, bursitis, diabetes with an HbA1c series, warfarin with
INR, hip arthroplasty, earlier injections, infections, fever, or only codes the graph does not use), then as the CDM
records that say it, and records the reading must leave out: conditions and drugs that ended before the reference
date, earlier measurements of the same code, records after the reference date. ``situations.jsonl`` holds the
situations as hipkg situations with their "case" (the person_id), so that answers from the CDM can be checked against
``hipkg recommend --batch`` on the same persons.

The codes are ones the graph's examples already use (each checked where ontology/ and examples/ say). Concept ids are
custom ones, above 2,000,000,000 as OHDSI's convention for custom concepts has it
(https://ohdsi.github.io/CommonDataModel/customConcepts.html); concept names are "VOCABULARY CODE", except the
custom concepts of earlier injections, whose names say the target and medication category as the graph names them.
"""
from __future__ import annotations

import datetime
import json
import os
import random
from typing import Any

from hipkg.columnar import arrow
from hipkg.omop import duckdb

#: (vocabulary_id, concept_code, domain_id, concept_class_id); the concept ids follow this order from FIRST_ID.
CODES = (
    ("ICD10CM", "M16.11", "Condition", "5-char billing code"), ("ICD10CM", "M16.12", "Condition", "5-char billing code"),
    ("ICD10CM", "M70.61", "Condition", "5-char billing code"), ("ICD10CM", "M70.71", "Condition", "5-char billing code"),
    ("ICD10CM", "E11.9", "Condition", "4-char billing code"), ("ICD10CM", "Z79.01", "Observation", "5-char billing code"),
    ("ICD10CM", "L03.90", "Condition", "5-char billing code"), ("ICD10CM", "A41.9", "Condition", "4-char billing code"),
    ("ICD10CM", "R50.9", "Condition", "4-char billing code"), ("ICD10CM", "I10", "Condition", "3-char billing code"),
    ("ICD10CM", "J45.909", "Condition", "6-char billing code"), ("ICD10CM", "Z96.641", "Observation", "6-char billing code"),
    ("SNOMED", "239872002", "Condition", "Disorder"), ("SNOMED", "52734007", "Procedure", "Procedure"),
    ("RxNorm", "11289", "Drug", "Ingredient"), ("LOINC", "4548-4", "Measurement", "Lab Test"),
    ("LOINC", "59261-8", "Measurement", "Lab Test"), ("LOINC", "6301-6", "Measurement", "Lab Test"),
    ("LOINC", "8310-5", "Measurement", "Clinical Observation"),
    ("UCUM", "%", "Unit", "Unit"), ("UCUM", "mmol/mol", "Unit", "Unit"), ("UCUM", "{INR}", "Unit", "Unit"), ("UCUM", "Cel", "Unit", "Unit"),
)
#: Custom concepts (vocabulary "HIPKG Synthetic"): (code, name, domain, the code they "Map to", or None).
CUSTOM = (
    ("HIP-OA", "hip osteoarthritis (site code)", "Condition", ("SNOMED", "239872002")),
    ("INJ-IA-CS", "intra-articular hip injection, corticosteroid", "Procedure", None),
    ("INJ-TB-CS", "trochanteric bursa injection, corticosteroid", "Procedure", None),
)
FIRST_ID = 2_000_000_001
PREFIX = {"ICD10CM": "ICD10CM", "SNOMED": "SNOMEDCT", "RxNorm": "RXNORM", "LOINC": "LOINC"}
#: The tables written, with their columns (CDM v5.4 names; the columns hipkg does not read are left out, except the
#: required type concept ids, written as 0: "No matching concept").
COLUMNS = {
    "person": ("person_id", "gender_concept_id", "year_of_birth", "race_concept_id", "ethnicity_concept_id"),
    "condition_occurrence": ("condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date",
                             "condition_end_date", "condition_type_concept_id", "condition_source_value", "condition_source_concept_id"),
    "drug_exposure": ("drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date",
                      "drug_type_concept_id", "drug_source_concept_id"),
    "measurement": ("measurement_id", "person_id", "measurement_concept_id", "measurement_date", "measurement_type_concept_id",
                    "value_as_number", "unit_concept_id", "unit_source_value", "measurement_source_concept_id"),
    "observation": ("observation_id", "person_id", "observation_concept_id", "observation_date", "observation_type_concept_id",
                    "observation_source_concept_id"),
    "procedure_occurrence": ("procedure_occurrence_id", "person_id", "procedure_concept_id", "procedure_date",
                             "procedure_type_concept_id", "procedure_source_concept_id"),
    "concept": ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept", "concept_code",
                "valid_start_date", "valid_end_date", "invalid_reason"),
    "concept_relationship": ("concept_id_1", "concept_id_2", "relationship_id", "valid_start_date", "valid_end_date", "invalid_reason"),
}
_TEXT = {"condition_source_value", "unit_source_value", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
         "standard_concept", "concept_code", "invalid_reason", "relationship_id"}
_DATES = {"condition_start_date", "condition_end_date", "drug_exposure_start_date", "drug_exposure_end_date", "measurement_date",
          "observation_date", "procedure_date", "valid_start_date", "valid_end_date"}


class _Cdm:
    """The rows of every table, and the situation of every person, as they are made."""

    def __init__(self, date: datetime.date, seed: int) -> None:
        self.date, self.rng = date, random.Random(seed)
        self.rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in COLUMNS}
        self.ids = {code: FIRST_ID + i for i, (_, code, _, _) in enumerate(CODES)}
        self.ids.update({code: FIRST_ID + len(CODES) + i for i, (code, *_) in enumerate(CUSTOM)})
        self.vocab = {code: vocab for vocab, code, _, _ in CODES}
        self.next = {t: 1 for t in COLUMNS}
        self._concepts()

    def _concepts(self) -> None:
        start, end = datetime.date(1970, 1, 1), datetime.date(2099, 12, 31)
        for vocab, code, domain, klass in CODES:
            self.rows["concept"].append((self.ids[code], f"{vocab} {code}", domain, vocab, klass, "S", code, start, end, None))
        for code, name, domain, maps in CUSTOM:
            self.rows["concept"].append((self.ids[code], name, domain, "HIPKG Synthetic", "Custom", None, code, start, end, None))
            if maps is not None:
                self.rows["concept_relationship"].append((self.ids[code], self.ids[maps[1]], "Maps to", start, end, None))

    def _id(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table] - 1

    def ago(self, low: int, high: int) -> datetime.date:
        return self.date - datetime.timedelta(days=self.rng.randint(low, high))

    def person(self, pid: int) -> dict[str, Any]:
        rng, s = self.rng, {"case": str(pid), "date": self.date.isoformat(), "findings": [], "medications": [],
                            "observations": [], "procedures": [], "injections": []}
        self.rows["person"].append((pid, 0, rng.randint(1930, 1990), 0, 0))
        profile = rng.random()
        if profile < 0.45:  # hip osteoarthritis, a tenth of it recorded by a site code that "Maps to" SNOMED
            code = rng.choice(("M16.11", "M16.12", "239872002"))
            self.condition(pid, s, code, mapped=code == "239872002" and rng.random() < 0.3)
        elif profile < 0.6:
            self.condition(pid, s, rng.choice(("M70.61", "M70.71")))
        elif profile < 0.7:  # only codes the graph does not use
            self.condition(pid, s, rng.choice(("I10", "J45.909")))
        elif profile < 0.8:  # an infection, half of the time with hip osteoarthritis
            self.condition(pid, s, rng.choice(("L03.90", "A41.9")))
            if rng.random() < 0.5:
                self.condition(pid, s, "M16.11")
        else:
            self.condition(pid, s, rng.choice(("M16.11", "M70.61")))
            self.condition(pid, s, "R50.9", recent=True)
            self.measure(pid, s, "8310-5", "Cel", round(rng.uniform(36.5, 39.5), 1), series=1)
        if rng.random() < 0.35:
            self.condition(pid, s, "E11.9")
            if rng.random() < 0.8:
                unit = rng.choice(("%", "mmol/mol"))
                self.measure(pid, s, "4548-4" if unit == "%" else "59261-8", unit,
                             round(rng.uniform(5.5, 11.0), 1) if unit == "%" else float(rng.randint(37, 97)), series=rng.randint(1, 3))
        if rng.random() < 0.2:
            self.drug(pid, s, "11289")
            self.condition(pid, s, "Z79.01", table="observation")
            if rng.random() < 0.5:
                self.measure(pid, s, "6301-6", "{INR}", round(rng.uniform(1.0, 4.0), 1), series=rng.randint(1, 2))
        elif rng.random() < 0.05:  # warfarin stopped before the reference date: not a current medication
            self.row("drug_exposure", pid, self.ids["11289"], self.ago(200, 400), self.ago(100, 199), 0, 0)
        if rng.random() < 0.1:
            day = self.ago(20, 2000)
            self.row("procedure_occurrence", pid, self.ids["52734007"], day, 0, 0)
            s["procedures"].append({"code": "SNOMEDCT:52734007", "date": day.isoformat()})
            if rng.random() < 0.5:
                self.condition(pid, s, "Z96.641", table="observation")
        if rng.random() < 0.15:
            code, target = rng.choice((("INJ-IA-CS", "intra-articular"), ("INJ-TB-CS", "trochanteric-bursa")))
            day = self.ago(10, 400)
            self.row("procedure_occurrence", pid, 0, day, 0, self.ids[code])
            s["injections"].append({"date": day.isoformat(), "target": target, "medications": ["corticosteroid"]})
        if rng.random() < 0.1:  # a condition that ended before the reference date, and one recorded after it
            self.row("condition_occurrence", pid, self.ids["L03.90"], self.ago(300, 600), self.ago(30, 299), 0, "", 0)
        if rng.random() < 0.05:
            self.row("condition_occurrence", pid, self.ids["A41.9"], self.date + datetime.timedelta(days=1), None, 0, "", 0)
        return {k: v for k, v in s.items() if v or k in ("case", "date", "findings")}

    def row(self, table: str, pid: int, *values: Any) -> None:
        self.rows[table].append((self._id(table), pid, *values))

    def condition(self, pid: int, s: dict[str, Any], code: str, mapped: bool = False, recent: bool = False,
                  table: str = "condition_occurrence") -> None:
        day = self.ago(0, 20) if recent else self.ago(30, 3000)
        end = None if self.rng.random() < 0.7 else self.date + datetime.timedelta(days=self.rng.randint(0, 300))
        concept, source = (0, self.ids["HIP-OA"]) if mapped else (self.ids[code], 0)
        if table == "observation":
            self.row(table, pid, concept, day, 0, source)
        else:
            self.row(table, pid, concept, day, end, 0, "HIP-OA" if mapped else code, source)
        s["findings"].append({"code": f"{PREFIX[self.vocab[code]]}:{code}", "date": day.isoformat()})

    def drug(self, pid: int, s: dict[str, Any], code: str) -> None:
        self.row("drug_exposure", pid, self.ids[code], self.ago(30, 900), self.date + datetime.timedelta(days=self.rng.randint(0, 90)), 0, 0)
        s["medications"].append(f"RXNORM:{code}")

    def measure(self, pid: int, s: dict[str, Any], code: str, unit: str, value: float, series: int) -> None:
        """``series`` values of one code, the last of them the one read; the earlier ones lower or higher at random."""
        day = self.ago(0, 60)
        for i in range(series - 1, 0, -1):
            earlier = day - datetime.timedelta(days=90 * i)
            self.row("measurement", pid, self.ids[code], earlier, 0, round(value * self.rng.uniform(0.8, 1.2), 1),
                     self.ids[unit], unit, 0)
        # the unit is given by its UCUM concept, or (a fifth of the time) only as the source wrote it
        by_concept = self.rng.random() < 0.8
        self.row("measurement", pid, self.ids[code], day, 0, value, self.ids[unit] if by_concept else 0, unit, 0)
        s["observations"].append({"code": f"LOINC:{code}", "value": value, "unit": unit, "date": day.isoformat()})


def make(persons: int, folder: str, date: str = "2026-06-30", seed: int = 18) -> dict[str, int]:
    """Write the CDM as one Parquet file per table and as ``cdm.duckdb``, and ``situations.jsonl``, to ``folder``;
    returns the number of rows per table."""
    pa = arrow()
    import pyarrow.parquet as pq  # optional (hipkg[cohort]): imported where it is used

    os.makedirs(folder, exist_ok=True)
    cdm = _Cdm(datetime.date.fromisoformat(date), seed)
    with open(os.path.join(folder, "situations.jsonl"), "w", encoding="utf-8") as out:
        for pid in range(1, persons + 1):
            out.write(json.dumps(cdm.person(pid)) + "\n")
    target = os.path.join(folder, "cdm.duckdb")
    if os.path.exists(target):
        os.unlink(target)
    con = duckdb().connect(target)
    counts = {}
    for table, columns in COLUMNS.items():
        rows = cdm.rows[table]
        types = {c: pa.date32() if c in _DATES else pa.string() if c in _TEXT else pa.float64() if c == "value_as_number" else pa.int64()
                 for c in columns}
        data = pa.table({c: pa.array([r[i] for r in rows], types[c]) for i, c in enumerate(columns)})
        pq.write_table(data, os.path.join(folder, f"{table}.parquet"))
        con.register("incoming", data)
        con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM incoming')
        con.unregister("incoming")
        counts[table] = len(rows)
    con.close()
    return counts
