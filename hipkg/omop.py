"""Situations from an OMOP CDM v5.4: one version-2 situation per person, as of a reference date.

What is read is the graph's (queries/omop/tables.rq, vocabularies.rq over ontology/kb/omop-reading.ttl): which tables
fill which situation key, their columns, which records count as of the date (ongoing, the latest of each code, any),
and which OMOP vocabularies hold codes hipkg reads. SQL is built from those names only, after they are checked against
the CDM's own columns; the reference date and every other value are bound as parameters. DuckDB reads the CDM: a
DuckDB file (``duckdb:///path``) or a folder of Parquet files, one per table. Persons are read a block at a time, so
memory stays bounded. Nothing given is dropped silently: each record not read is counted with the reason (run.json),
a code in a vocabulary hipkg does not read is listed under the answer's ``unrecognized``, and a person whose records
name no code the graph uses is answered (everything not indicated) and counted.
"""
from __future__ import annotations

import datetime
import functools
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from hipkg import situations
from hipkg.codes import FINDING_PREFIXES, MEDICATION_PREFIXES, OBSERVATION_PREFIXES, PROCEDURE_PREFIXES
from hipkg.errors import InputError, InvalidCdm, InvalidSituation, MissingExtra
from hipkg.fhir_in import FhirReader
from hipkg.situations import Situation
from hipkg.store import Store

#: What the answer's "read" block says was read.
FORMAT = "OMOP CDM v5.4"
#: The vocabulary tables and the columns hipkg reads of them (CDM v5.4 DDL).
VOCABULARY_TABLES = {"person": ("person_id",), "concept": ("concept_id", "concept_name", "vocabulary_id", "concept_code"),
                     "concept_relationship": ("concept_id_1", "concept_id_2", "relationship_id", "invalid_reason")}
#: The relationship from a source concept to its standard ones, as concept_relationship.relationship_id spells it.
MAPS_TO = "Maps to"
#: Persons per block of queries.
BLOCK = 20_000
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
#: The prefixes each situation key takes (a SNOMED code of a drug, say, is listed as unrecognized, not refused).
_ACCEPTED = {"findings": FINDING_PREFIXES, "medications": MEDICATION_PREFIXES, "observations": OBSERVATION_PREFIXES,
             "procedures": PROCEDURE_PREFIXES}


@dataclass(frozen=True)
class TableReading:
    """One row of queries/omop/tables.rq."""

    table: str
    field: str
    read_while: str
    id: str
    concept: str
    source: str
    date: str
    end: str | None = None
    value: str | None = None
    unit: str | None = None
    unit_source: str | None = None

    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.id, self.concept, self.source, self.date, self.end, self.value, self.unit, self.unit_source) if c)


@dataclass(frozen=True)
class CdmReading:
    """How a person was read: the records left out (``ignored``: (table/row id, why)) and the codes in vocabularies
    hipkg does not read (``unrecognized``: VOCABULARY|code). Travels with the situation to the answer ("read")."""

    person: str
    ignored: tuple[tuple[str, str], ...] = ()
    unrecognized: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "person": self.person, "ignored": [{"resource": r, "why": w} for r, w in self.ignored]}


@dataclass
class Counts:
    """What a cohort run read: persons, and records ignored by reason (run.json)."""

    persons: int = 0
    records: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    bad_persons: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"persons_read": self.persons, "records_read": self.records, "persons_with_bad_records": self.bad_persons,
                "records_ignored": dict(sorted(self.ignored.items()))}


def duckdb() -> Any:
    try:
        import duckdb as module  # optional (hipkg[cohort]): imported where it is used
    except ImportError:
        raise MissingExtra("reading an OMOP CDM (hipkg cohort)", "duckdb", "cohort") from None
    return module


