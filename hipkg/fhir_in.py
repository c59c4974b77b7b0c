"""Situations from FHIR R4: a Bundle (any type) or resources one per line (NDJSON), read into a version-2 situation,
with what was left out and why.

Each resource is checked with fhir.resources' R4B models (R4B keeps R4's Condition, AllergyIntolerance, Observation,
Procedure, ServiceRequest, MedicationStatement and MedicationRequest), so a malformed one is refused with its id and
the element at fault. What counts is the graph's: which status codes make a resource count, and as what certainty
(queries/fhir/readings.rq); which code systems are read (hipkg.codes.FHIR_SYSTEMS); which names say that a procedure
was a hip injection and into which target (queries/fhir/names.rq). Nothing given is dropped silently: a resource not
read is listed under ``ignored`` with the reason, a coding in a system hipkg does not read under ``unrecognized``.
"""
from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable

from hipkg.codes import ALLERGY_PREFIXES, FHIR_SYSTEMS, FINDING_PREFIXES, MEDICATION_PREFIXES, OBSERVATION_PREFIXES, PROCEDURE_PREFIXES, parse_code
from hipkg.errors import InvalidCode, InvalidFhir
from hipkg import situations
from hipkg.situations import Situation
from hipkg.store import Store

#: What the README says hipkg reads.
FORMAT = "FHIR R4 (checked with the fhir.resources R4B models)"

_BY_URL = {system.url: prefix for prefix, system in FHIR_SYSTEMS.items()}


@dataclass(frozen=True)
class Ignored:
    resource: str  # Condition/17, or entry[3] for a resource without an id
    why: str

    def to_json(self) -> dict[str, str]:
        return {"resource": self.resource, "why": self.why}


@dataclass(frozen=True)
class Reading:
    """What was read: the situation (as JSON), the resources left out with the reason, the codings in systems hipkg
    does not read (``system|code``), how many resources there were and where the reference date came from."""

    situation: dict[str, Any]
    ignored: tuple[Ignored, ...] = ()
    unrecognized: tuple[str, ...] = ()
    resources: int = 0
    date_from: str = "today"  # "given" (--date, or the situation's), "Bundle.timestamp" or "today"

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "resources": self.resources, "date_from": self.date_from,
                "ignored": [i.to_json() for i in self.ignored]}


