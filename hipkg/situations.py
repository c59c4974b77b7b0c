"""Situations: what a user hands in (JSON, a dict, or Turtle), checked before anything is queried."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF

from hipkg.codes import ALLERGY_PREFIXES, FINDING_PREFIXES, Code, parse_code
from hipkg.errors import InputError
from hipkg.namespaces import HIPKG, curie

if TYPE_CHECKING:
    from hipkg.graph import KnowledgeGraph

KEYS = ("findings", "allergies", "goal")


@dataclass(frozen=True)
class Situation:
    findings: tuple[Code, ...]
    allergies: tuple[Code, ...] = ()
    goal: str = "therapeutic"

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [c.given for c in self.findings], "allergies": [c.given for c in self.allergies], "goal": self.goal}

    def triples(self, node: URIRef, goal: URIRef | None = None) -> list[tuple[URIRef, URIRef, Any]]:
        """The situation as RDF (hipkg:Situation with normalised codes, and the goal's purpose IRI when given)."""
        out: list[tuple[URIRef, URIRef, Any]] = [(node, RDF.type, HIPKG.Situation)]
        out += [(node, HIPKG.findingCode, Literal(c.curie)) for c in self.findings]
        out += [(node, HIPKG.allergyCode, Literal(c.curie)) for c in self.allergies]
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


@functools.lru_cache(maxsize=8)
def goals(kg: "KnowledgeGraph") -> dict[str, URIRef]:
    """Goal slug -> purpose IRI, read from the graph by queries/recommend/goals.rq."""
    return {str(row["slug"]): row["purpose"] for row in kg.query("recommend/goals")}


def from_dict(kg: "KnowledgeGraph", data: Any, where: str = "situation") -> Situation:
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object with keys {', '.join(KEYS)}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}; expected only {', '.join(KEYS)}")
    findings = data.get("findings")
    if not isinstance(findings, list) or not findings:
        raise InputError(f"{where}: 'findings' must be a non-empty list of codes such as \"ICD10CM:M16.11\" (got {findings!r})")
    allergies = data.get("allergies", [])
    if not isinstance(allergies, list):
        raise InputError(f"{where}: 'allergies' must be a list of codes such as \"RXNORM:6387\" (got {allergies!r})")
    goal = data.get("goal", "therapeutic")
    known = goals(kg)
    if goal not in known:
        raise InputError(f"{where}: unknown goal {goal!r}; expected one of {', '.join(sorted(known))}")
    return Situation(
        findings=_unique(parse_code(f, FINDING_PREFIXES, f"{where}: findings") for f in findings),
        allergies=_unique(parse_code(a, ALLERGY_PREFIXES, f"{where}: allergies") for a in allergies),
        goal=goal,
    )


def _unique(codes: Any) -> tuple[Code, ...]:
    seen: dict[str, Code] = {}
    for c in codes:
        seen.setdefault(c.curie, c)
    return tuple(seen.values())


def from_json(kg: "KnowledgeGraph", text: str, where: str = "situation") -> Situation:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    return from_dict(kg, data, where)


def from_graph(kg: "KnowledgeGraph", graph: Graph, where: str = "situation") -> Situation:
    """Read exactly one hipkg:Situation from RDF, after SHACL-validating it against the situation shapes."""
    report = kg.validate_situation(graph)
    if not report.conforms:
        first = report.violations()[0]
        raise InputError(f"{where}: {first.message} (focus {first.focus_node}, value {first.value})")
    nodes = sorted(set(graph.subjects(RDF.type, HIPKG.Situation)))
    if len(nodes) != 1:
        raise InputError(f"{where}: expected exactly one hipkg:Situation, found {len(nodes)}")
    node = nodes[0]
    slugs = {v: k for k, v in goals(kg).items()}
    goal = graph.value(node, HIPKG.goal)
    data = {
        "findings": sorted(str(v) for v in graph.objects(node, HIPKG.findingCode)),
        "allergies": sorted(str(v) for v in graph.objects(node, HIPKG.allergyCode)),
        "goal": slugs.get(goal, curie(goal)) if goal is not None else "therapeutic",
    }
    return from_dict(kg, data, where)


def read(kg: "KnowledgeGraph", path: str, stdin_text: str | None = None) -> Situation:
    """A situation from a .json or .ttl file, or '-' for standard input (JSON, or Turtle if it is not JSON)."""
    if path == "-":
        text = stdin_text if stdin_text is not None else ""
        if text.lstrip().startswith(("{", "[")):
            return from_json(kg, text, "<stdin>")
        from hipkg.graph import parse_turtle

        return from_graph(kg, parse_turtle(text, "<stdin>"), "<stdin>")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read situation file ({getattr(exc, 'strerror', None) or exc})") from exc
    if p.suffix.lower() == ".json":
        return from_json(kg, text, path)
    if p.suffix.lower() in (".ttl", ".turtle"):
        from hipkg.graph import parse_turtle

        return from_graph(kg, parse_turtle(text, path), path)
    raise InputError(f"{path}: unknown situation format {p.suffix or '(no suffix)'!r}; expected .json or .ttl")


def coerce(kg: "KnowledgeGraph", situation: Any) -> Situation:
    """Accept a Situation, a dict, or an rdflib Graph holding one hipkg:Situation."""
    if isinstance(situation, Situation):
        return situation
    if isinstance(situation, Graph):
        return from_graph(kg, situation)
    return from_dict(kg, situation)