def connect(url: str) -> Any:
    """A read-only DuckDB connection to ``duckdb:///path`` (a DuckDB file), or an in-memory one whose views are the
    Parquet files of a folder (``person.parquet``, ``concept.parquet``, ...; ``parquet://`` before the path is allowed)."""
    db = duckdb()
    if url.startswith("duckdb://"):
        path = url[len("duckdb://"):]
        if not os.path.isfile(path):
            raise InputError(f"{url}: no DuckDB file at {path!r}; expected duckdb:///PATH/TO/cdm.duckdb")
        try:
            return db.connect(path, read_only=True)
        except db.Error as exc:
            raise InputError(f"{url}: cannot open as a DuckDB database ({str(exc)[:200]})") from None
    folder = url[len("parquet://"):] if url.startswith("parquet://") else url
    if not os.path.isdir(folder):
        raise InputError(f"{url}: neither duckdb:///PATH (a DuckDB file) nor a folder of Parquet files (one per CDM table)")
    con = db.connect()
    for name in sorted(os.listdir(folder)):
        table, suffix = os.path.splitext(name)
        if suffix == ".parquet" and _IDENTIFIER.match(table):
            try:
                con.read_parquet(os.path.join(folder, name)).create_view(table)
            except db.Error as exc:
                raise InvalidCdm(table, None, f"{name} is not a readable Parquet file ({str(exc)[:200]})") from None
    return con