def resource_text(resource: dict[str, Any], *names: str) -> str:
    """Every text and display under the named elements of a resource, joined: what the graph's names are matched in
    (an earlier injection's Procedure here, a draft order in hipkg.cdshooks)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            parts.extend(str(node[k]) for k in ("text", "display") if isinstance(node.get(k), str))
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for name in names:
        walk(resource.get(name))
    return " | ".join(parts)


@functools.lru_cache(maxsize=None)
def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class  # on first use: pydantic models take a while to import

    return get_fhir_model_class(resource_type)


def _check(resource: dict[str, Any], ref: str, where: str) -> None:
    """Refuse a resource that is not valid FHIR R4B, naming the element at fault."""
    from pydantic import ValidationError  # with the models, on first use (start-up time)

    try:
        model = _model(str(resource["resourceType"]))
    except (KeyError, ValueError):  # fhir.resources: "X is not a valid FHIR Model"
        raise InvalidFhir(where, ref, "resourceType", f"{str(resource['resourceType'])[:60]!r} is not a FHIR R4 resource type") from None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        element = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in first["loc"]).replace(".[", "[")
        raise InvalidFhir(where, ref, element, first["msg"][:200]) from None


class FhirReader:
    """Reads FHIR for one graph: its status readings and names are read once."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @functools.cached_property
    def readings(self) -> dict[tuple[str, str, str], tuple[str, str | None, str]]:
        """(element, system, code) -> (counts or left-out, certainty slug, label) (queries/fhir/readings.rq)."""
        return {(str(e), str(s), str(c)): (str(r), str(cert) if cert is not None else None, str(label))
                for e, c, s, r, cert, label in self.store.query("fhir/readings").rows}

    @functools.cached_property
    def names(self) -> dict[str, list[tuple[re.Pattern[str], str]]]:
        """kind (target, category, guidance) -> (a name as a whole-word pattern, slug), longest name first."""
        out: dict[str, list[tuple[str, str]]] = {}
        for kind, slug, name in self.store.query("fhir/names").rows:
            out.setdefault(str(kind), []).append((str(name), str(slug)))
        return {kind: [(re.compile(rf"(?<![\w-]){re.escape(n)}(?![\w-])"), s) for n, s in sorted(v, key=lambda x: -len(x[0]))]
                for kind, v in out.items()}

    def named(self, kind: str, text: str) -> list[str]:
        """The slugs of ``kind`` that ``text`` names (lower-cased, whole words), in the order of the graph's slugs."""
        low = text.lower()
        return sorted({slug for pattern, slug in self.names.get(kind, ()) if pattern.search(low)})

    def read(self, data: Any, where: str = "FHIR input", date: str | None = None) -> Reading:
        """A Bundle, a resource, or a list of resources -> the situation they describe as of ``date`` (else the
        Bundle's timestamp, else today)."""
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            _check({k: v for k, v in data.items() if k != "entry"}, "Bundle", where)
            entries = data.get("entry") or []
            resources = [e.get("resource") if isinstance(e, dict) else None for e in entries]
            urls = [e.get("fullUrl") if isinstance(e, dict) else None for e in entries]
            stamp = data.get("timestamp")
        else:
            resources, stamp = (data if isinstance(data, list) else [data]), None
            urls = [None] * len(resources)
        date_from = "given" if date else "Bundle.timestamp" if stamp else "today"
        day = date or (str(stamp)[:10] if stamp else None)
        today = datetime.date.fromisoformat(day) if day else datetime.date.today()
        reader = _Read(self, where, today)
        refs = []
        for i, resource in enumerate(resources):
            if not isinstance(resource, dict):
                raise InvalidFhir(where, f"entry[{i}]", "resource", "expected a resource in every entry")
            ref = f"{resource.get('resourceType')}/{resource['id']}" if resource.get("id") else f"entry[{i}]"
            _check(resource, ref, where)
            refs.append((ref, resource))
        for (ref, r), url in zip(refs, urls):
            if r["resourceType"] == "Medication":  # referred to as Medication/id or by the entry's fullUrl
                reader.medications[ref] = r
                if url:
                    reader.aliases[str(url)] = ref
        for ref, resource in refs:
            reader.resource(ref, resource)
        situation = reader.situation()
        if day:
            situation["date"] = day
        return Reading(situation, tuple(reader.ignored), tuple(dict.fromkeys(reader.unrecognized)), len(refs), date_from)

    def situation(self, data: Any, where: str = "FHIR input", date: str | None = None) -> Situation:
        """The Situation FHIR input describes, carrying its Reading (what was left out) to the answer."""
        return self.from_reading(self.read(data, where, date), where)

    def from_reading(self, reading: Reading, where: str = "FHIR input") -> Situation:
        """The Situation of a Reading, carrying it (what was left out) to the answer."""
        return replace(situations.from_dict(self.store.vocabulary, reading.situation, where), reading=reading)


