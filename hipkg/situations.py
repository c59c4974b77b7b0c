"""Situations: what a user hands in (JSON, a dict, or Turtle), checked against the graph's vocabulary before anything
is queried. Errors are typed (hipkg.errors.InvalidSituation, InvalidCode) and carry both a message that names the bad
value and a public wording that does not, which is what the server replies with."""
from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from hipkg.codes import (
    ALLERGY_PREFIXES,
    FINDING_PREFIXES,
    MEDICATION_PREFIXES,
    OBSERVATION_PREFIXES,
    PROCEDURE_PREFIXES,
    Code,
    parse_code,
)
from hipkg.errors import InputError, InvalidCode, InvalidSituation, shown
from hipkg.namespaces import HIPKG, curie
from hipkg.rdfio import parse_turtle
from hipkg.vocabulary import Vocabulary

KEYS = ("date", "findings", "allergies", "medications", "observations", "procedures", "injections", "goal", "policy")
#: The keys of a finding given as an object rather than a bare code, of an observation, a procedure and an injection.
FINDING_KEYS = ("code", "certainty", "date")
OBSERVATION_KEYS = ("code", "value", "unit", "date")
PROCEDURE_KEYS = ("code", "date", "planned")
INJECTION_KEYS = ("date", "target", "medications")
#: The largest magnitude an observed value may have (anything larger is a typing error, and too big to compare safely).
MAX_VALUE = 1e9
#: Per code list: (key, accepted prefixes, an example code, required).
_CODE_LISTS = (("findings", FINDING_PREFIXES, "ICD10CM:M16.11", True), ("allergies", ALLERGY_PREFIXES, "RXNORM:6387", False),
               ("medications", MEDICATION_PREFIXES, "RXNORM:11289", False))


@dataclass(frozen=True)
class Observation:
    code: Code  # a LOINC CURIE
    value: float
    unit: str  # UCUM
    date: str | None = None


@dataclass(frozen=True)
class Procedure:
    code: Code
    date: str | None = None
    planned: bool = False


@dataclass(frozen=True)
class Injection:
    date: str
    target: str  # a target slug
    medications: tuple[str, ...] = ()  # medication category slugs


