"""Situations: what a user hands in (JSON, a dict, or Turtle), checked against the graph's vocabulary before anything
is queried. Errors are typed (hipkg.errors.InvalidSituation, InvalidCode) and carry both a message that names the bad
value and a public wording that does not, which is what the server replies with."""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, XSD

from hipkg.codes import ALLERGY_PREFIXES, FINDING_PREFIXES, Code, parse_code
from hipkg.errors import InputError, InvalidCode, InvalidSituation, shown
from hipkg.namespaces import HIPKG, curie
from hipkg.rdfio import parse_turtle
from hipkg.vocabulary import Vocabulary

KEYS = ("date", "findings", "allergies", "goal")
#: The keys of a finding given as an object rather than a bare code.
FINDING_KEYS = ("code", "certainty", "date")
#: Per code list: (key, accepted prefixes, an example code, required).
_CODE_LISTS = (("findings", FINDING_PREFIXES, "ICD10CM:M16.11", True), ("allergies", ALLERGY_PREFIXES, "RXNORM:6387", False))


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

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [c.given for c in self.findings], "allergies": [c.given for c in self.allergies], "goal": self.goal}

    def by_certainty(self) -> dict[str, tuple[Code, ...]]:
        return {"confirmed": self.findings, "suspected": self.suspected, "absent": self.absent}

    def triples(self, node: URIRef, goal: URIRef | None = None, certainties: Any = None) -> list[tuple[URIRef, URIRef, Any]]:
        """The situation as RDF (hipkg:Situation with normalised codes by certainty, and the goal's purpose IRI when
        given); ``certainties`` maps a certainty slug to the property that holds its codes (hipkg.vocabulary)."""
        out: list[tuple[URIRef, URIRef, Any]] = [(node, RDF.type, HIPKG.Situation)]
        out += [(node, HIPKG.findingCode, Literal(c.curie)) for c in self.findings]
        for slug, codes in (("suspected", self.suspected), ("absent", self.absent)):
            if codes:
                prop = certainties[slug].property if certainties else HIPKG[f"{slug}Code"]
                out += [(node, prop, Literal(c.curie)) for c in codes]
        out += [(node, HIPKG.allergyCode, Literal(c.curie)) for c in self.allergies]
        out += [(node, HIPKG.findingDate, Literal(f"{code} {day}")) for code, day in self.dates]
        if self.date is not None:
            out.append((node, HIPKG.referenceDate, Literal(self.date, datatype=XSD.date)))
        if goal is not None:
            out.append((node, HIPKG.goal, goal))
        return out

    def to_graph(self, node: URIRef = URIRef("urn:hipkg:situation"), goal: URIRef | None = None) -> Graph:
        """The situation as an rdflib Graph, e.g. for SHACL validation or a Turtle file."""
        g = Graph()
        g.bind("hipkg", HIPKG)
        for triple in self.triples(node, goal):
            g.add(triple)
        return g


def from_dict(vocabulary: Vocabulary, data: Any, where: str = "situation", max_codes: int | None = None) -> Situation:
    """Check and normalise a situation; ``max_codes`` caps each code list (the server sets it)."""
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
        items = data.get(key, None if required else [])
        if not isinstance(items, list) or (required and not items):
            need = "a non-empty list" if required else "a list"
            raise InvalidSituation(f"{where}: '{key}' must be {need} of codes such as \"{example}\" (got {shown(items)})",
                                   f"'{key}' must be {need} of codes such as \"{example}\"", field=key)
        if max_codes is not None and len(items) > max_codes:
            raise InvalidSituation(f"{where}: '{key}' has more than {max_codes} codes", f"'{key}' has more than {max_codes} codes", field=key)
        lists[key] = [_item(vocabulary, item, prefixes, example, where, key, i, today) for i, item in enumerate(items)]
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
    return Situation(findings=_unique(findings["confirmed"]), allergies=_unique(c for c, _, _ in lists["allergies"]), goal=goal,
                     suspected=_unique(findings["suspected"]), absent=_unique(findings["absent"]),
                     dates=tuple(sorted(dates.items())), date=today.isoformat() if today else None)


def _item(vocabulary: Vocabulary, item: Any, prefixes: dict[str, str], example: str, where: str, key: str, index: int,
          today: datetime.date | None) -> tuple[Code, str, str | None]:
    """One finding or allergy: a bare code (confirmed, no date), or, for findings, {"code", "certainty", "date"}."""
    if key != "findings" or not isinstance(item, dict):
        return _code(item, prefixes, example, where, key, index), "confirmed", None
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
    return _code(item["code"], prefixes, example, where, key, index), certainty, day.isoformat() if day else None


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


def _code(item: Any, prefixes: dict[str, str], example: str, where: str, key: str, index: int) -> Code:
    try:
        return parse_code(item, prefixes, f"{where}: {key}")
    except InvalidCode as exc:
        if exc.reason == "type":
            problem = f"not a string; expected a code such as \"{example}\""
        else:
            problem = f"not a valid code: {exc.problem}"
        raise InvalidSituation(str(exc), f"{key}[{index}] is {problem}", field=key, index=index, problem=problem) from None


def _unique(codes: Any) -> tuple[Code, ...]:
    seen: dict[str, Code] = {}
    for c in codes:
        seen.setdefault(c.curie, c)
    return tuple(seen.values())


def from_json(vocabulary: Vocabulary, text: str, where: str = "situation") -> Situation:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSituation(f"{where}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                               f"not valid JSON (line {exc.lineno}, column {exc.colno})") from exc
    return from_dict(vocabulary, data, where)


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
    data = {
        "findings": sorted(str(v) for v in graph.objects(node, HIPKG.findingCode)),
        "allergies": sorted(str(v) for v in graph.objects(node, HIPKG.allergyCode)),
        "goal": (vocabulary.goal_slug(goal) or curie(goal)) if goal is not None else vocabulary.default_goal,
    }
    return from_dict(vocabulary, data, where)


def read(vocabulary: Vocabulary, path: str, validate: Callable[[Graph], Any], stdin_text: str | None = None) -> Situation:
    """A situation from a .json or .ttl file, or '-' for standard input (JSON, or Turtle if it is not JSON)."""
    if path == "-":
        text = stdin_text if stdin_text is not None else ""
        if text.lstrip().startswith(("{", "[")):
            return from_json(vocabulary, text, "<stdin>")
        return from_graph(vocabulary, parse_turtle(text, "<stdin>"), validate, "<stdin>")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read situation file ({getattr(exc, 'strerror', None) or exc})") from exc
    if p.suffix.lower() == ".json":
        return from_json(vocabulary, text, path)
    if p.suffix.lower() in (".ttl", ".turtle"):
        return from_graph(vocabulary, parse_turtle(text, path), validate, path)
    raise InputError(f"{path}: unknown situation format {p.suffix or '(no suffix)'!r}; expected .json or .ttl")