class _Read:
    """One reading in progress: what the resources said so far."""

    _CERTAINTY_ORDER = ("confirmed", "suspected", "absent")  # a code confirmed anywhere is confirmed

    def __init__(self, reader: FhirReader, where: str, today: datetime.date) -> None:
        self.reader, self.where, self.today = reader, where, today
        self.findings: dict[str, tuple[str, str | None, str]] = {}  # code -> (certainty, date, resource)
        self.allergies: list[str] = []
        self.medications_taken: list[str] = []
        self.observations: list[dict[str, Any]] = []
        self.procedures: list[dict[str, Any]] = []
        self.injections: list[dict[str, Any]] = []
        self.ignored: list[Ignored] = []
        self.unrecognized: list[str] = []
        self.medications: dict[str, dict[str, Any]] = {}  # Medication/id -> the resource
        self.aliases: dict[str, str] = {}  # an entry's fullUrl -> Medication/id
        self.referenced: set[str] = set()

    # ---------------------------------------------------------------- the pieces of a resource

    def status(self, ref: str, resource: dict[str, Any], element: str) -> tuple[bool, str | None]:
        """Whether the resource counts by ``element`` (absent: it counts), and the certainty it reads as."""
        name = element.split(".", 1)[1]
        value = resource.get(name)
        if value is None:
            return True, None
        pairs = [(c.get("system", ""), c.get("code", "")) for c in value.get("coding", [])] if isinstance(value, dict) else [(None, value)]
        for system, code in pairs:
            found = next((v for (e, s, c), v in self.reader.readings.items() if e == element and c == code and (system is None or s == system)), None)
            if found is not None:
                if found[0] == "left-out":
                    self.ignored.append(Ignored(ref, found[2]))
                    return False, None
                return True, found[1]
        if not isinstance(value, dict):  # a plain code outside its required value set: not valid FHIR R4
            systems = sorted({s for e, s, _ in self.reader.readings if e == element})
            raise InvalidFhir(self.where, ref, name, f"{str(value)[:40]!r} is not a code of {', '.join(systems)}")
        return True, None  # a coding of another system: it neither counts the resource out nor says more

    def codes(self, ref: str, concept: Any, element: str, prefixes: dict[str, str]) -> list[str]:
        """The CURIEs of a CodeableConcept's codings in systems hipkg reads for this field; the others are listed
        as unrecognized (system|code); a malformed code is refused."""
        out = []
        for i, coding in enumerate((concept or {}).get("coding", [])):
            system, code = coding.get("system", ""), coding.get("code", "")
            prefix = _BY_URL.get(system)
            if prefix is None or prefix not in prefixes.values() or not code:
                self.unrecognized.append(f"{system or '(no system)'}|{code}")
                continue
            try:
                out.append(parse_code(f"{prefix}:{code}", prefixes, element).curie)
            except InvalidCode as exc:
                raise InvalidFhir(self.where, ref, f"{element}.coding[{i}].code", exc.problem) from None
        return out

    def when(self, ref: str, resource: dict[str, Any], names: Iterable[str], past: bool = True) -> str | None:
        """The first of the date elements given (a dateTime, or a Period's start), as YYYY-MM-DD; a past event
        dated after the reference date is refused."""
        for name in names:
            value = resource.get(name)
            if isinstance(value, dict):
                value = value.get("start")
            if isinstance(value, str) and len(value) >= 10:
                day = value[:10]
                if past and datetime.date.fromisoformat(day) > self.today:
                    raise InvalidFhir(self.where, ref, name, f"dated {day}, after the reference date {self.today.isoformat()}")
                return day
        return None

    def text(self, resource: dict[str, Any], *names: str) -> str:
        return resource_text(resource, *names, "note")

    # ---------------------------------------------------------------- resources

    def resource(self, ref: str, r: dict[str, Any]) -> None:
        kind = r["resourceType"]
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            self.ignored.append(Ignored(ref, "Patient: hipkg's rules read no demographics" if kind == "Patient"
                                        else f"{kind}: not a resource hipkg reads"))
            return
        handler(ref, r)

    def _Condition(self, ref: str, r: dict[str, Any]) -> None:
        counts, _ = self.status(ref, r, "Condition.clinicalStatus")
        if not counts:
            return
        counts, certainty = self.status(ref, r, "Condition.verificationStatus")
        if not counts:
            return
        codes = self.codes(ref, r.get("code"), "code", FINDING_PREFIXES)
        if not codes and not (r.get("code") or {}).get("coding"):
            self.ignored.append(Ignored(ref, "no coding in code"))
            return
        day = self.when(ref, r, ("onsetDateTime", "onsetPeriod", "recordedDate"))
        for code in codes:
            self._finding(code, certainty or "confirmed", day, ref)

    def _finding(self, code: str, certainty: str, day: str | None, ref: str) -> None:
        held = self.findings.get(code)
        if held is None or self._CERTAINTY_ORDER.index(certainty) < self._CERTAINTY_ORDER.index(held[0]):
            if held is not None:
                self.ignored.append(Ignored(held[2], f"{code} is {certainty} in {ref}, which counts"))
            self.findings[code] = (certainty, day, ref)
        elif held[2] != ref:
            self.ignored.append(Ignored(ref, f"{code} is {held[0]} in {held[2]}, which counts"))

    def _AllergyIntolerance(self, ref: str, r: dict[str, Any]) -> None:
        for element in ("AllergyIntolerance.clinicalStatus", "AllergyIntolerance.verificationStatus"):
            if not self.status(ref, r, element)[0]:
                return
        codes = self.codes(ref, r.get("code"), "code", ALLERGY_PREFIXES)
        if not codes and not (r.get("code") or {}).get("coding"):
            self.ignored.append(Ignored(ref, "no coding in code"))
        self.allergies += codes

    def _Observation(self, ref: str, r: dict[str, Any]) -> None:
        if not self.status(ref, r, "Observation.status")[0]:
            return
        day = self.when(ref, r, ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"))
        if isinstance(r.get("valueCodeableConcept"), dict):  # a coded result (pregnancy status): its value is a finding
            for code in self.codes(ref, r["valueCodeableConcept"], "valueCodeableConcept", FINDING_PREFIXES):
                self._finding(code, "confirmed", day, ref)
            return
        loinc = self.codes(ref, r.get("code"), "code", OBSERVATION_PREFIXES)
        quantity = r.get("valueQuantity")
        if not loinc:
            if not (r.get("code") or {}).get("coding"):
                self.ignored.append(Ignored(ref, "no coding in code"))
            return
        if not isinstance(quantity, dict) or quantity.get("value") is None:
            self.ignored.append(Ignored(ref, "no valueQuantity with a value"))
            return
        unit = quantity.get("code") or quantity.get("unit")
        accepted = sorted(u for c, u in self.reader.store.vocabulary.units if c == loinc[0])
        if accepted and unit not in accepted:
            self.ignored.append(Ignored(ref, f"{loinc[0]} in {unit!r}: hipkg reads it in {', '.join(accepted)}"))
            return
        self.observations.append({"code": loinc[0], "value": quantity["value"], "unit": unit or "", **({"date": day} if day else {})})

    def _Procedure(self, ref: str, r: dict[str, Any]) -> None:
        if not self.status(ref, r, "Procedure.status")[0]:
            return
        day = self.when(ref, r, ("performedDateTime", "performedPeriod"))
        codes = self.codes(ref, r.get("code"), "code", PROCEDURE_PREFIXES)
        targets = self._injection(ref, r, day, "performed[x]", "code", "bodySite", "usedCode")
        self.procedures += [{"code": c, **({"date": day} if day else {})} for c in codes]
        if not codes and not targets:
            self.ignored.append(Ignored(ref, "no procedure code hipkg reads, and no injection target named"))

    def _injection(self, ref: str, r: dict[str, Any], day: str | None, when: str, *elements: str) -> list[str]:
        """An earlier hip injection, if the resource's text names an injection target: its date, targets and the
        medication categories it names (what hipkg's windows read). Returns the targets named."""
        text = self.text(r, *elements)
        targets = self.reader.named("target", text)
        if targets and day is None:
            self.ignored.append(Ignored(ref, f"an earlier injection without {when}: its date is needed"))
        elif targets:
            self.injections += [{"date": day, "target": t, "medications": self.reader.named("category", text)} for t in targets]
        return targets

    def _ServiceRequest(self, ref: str, r: dict[str, Any]) -> None:
        if r.get("status") == "completed" and self.reader.named("target", self.text(r, "code", "bodySite")):
            # a done order for a hip injection is an earlier injection, as its Procedure would be
            self._injection(ref, r, self.when(ref, r, ("occurrenceDateTime", "occurrencePeriod")), "occurrence[x]", "code", "bodySite")
            return
        for element in ("ServiceRequest.status", "ServiceRequest.intent"):
            if not self.status(ref, r, element)[0]:
                return
        if self.reader.named("target", self.text(r, "code", "bodySite")):
            self.ignored.append(Ignored(ref, "an order for a hip injection: what hipkg answers about, not a fact of the situation"))
            return
        day = self.when(ref, r, ("occurrenceDateTime", "occurrencePeriod"), past=False)
        if day is not None and datetime.date.fromisoformat(day) < self.today:
            self.ignored.append(Ignored(ref, f"planned for {day}, before the reference date"))
            return
        codes = self.codes(ref, r.get("code"), "code", PROCEDURE_PREFIXES)
        self.procedures += [{"code": c, **({"date": day} if day else {}), "planned": True} for c in codes]
        if not codes:
            self.ignored.append(Ignored(ref, "no procedure code hipkg reads"))

    def _medication(self, ref: str, r: dict[str, Any], element: str) -> None:
        if not self.status(ref, r, element)[0]:
            return
        concept = r.get("medicationCodeableConcept")
        if concept is None and isinstance(r.get("medicationReference"), dict):
            given = str(r["medicationReference"].get("reference", ""))
            target = self.aliases.get(given, given)
            medication = self.medications.get(target)
            if medication is None:
                self.ignored.append(Ignored(ref, f"medicationReference {given[:60]!r} is not in the input"))
                return
            self.referenced.add(target)
            concept = medication.get("code")
        self.medications_taken += self.codes(ref, concept, "medication", MEDICATION_PREFIXES)

    def _MedicationStatement(self, ref: str, r: dict[str, Any]) -> None:
        self._medication(ref, r, "MedicationStatement.status")

    def _MedicationRequest(self, ref: str, r: dict[str, Any]) -> None:
        self._medication(ref, r, "MedicationRequest.status")

    def _Medication(self, ref: str, r: dict[str, Any]) -> None:
        pass  # read through the statements and requests that refer to it (situation() lists the others)

    def situation(self) -> dict[str, Any]:
        for ref in self.medications:
            if ref not in self.referenced:
                self.ignored.append(Ignored(ref, "a Medication no active MedicationStatement or MedicationRequest refers to"))
        findings: list[Any] = []
        for code, (certainty, day, _) in self.findings.items():
            findings.append(code if certainty == "confirmed" and day is None else
                            {"code": code, "certainty": certainty, **({"date": day} if day else {})})
        out: dict[str, Any] = {"findings": findings}
        for key, values in (("allergies", list(dict.fromkeys(self.allergies))), ("medications", list(dict.fromkeys(self.medications_taken))),
                            ("observations", self.observations), ("procedures", self.procedures), ("injections", self.injections)):
            if values:
                out[key] = values
        return out