@dataclass(frozen=True)
class Situation:
    """``findings`` are the confirmed ones; ``suspected`` and ``absent`` hold findings of those certainties; ``dates``
    (code, ISO date) the findings' dates; ``date`` the reference date (None: the current date, read when answered)."""

    findings: tuple[Code, ...]
    allergies: tuple[Code, ...] = ()
    goal: str = "therapeutic"
    suspected: tuple[Code, ...] = ()
    absent: tuple[Code, ...] = ()
    dates: tuple[tuple[str, str], ...] = ()
    date: str | None = None
    medications: tuple[Code, ...] = ()
    observations: tuple[Observation, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    injections: tuple[Injection, ...] = ()
    policy: str = "source"
    #: How the situation was read from FHIR input (hipkg.fhir_in.Reading): what was left out and why. Not part of the
    #: situation's content (its triples, its shapes): it travels to the answer, which lists it under "read".
    reading: Any = field(default=None, compare=False)

    def by_certainty(self) -> dict[str, tuple[Code, ...]]:
        return {"confirmed": self.findings, "suspected": self.suspected, "absent": self.absent}

    def triples(self, node: URIRef, goal: URIRef | None = None, vocabulary: Vocabulary | None = None) -> list[tuple[URIRef, URIRef, Any]]:
        """The situation as RDF (hipkg:Situation with normalised codes by certainty, and the goal's purpose IRI when
        given); ``vocabulary`` gives the property that holds each certainty's codes and the IRIs of injection targets
        and medication categories (without it, hipkg's own property names are used and injections name none). Events
        are nodes named after the situation (NODE/observation/1, ...), never blank nodes: the store holds them only
        while they are answered."""
        out: list[tuple[URIRef, URIRef, Any]] = [(node, RDF.type, HIPKG.Situation)]
        out += [(node, HIPKG.findingCode, _literal(c.curie)) for c in self.findings]
        for slug, codes in (("suspected", self.suspected), ("absent", self.absent)):
            if codes:
                prop = vocabulary.certainty[slug].property if vocabulary else HIPKG[f"{slug}Code"]
                out += [(node, prop, _literal(c.curie)) for c in codes]
        out += [(node, HIPKG.allergyCode, _literal(c.curie)) for c in self.allergies]
        out += [(node, HIPKG.findingDate, _literal(f"{code} {day}")) for code, day in self.dates]
        out += [(node, HIPKG.medicationCode, _literal(c.curie)) for c in self.medications]
        for i, o in enumerate(self.observations, start=1):
            event = URIRef(f"{node}/observation/{i}")
            out += [(node, HIPKG.observation, event), (event, RDF.type, HIPKG.Observation), (event, HIPKG.code, _literal(o.code.curie)),
                    (event, HIPKG.value, _literal(repr(o.value), XSD.decimal) if "e" not in repr(o.value) else Literal(o.value)),
                    (event, HIPKG.unitCode, _literal(o.unit))]
            if o.date:
                out.append((event, HIPKG.date, _literal(o.date, XSD.date)))
        for i, p in enumerate(self.procedures, start=1):
            event = URIRef(f"{node}/procedure/{i}")
            out += [(node, HIPKG.procedure, event), (event, RDF.type, HIPKG.ProcedureEvent), (event, HIPKG.code, _literal(p.code.curie)),
                    (event, HIPKG.planned, _literal("true" if p.planned else "false", XSD.boolean))]
            if p.date:
                out.append((event, HIPKG.date, _literal(p.date, XSD.date)))
        targets = dict(vocabulary.targets) if vocabulary else {}
        categories = dict(vocabulary.categories) if vocabulary else {}
        for i, j in enumerate(self.injections, start=1):
            event = URIRef(f"{node}/injection/{i}")
            out += [(node, HIPKG.injection, event), (event, RDF.type, HIPKG.InjectionEvent), (event, HIPKG.date, _literal(j.date, XSD.date))]
            if j.target in targets:
                out.append((event, HIPKG.injectionTarget, targets[j.target]))
            out += [(event, HIPKG.medicationCategory, categories[m]) for m in j.medications if m in categories]
        out.append((node, HIPKG.referenceDate, _literal(self.date or datetime.date.today().isoformat(), XSD.date)))
        if goal is not None:
            out.append((node, HIPKG.goal, goal))
        if vocabulary is not None and self.policy in vocabulary.policy:
            out.append((node, HIPKG.policy, vocabulary.policy[self.policy]))
        return out

    def to_graph(self, node: URIRef = URIRef("urn:hipkg:situation"), goal: URIRef | None = None,
                 vocabulary: Vocabulary | None = None) -> Graph:
        """The situation as an rdflib Graph, e.g. for SHACL validation or a Turtle file (``vocabulary`` names the
        targets and medication categories of earlier injections by IRI)."""
        g = Graph()
        g.bind("hipkg", HIPKG)
        for triple in self.triples(node, goal, vocabulary=vocabulary):
            g.add(triple)
        return g


@functools.lru_cache(maxsize=65536)
def _literal(lexical: str, datatype: URIRef | None = None) -> Literal:
    """A situation's literal, made once per lexical form and datatype: a batch's codes, units and dates repeat across
    its situations, and rdflib parses a date's or a decimal's value each time it makes one (13.5 and 11.9 us). Measured
    on synthetic persons with dated events, warm: Situation.triples 156 -> 100 us each."""
    return Literal(lexical, datatype=datatype)


#: The most entries a situation's list (findings, allergies, medications, observations, procedures, injections) may
#: hold, unless the caller says otherwise (``hipkg recommend --max-codes``; the server allows 50).
MAX_ENTRIES = 1000
#: The largest situation file ``read`` takes (``hipkg recommend --max-bytes``): 10 MiB.
MAX_SITUATION_BYTES = 10 << 20


def from_dict(vocabulary: Vocabulary, data: Any, where: str = "situation", max_codes: int = MAX_ENTRIES,
              findings_required: bool = True) -> Situation:
    """Check and normalise a situation; ``max_codes`` caps each list (MAX_ENTRIES; the server sets fewer). A user's
    situation needs a finding; a cohort's person (hipkg.omop) may have none, and is answered all the same."""
    if not isinstance(data, dict):
        raise InvalidSituation(f"{where}: expected a JSON object with keys {', '.join(KEYS)}, got {type(data).__name__}",
                               f"expected a JSON object with keys {', '.join(KEYS)}")
    unknown = sorted((k for k in data if k not in KEYS), key=str)
    if unknown:
        raise InvalidSituation(f"{where}: unknown key {shown(unknown[0])}; expected only {', '.join(KEYS)}",
                               f"unknown key in the situation; expected only {', '.join(KEYS)}", field=str(unknown[0]))
    today = _date(data["date"], where, "date", None, None) if "date" in data else None
    lists: dict[str, list[tuple[Code, str, str | None]]] = {}
    for key, prefixes, example, required in _CODE_LISTS:
        required = required and findings_required
        items = data.get(key, None if required else [])
        if not isinstance(items, list) or (required and not items):
            need = "a non-empty list" if required else "a list"
            raise InvalidSituation(f"{where}: '{key}' must be {need} of codes such as \"{example}\" (got {shown(items)})",
                                   f"'{key}' must be {need} of codes such as \"{example}\"", field=key)
        if len(items) > max_codes:
            raise InvalidSituation(f"{where}: '{key}' has {len(items):,} codes, more than the {max_codes:,} allowed (--max-codes)",
                                   f"'{key}' has more than {max_codes} codes", field=key)
        lists[key] = [_item(vocabulary, item, prefixes, example, where, key, i, today) for i, item in enumerate(items)]
    observations = tuple(_observation(vocabulary, item, where, i, today) for i, item in enumerate(_list(data, "observations", where, max_codes)))
    procedures = tuple(_procedure(item, where, i, today) for i, item in enumerate(_list(data, "procedures", where, max_codes)))
    injections = tuple(_injection(vocabulary, item, where, i, today) for i, item in enumerate(_list(data, "injections", where, max_codes)))
    findings: dict[str, list[Code]] = {slug: [] for slug in ("confirmed", "suspected", "absent")}
    dates: dict[str, str] = {}
    for code, certainty, day in lists["findings"]:
        findings[certainty].append(code)
        if day is not None:
            dates.setdefault(code.curie, day)
    goal = data.get("goal", vocabulary.default_goal)
    if not isinstance(goal, str) or goal not in vocabulary.purposes:
        expected = ", ".join(sorted(vocabulary.purposes))
        raise InvalidSituation(f"{where}: unknown goal {shown(goal)}; expected one of {expected}",
                               f"unknown goal; expected one of {expected}", field="goal")
    policy = _policy(vocabulary, data.get("policy", vocabulary.default_policy), where)
    return Situation(findings=_unique(findings["confirmed"]), allergies=_unique(c for c, _, _ in lists["allergies"]), goal=goal, policy=policy,
                     suspected=_unique(findings["suspected"]), absent=_unique(findings["absent"]),
                     dates=tuple(sorted(dates.items())), date=today.isoformat() if today else None,
                     medications=_unique(c for c, _, _ in lists["medications"]), observations=observations,
                     procedures=procedures, injections=injections)


def _refuse(where: str, field: str, index: int | None, problem: str, value: Any = None) -> InvalidSituation:
    place = f"{field}[{index}]" if index is not None else field
    shown_value = f" {shown(value)}" if value is not None else ""
    return InvalidSituation(f"{where}: {place}{shown_value} is {problem}", f"{place} is {problem}", field=field, index=index, problem=problem)


def _list(data: dict[str, Any], key: str, where: str, max_items: int) -> list[Any]:
    items = data.get(key, [])
    if not isinstance(items, list):
        raise InvalidSituation(f"{where}: '{key}' must be a list of objects (got {shown(items)})", f"'{key}' must be a list of objects", field=key)
    if len(items) > max_items:
        raise InvalidSituation(f"{where}: '{key}' has {len(items):,} items, more than the {max_items:,} allowed (--max-codes)",
                               f"'{key}' has more than {max_items} items", field=key)
    return items


def _object(item: Any, keys: tuple[str, ...], required: tuple[str, ...], where: str, field: str, index: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _refuse(where, field, index, f"not an object; expected keys {', '.join(keys)}", item)
    unknown = sorted((k for k in item if k not in keys), key=str)
    missing = [k for k in required if k not in item]
    if unknown or missing:
        what = f"unknown key {shown(unknown[0])}" if unknown else f"no {missing[0]!r}"
        raise _refuse(where, field, index, f"an object with {what}; expected keys {', '.join(keys)} ({', '.join(required)} required)")
    return item


def _observation(vocabulary: Vocabulary, item: Any, where: str, index: int, today: datetime.date | None) -> Observation:
    """A LOINC code, a number and a UCUM unit the graph accepts for that code (any well-formed LOINC the graph does
    not use is kept, to be listed as unrecognized), and an optional date."""
    item = _object(item, OBSERVATION_KEYS, ("code", "value", "unit"), where, "observations", index)
    code = _code(item["code"], OBSERVATION_PREFIXES, "LOINC:4548-4", where, "observations", index)
    value = item["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) <= MAX_VALUE:
        raise _refuse(where, "observations", index, f"not a usable value; expected a number of magnitude at most {MAX_VALUE:g}", value)
    unit = item["unit"]
    accepted = vocabulary.observation_units.get(code.curie)
    if not isinstance(unit, str) or (accepted is not None and unit not in accepted):
        expected = f"one of {', '.join(accepted)} (UCUM) for {code.curie}" if accepted else "a UCUM unit code"
        raise _refuse(where, "observations", index, f"in an unknown unit; expected {expected}", unit)
    day = _date(item["date"], where, f"observations[{index}].date", today, index) if "date" in item else None
    return Observation(code, float(value), unit, day.isoformat() if day else None)


def _procedure(item: Any, where: str, index: int, today: datetime.date | None) -> Procedure:
    """A procedure code with an optional date; ``planned`` true for a future one (its date may not be in the past)."""
    item = _object(item, PROCEDURE_KEYS, ("code",), where, "procedures", index)
    code = _code(item["code"], PROCEDURE_PREFIXES, "SNOMEDCT:52734007", where, "procedures", index)
    planned = item.get("planned", False)
    if not isinstance(planned, bool):
        raise _refuse(where, "procedures", index, "given a 'planned' that is not true or false", planned)
    day = None
    if "date" in item:
        day = _date(item["date"], where, f"procedures[{index}].date", None if planned else today, None if planned else index)
        if planned and day < (today or datetime.date.today()):
            raise _refuse(where, "procedures", index, "planned for a date before the reference date; a planned procedure is in the future", item["date"])
    return Procedure(code, day.isoformat() if day else None, planned)


def _injection(vocabulary: Vocabulary, item: Any, where: str, index: int, today: datetime.date | None) -> Injection:
    """An earlier injection: its date (required), target and medication categories, by the graph's slugs."""
    item = _object(item, INJECTION_KEYS, ("date", "target"), where, "injections", index)
    day = _date(item["date"], where, f"injections[{index}].date", today, index)
    targets = dict(vocabulary.targets)
    if item["target"] not in targets:
        raise _refuse(where, "injections", index, f"of an unknown target; expected one of {', '.join(sorted(targets))}", item["target"])
    medications = item.get("medications", [])
    categories = dict(vocabulary.categories)
    if not isinstance(medications, list) or any(m not in categories for m in medications):
        raise _refuse(where, "injections", index, f"given unknown medications; expected a list of {', '.join(sorted(categories))}", medications)
    return Injection(day.isoformat(), item["target"], tuple(dict.fromkeys(medications)))


def _item(vocabulary: Vocabulary, item: Any, prefixes: dict[str, str], example: str, where: str, key: str, index: int,
          today: datetime.date | None) -> tuple[Code, str, str | None]:
    """One finding or allergy: a bare code (confirmed, no date), or, for findings, {"code", "certainty", "date"}."""
    if key != "findings" or not isinstance(item, dict):
        return _code(item, prefixes, example, where, key, index, vocabulary), "confirmed", None
    unknown = sorted((k for k in item if k not in FINDING_KEYS), key=str)
    if unknown or "code" not in item:
        what = f"unknown key {shown(unknown[0])}" if unknown else "no 'code'"
        problem = f"a finding object with {what}; expected keys {', '.join(FINDING_KEYS)} (code required)"
        raise InvalidSituation(f"{where}: {key}[{index}] is {problem}", f"{key}[{index}] is {problem}", field=key, index=index, problem=problem)
    certainty = item.get("certainty", "confirmed")
    if not isinstance(certainty, str) or certainty not in vocabulary.certainty:
        expected = ", ".join(sorted(vocabulary.certainty))
        problem = f"of unknown certainty; expected one of {expected}"
        raise InvalidSituation(f"{where}: {key}[{index}] certainty {shown(certainty)}: expected one of {expected}",
                               f"{key}[{index}] is {problem}", field=key, index=index, problem=problem)
    day = _date(item["date"], where, f"{key}[{index}].date", today, index) if "date" in item else None
    return _code(item["code"], prefixes, example, where, key, index, vocabulary), certainty, day.isoformat() if day else None


def _date(value: Any, where: str, field: str, today: datetime.date | None, index: int | None) -> datetime.date:
    """An ISO date (YYYY-MM-DD); a finding's date may not be after the reference date (or today when none is given)."""
    try:
        day = datetime.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        problem = "not a date; expected YYYY-MM-DD, such as 2026-11-30"
        raise InvalidSituation(f"{where}: {field} {shown(value)} is {problem}", f"{field} is {problem}", field=field, index=index, problem=problem)
    limit = today if today is not None else (datetime.date.today() if index is not None else None)
    if limit is not None and day > limit:
        problem = f"after the reference date {limit.isoformat()}; a finding's date is when it was made"
        raise InvalidSituation(f"{where}: {field} {shown(value)} is {problem}", f"{field} is {problem}", field=field, index=index, problem=problem)
    return day


#: What a finding, allergy or medication given by name is looked up as (Vocabulary.named).
_NAMED = {"findings": "finding", "allergies": "substance", "medications": "substance"}


def _code(item: Any, prefixes: dict[str, str], example: str, where: str, key: str, index: int,
          vocabulary: Vocabulary | None = None) -> Code:
    """A CURIE; or (findings, allergies, medications) a bare ICD-10-CM code (findings) or the name of one concept."""
    try:
        return parse_code(item, prefixes, f"{where}: {key}")
    except InvalidCode as exc:
        if vocabulary is not None and key in _NAMED and exc.reason in ("curie", "prefix", "syntax") and isinstance(item, str):
            found = _by_name(vocabulary, item, prefixes, where, key, index)
            if found is not None:
                return found
            if exc.reason == "curie":
                what = "condition" if key == "findings" else "medication or medication class"
                bare = ", a bare ICD-10-CM code such as M16.11" if key == "findings" else ""
                problem = f"neither a code (PREFIX:CODE such as \"{example}\"){bare} nor the name of a {what} in the graph"
                raise InvalidSituation(f"{where}: {key}[{index}] {shown(item)} is {problem}", f"{key}[{index}] is {problem}",
                                       field=key, index=index, problem=problem) from None
        if exc.reason == "type":
            problem = f"not a string; expected a code such as \"{example}\""
        else:
            problem = f"not a valid code: {exc.problem}"
        raise InvalidSituation(str(exc), f"{key}[{index}] is {problem}", field=key, index=index, problem=problem) from None


def _by_name(vocabulary: Vocabulary, text: str, prefixes: dict[str, str], where: str, key: str, index: int) -> Code | None:
    """A bare ICD-10-CM code (M16.11) of a finding, or the one concept a name (label or synonym) names; None when it
    names none; several: refused with them."""
    if "ICD10CM" in prefixes.values() and ":" not in text:
        try:
            return Code(text, parse_code(f"ICD10CM:{text}", prefixes, key).curie)
        except InvalidCode:
            pass
    found = vocabulary.named(_NAMED[key], text)
    if len(found) == 1:
        return Code(text, found[0])
    if found:
        problem = f"a name of {len(found)} concepts ({', '.join(found)}); give one of them"
        raise InvalidSituation(f"{where}: {key}[{index}] {shown(text)} is {problem}", f"{key}[{index}] is {problem}",
                               field=key, index=index, problem=problem)
    return None


def _unique(codes: Any) -> tuple[Code, ...]:
    seen: dict[str, Code] = {}
    for c in codes:
        seen.setdefault(c.curie, c)
    return tuple(seen.values())


#: Reads FHIR input (a resource, a Bundle, or a list of resources) into a Situation: hipkg.fhir_in.FhirReader.situation,
#: handed down by the caller (this module is below the store the reader needs).
FhirRead = Callable[[Any, str], Situation]


def from_json(vocabulary: Vocabulary, text: str, where: str = "situation", max_codes: int = MAX_ENTRIES,
              fhir: FhirRead | None = None) -> Situation:
    """A situation from JSON text: a hipkg situation, or (``fhir`` given) FHIR R4 JSON, or NDJSON of FHIR resources."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        items = _ndjson(text) if fhir is not None else None
        if fhir is not None and items is not None:
            return fhir(items, where)
        raise InvalidSituation(f"{where}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                               f"not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    except (ValueError, RecursionError) as exc:  # a number of thousands of digits, nesting past Python's depth
        problem = "a number too long to read" if isinstance(exc, ValueError) else "nested too deeply to read"
        raise InvalidSituation(f"{where}: not usable JSON: {problem}", f"not usable JSON: {problem}") from None
    if fhir is not None and is_fhir(data):
        return fhir(data, where)
    return from_dict(vocabulary, data, where, max_codes)


def is_fhir(data: Any) -> bool:
    """A FHIR resource (a Bundle, or any other) or a list of them, rather than a hipkg situation."""
    if isinstance(data, list):
        return bool(data) and all(isinstance(d, dict) and "resourceType" in d for d in data)
    return isinstance(data, dict) and "resourceType" in data


def _ndjson(text: str) -> list[Any] | None:
    """Resources one per line (FHIR Bulk Data's NDJSON), or None when the text is not that."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    try:
        items = [json.loads(line) for line in lines]
    except json.JSONDecodeError:
        return None
    return items if is_fhir(items) else None


def _policy(vocabulary: Vocabulary, policy: Any, where: str) -> str:
    if not isinstance(policy, str) or policy not in vocabulary.policy:
        expected = ", ".join(sorted(vocabulary.policy))
        raise InvalidSituation(f"{where}: unknown policy {shown(policy)}; expected one of {expected}",
                               f"unknown policy; expected one of {expected}", field="policy")
    return policy


def with_policy(vocabulary: Vocabulary, situation: Situation, policy: Any, where: str = "situation") -> Situation:
    """The situation answered under another policy (``hipkg recommend --policy``)."""
    return replace(situation, policy=_policy(vocabulary, policy, where))


def from_graph(vocabulary: Vocabulary, graph: Graph, validate: Callable[[Graph], Any], where: str = "situation") -> Situation:
    """Read exactly one hipkg:Situation from RDF, after ``validate`` (SHACL with the situation shapes) accepts it."""
    report = validate(graph)
    if not report.conforms:
        first = report.violations()[0]
        raise InputError(f"{where}: {first.message} (focus {first.focus_node}, value {first.value})")
    nodes = sorted(set(graph.subjects(RDF.type, HIPKG.Situation)))
    if len(nodes) != 1:
        raise InputError(f"{where}: expected exactly one hipkg:Situation, found {len(nodes)}")
    node = nodes[0]
    goal = graph.value(node, HIPKG.goal)
    policy = graph.value(node, HIPKG.policy)
    properties = {"findings": HIPKG.findingCode, "suspected": HIPKG.suspectedCode, "absent": HIPKG.absentCode,
                  "dates": HIPKG.findingDate, "date": HIPKG.referenceDate, "medications": HIPKG.medicationCode,
                  "allergies": HIPKG.allergyCode}
    fields = {key: sorted(str(v) for v in graph.objects(node, prop)) for key, prop in properties.items()}
    names = {HIPKG.code: "code", HIPKG.value: "value", HIPKG.unitCode: "unit", HIPKG.date: "date", HIPKG.planned: "planned",
             HIPKG.injectionTarget: "target", HIPKG.medicationCategory: "medications"}
    events = [(kind, str(event), names[p], v)
              for kind, prop in (("observations", HIPKG.observation), ("procedures", HIPKG.procedure), ("injections", HIPKG.injection))
              for event in sorted(graph.objects(node, prop), key=str)
              for p, v in sorted(graph.predicate_objects(event)) if p in names]
    data = from_rows(vocabulary, {k: v for k, v in fields.items() if v}, events)
    if goal is not None:
        data["goal"] = vocabulary.goal_slug(goal) or curie(goal)
    if policy is not None:
        data["policy"] = vocabulary.policy_slug(policy) or curie(policy)
    return from_dict(vocabulary, data, where)


def from_rows(vocabulary: Vocabulary, fields: dict[str, list[str]], events: list[tuple[str, str, Any, Any]]) -> dict[str, Any]:
    """A situation's JSON form from its RDF: ``fields`` maps recommend/situations' ?field to its values (findings,
    suspected, absent, dates, date, medications, allergies), ``events`` holds (kind, event, property, value) rows of
    recommend/situation-events. The result goes through from_dict, so RDF is checked exactly as JSON is."""
    data: dict[str, Any] = {}
    dates = dict(item.split(" ", 1) for item in fields.get("dates", ()) if " " in item)
    if "date" in fields:
        data["date"] = fields["date"][0]
    data["findings"] = [
        {"code": code, "certainty": certainty, **({"date": dates[code]} if code in dates else {})}
        if certainty != "confirmed" or code in dates else code
        for field, certainty in (("findings", "confirmed"), ("suspected", "suspected"), ("absent", "absent"))
        for code in fields.get(field, ())
    ]
    for key in ("allergies", "medications"):
        if key in fields:
            data[key] = fields[key]
    slugs = {iri: slug for slug, iri in (*vocabulary.targets, *vocabulary.categories)}
    nodes: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, event, prop, value in events:
        node = nodes.setdefault((kind, str(event)), {})
        if prop == "medications":
            node.setdefault("medications", []).append(slugs.get(value, str(value)))
        elif prop == "target":
            node["target"] = slugs.get(value, str(value))
        else:
            plain = value.toPython() if isinstance(value, Literal) and prop in ("value", "planned") else str(value)
            node[prop] = float(plain) if prop == "value" and not isinstance(plain, (bool, str)) else plain
    for (kind, _), node in sorted(nodes.items(), key=lambda item: _event_order(item[0][1])):
        data.setdefault(kind, []).append(node)
    return data


def _event_order(event: str) -> tuple[str, int]:
    """NODE/observation/2 before NODE/observation/10: events are numbered in the order they were given."""
    head, _, number = event.rpartition("/")
    return (head, int(number)) if number.isdigit() else (event, 0)


def read(vocabulary: Vocabulary, path: str, validate: Callable[[Graph], Any], stdin_text: str | None = None,
         max_codes: int = MAX_ENTRIES, max_bytes: int = MAX_SITUATION_BYTES, fhir: FhirRead | None = None) -> Situation:
    """A situation from a .json, .ndjson or .ttl file, or '-' for standard input (JSON, or Turtle if it is not JSON);
    a file larger than ``max_bytes`` is refused before it is read. JSON that is FHIR goes to ``fhir``."""
    if path == "-":
        text = stdin_text if stdin_text is not None else ""
        if len(text) > max_bytes:
            raise InputError(f"<stdin>: the situation is more than {max_bytes:,} bytes (--max-bytes)")
        if text.lstrip().startswith(("{", "[")):
            return from_json(vocabulary, text, "<stdin>", max_codes, fhir)
        return from_graph(vocabulary, parse_turtle(text, "<stdin>"), validate, "<stdin>")
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise InputError(f"{path}: the situation file is {size:,} bytes, more than the {max_bytes:,} allowed (--max-bytes)")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read situation file ({getattr(exc, 'strerror', None) or exc})") from exc
    if p.suffix.lower() in (".json", ".ndjson"):
        return from_json(vocabulary, text, path, max_codes, fhir)
    if p.suffix.lower() in (".ttl", ".turtle"):
        return from_graph(vocabulary, parse_turtle(text, path), validate, path)
    raise InputError(f"{path}: unknown situation format {p.suffix or '(no suffix)'!r}; expected .json, .ndjson (FHIR resources) or .ttl")