class OmopReader:
    """Reads persons of one CDM for one graph; the graph's table and vocabulary readings are read once."""

    def __init__(self, store: Store, con: Any, names: FhirReader | None = None) -> None:
        self.store, self.con = store, con
        self.names = names or FhirReader(store)
        self.counts = Counts()
        self.last: dict[str, Any] = {}  # the situation of the person read last, as JSON has it (hipkg.spark ships it)
        self._check()
        self.con.execute("CREATE OR REPLACE TEMP TABLE hipkg_vocabulary (vocabulary_id VARCHAR, prefix VARCHAR, units BOOLEAN)")
        self.con.executemany("INSERT INTO hipkg_vocabulary VALUES (?, ?, ?)", self.vocabularies)

    @functools.cached_property
    def tables(self) -> tuple[TableReading, ...]:
        rows = self.store.query("omop/tables").rows
        out = tuple(TableReading(*(str(v) if v is not None else None for v in row)) for row in rows)
        for t in out:
            for name in (t.table, *t.columns()):
                if not _IDENTIFIER.match(name):  # the shapes say so too; SQL is never built from anything else
                    raise InputError(f"omop/tables: {name!r} is no plain SQL identifier")
        return out

    @functools.cached_property
    def vocabularies(self) -> list[tuple[str, str | None, bool]]:
        return [(str(v), str(p) if p is not None else None, bool(u.toPython())) for v, p, u in self.store.query("omop/vocabularies").rows]

    def _check(self) -> None:
        """Every table and column hipkg reads is in the CDM, or InvalidCdm names the first that is missing."""
        have: dict[str, set[str]] = {}
        for table, column in self.con.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall():
            have.setdefault(str(table).lower(), set()).add(str(column).lower())
        needed = {**VOCABULARY_TABLES, **{t.table: (*t.columns(), "person_id") for t in self.tables}}
        for table, columns in needed.items():
            if table not in have:
                raise InvalidCdm(table, None, f"the table is missing; hipkg reads {', '.join(sorted(needed))} (CDM v5.4)")
            for column in columns:
                if column not in have[table]:
                    raise InvalidCdm(table, column, "the column is missing (CDM v5.4 names it so)")

    def persons(self, date: str, stop: bool) -> Iterator[tuple[int, Situation | str]]:
        """(person_id, situation as of ``date``, or the message of what is wrong with the person's records) for every
        person, in person_id order; with ``stop``, the first bad record raises InvalidCdm instead. Records after
        the reference date are counted, not read."""
        ids = [row[0] for row in self.con.execute("SELECT person_id FROM person ORDER BY person_id").fetchall()]
        today = datetime.date.today()
        reference = datetime.date.fromisoformat(date)
        for start in range(0, len(ids), BLOCK):
            block = ids[start:start + BLOCK]
            records: dict[Any, list[tuple[TableReading, tuple[Any, ...]]]] = {}
            bad: dict[Any, InvalidCdm] = {}
            for t in self.tables:
                for row in self._records(t, block[0], block[-1], reference):
                    records.setdefault(row[0], []).append((t, row))
                for person, rid, day in self._undated_or_future(t, block[0], block[-1], today):
                    problem = "no date" if day is None else f"{day.isoformat()} is in the future (today is {today.isoformat()})"
                    bad.setdefault(person, InvalidCdm(t.table, t.date, problem, rid, person))
                self.counts.ignored["after the reference date"] += self._count_after(t, block[0], block[-1], reference, today)
            for person in block:
                self.counts.persons += 1
                try:
                    if person in bad:
                        raise bad[person]
                    yield person, self._situation(person, records.get(person, ()), date, reference)
                except InvalidCdm as exc:
                    if stop:
                        raise
                    self.counts.bad_persons += 1
                    yield person, str(exc)

    def _records(self, t: TableReading, first: Any, last: Any, reference: datetime.date) -> list[tuple[Any, ...]]:
        """A table's records of persons ``first``..``last`` dated on or before the reference date, with the concepts
        hipkg may read of each: (person, id, date, end, value, unit id, unit text, concept id, source id, the source
        concept (vocabulary, prefix, code, name, id), the standard concept (same), the mapped one (prefix, code, name),
        the unit (code, whether UCUM, id)). A source concept with several "Maps to" gives a row for each."""
        q = lambda column: f'r."{column}"' if column else "NULL"  # noqa: E731 - a column the graph names, or none
        sql = f"""
            SELECT r.person_id, r."{t.id}", r."{t.date}", {q(t.end)}, {q(t.value)}, {q(t.unit)}, {q(t.unit_source)},
                   r."{t.concept}", r."{t.source}",
                   s.vocabulary_id, sv.prefix, s.concept_code, s.concept_name, s.concept_id,
                   c.vocabulary_id, cv.prefix, c.concept_code, c.concept_name, c.concept_id,
                   mv.prefix, m.concept_code, m.concept_name,
                   u.concept_code, uv.units, u.concept_id
            FROM "{t.table}" r
            LEFT JOIN concept s ON s.concept_id = r."{t.source}" AND r."{t.source}" <> 0
            LEFT JOIN hipkg_vocabulary sv ON sv.vocabulary_id = s.vocabulary_id AND sv.prefix IS NOT NULL
            LEFT JOIN concept c ON c.concept_id = r."{t.concept}" AND r."{t.concept}" <> 0
            LEFT JOIN hipkg_vocabulary cv ON cv.vocabulary_id = c.vocabulary_id AND cv.prefix IS NOT NULL
            LEFT JOIN concept_relationship cr ON sv.prefix IS NULL AND cv.prefix IS NULL
                 AND cr.concept_id_1 = COALESCE(s.concept_id, c.concept_id) AND cr.relationship_id = ? AND cr.invalid_reason IS NULL
            LEFT JOIN concept m ON m.concept_id = cr.concept_id_2
            LEFT JOIN hipkg_vocabulary mv ON mv.vocabulary_id = m.vocabulary_id AND mv.prefix IS NOT NULL
            LEFT JOIN concept u ON u.concept_id = {q(t.unit)} AND {q(t.unit)} <> 0
            LEFT JOIN hipkg_vocabulary uv ON uv.vocabulary_id = u.vocabulary_id AND uv.units
            WHERE r.person_id BETWEEN ? AND ? AND r."{t.date}" <= ?
            ORDER BY r.person_id, r."{t.date}", r."{t.id}", mv.prefix NULLS LAST, m.concept_code"""
        return self._fetch(t, sql, [MAPS_TO, first, last, reference])

    def _undated_or_future(self, t: TableReading, first: Any, last: Any, today: datetime.date) -> list[tuple[Any, ...]]:
        """(person, id, date) of records without a date or dated after today: bad input, whatever the reference date."""
        return self._fetch(t, f'SELECT r.person_id, r."{t.id}", r."{t.date}" FROM "{t.table}" r WHERE r.person_id BETWEEN ? AND ? '
                              f'AND (r."{t.date}" IS NULL OR r."{t.date}" > ?) ORDER BY r.person_id, r."{t.id}"', [first, last, today])

    def _count_after(self, t: TableReading, first: Any, last: Any, reference: datetime.date, today: datetime.date) -> int:
        return int(self._fetch(t, f'SELECT count(*) FROM "{t.table}" r WHERE r.person_id BETWEEN ? AND ? AND r."{t.date}" > ? '
                                  f'AND r."{t.date}" <= ?', [first, last, reference, today])[0][0])

    def _fetch(self, t: TableReading, sql: str, parameters: list[Any]) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql, parameters).fetchall()
        except duckdb().Error as exc:  # a column of the wrong type, say: name the table
            raise InvalidCdm(t.table, None, f"cannot be read ({str(exc).splitlines()[0][:200]})") from None

    def _situation(self, person: Any, records: Any, date: str, reference: datetime.date) -> Situation:
        data: dict[str, list[Any]] = {"findings": [], "medications": [], "observations": [], "procedures": [], "injections": []}
        ignored: list[tuple[str, str]] = []
        unrecognized: list[str] = []
        latest: dict[str, int] = {}  # code -> index in observations (the latest measurement of each code)
        seen_findings: dict[str, int] = {}
        previous = ""
        for t, row in records:
            (_, rid, day, end, value, unit_id, unit_text, cid, sid, s_vocab, s_prefix, s_code, s_name, s_id,
             c_vocab, c_prefix, c_code, c_name, c_id, m_prefix, m_code, m_name, u_code, u_units, u_id) = row
            ref = f"{t.table}/{rid}"
            if ref == previous:  # another "Maps to" of the same record: the first readable one was taken
                continue
            previous = ref
            self.counts.records += 1
            for column, given, found in ((t.concept, cid, c_id), (t.source, sid, s_id), (t.unit, unit_id, u_id)):
                if column and given not in (None, 0) and found is None:
                    raise InvalidCdm(t.table, column, f"concept id {given} is not in the concept table", rid, person)
            if t.read_while == "ongoing" and end is not None and end < reference:
                self._ignore(ignored, ref, "ended before the reference date")
                continue
            prefix, code, name = ((s_prefix, s_code, s_name) if s_prefix else (c_prefix, c_code, c_name) if c_prefix
                                  else (m_prefix, m_code, m_name))
            text = name or c_name or s_name or ""
            curie = f"{prefix}:{code}" if prefix and prefix.upper() in _ACCEPTED[t.field] else None
            targets = self.names.named("target", text) if t.field == "procedures" else []
            if targets:
                data["injections"] += [{"date": day.isoformat(), "target": x, "medications": self.names.named("category", text)} for x in targets]
            if curie is None:
                if targets:
                    continue
                vocab, given_code = (s_vocab, s_code) if s_vocab is not None else (c_vocab, c_code)
                if vocab is None:
                    self._ignore(ignored, ref, "no concept (concept id 0 or empty)")
                else:  # a code hipkg does not read here: listed, never dropped
                    unrecognized.append(f"{vocab}|{given_code}")
                    self.counts.ignored[f"a {t.field[:-1]} code in a vocabulary hipkg does not read there (listed as unrecognized)"] += 1
                continue
            if t.field == "findings":
                if curie in seen_findings:  # one finding per code, dated by its latest record
                    data["findings"][seen_findings[curie]]["date"] = day.isoformat()
                    continue
                seen_findings[curie] = len(data["findings"])
                data["findings"].append({"code": curie, "date": day.isoformat()})
            elif t.field == "medications":
                if curie not in data["medications"]:
                    data["medications"].append(curie)
            elif t.field == "procedures":
                data["procedures"].append({"code": curie, "date": day.isoformat()})
            else:
                unit = u_code if u_units else unit_text
                if value is None:
                    self._ignore(ignored, ref, "no value_as_number")
                    continue
                if not unit:
                    raise InvalidCdm(t.table, t.unit, "a measurement without a unit (no UCUM unit concept, no unit_source_value)", rid, person)
                accepted = self.store.vocabulary.observation_units.get(curie)
                if accepted is not None and str(unit) not in accepted:  # as hipkg.fhir_in does: left out, with the reason
                    self._ignore(ignored, ref, "a unit hipkg does not read for its code")
                    continue
                item = {"code": curie, "value": float(value), "unit": str(unit), "date": day.isoformat()}
                if curie in latest:  # rows come in date order: a later one replaces the earlier
                    self._ignore(ignored, f"{t.table}/{data['observations'][latest[curie]]['_row']}", "an earlier value of the same code")
                    data["observations"][latest[curie]] = {**item, "_row": rid}
                else:
                    latest[curie] = len(data["observations"])
                    data["observations"].append({**item, "_row": rid})
        for o in data["observations"]:
            del o["_row"]
        given = self.last = {"date": date, **{k: v for k, v in data.items() if v}}
        try:
            situation = situations.from_dict(self.store.vocabulary, given, f"OMOP CDM person {person}", findings_required=False)
        except InvalidSituation as exc:
            raise InvalidCdm("person", None, exc.public, person, person) from None
        if not (ignored or unrecognized):
            return situation
        return replace(situation, reading=CdmReading(str(person), tuple(ignored), tuple(dict.fromkeys(unrecognized))))

    def _ignore(self, ignored: list[tuple[str, str]], ref: str, why: str) -> None:
        ignored.append((ref, why))
        self.counts.ignored[why] += 1
