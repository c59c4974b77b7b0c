"""Which options fit a situation, and why: binds the situation into the queries of
queries/recommend/ and formats what they return. No clinical rule lives here."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rdflib import Literal, URIRef

from hipkg import DISCLAIMER
from hipkg.namespaces import curie
from hipkg.situations import Situation, coerce, goals

if TYPE_CHECKING:
    from hipkg.graph import KnowledgeGraph

STATUS_ORDER = ("fits", "caution", "avoid", "not-indicated")
KIND_ORDER = ("contraindication", "caution", "indication")


@dataclass(frozen=True)
class Citation:
    section: str
    quote: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"section": self.section, "quote": self.quote, "source": self.source}


@dataclass(frozen=True)
class Reason:
    kind: str
    id: str
    label: str
    because: str
    source: Citation

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "label": self.label, "because": self.because, "source": self.source.to_json()}


@dataclass(frozen=True)
class OptionResult:
    id: str
    label: str
    target: str
    guidance: str
    medication_categories: tuple[str, ...]
    purpose: str
    status: str
    reasons: tuple[Reason, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "label": self.label, "target": self.target, "guidance": self.guidance,
            "medication_categories": list(self.medication_categories), "purpose": self.purpose,
            "status": self.status, "reasons": [r.to_json() for r in self.reasons],
        }


@dataclass(frozen=True)
class Advice:
    id: str
    label: str
    because: tuple[str, ...]
    source: Citation

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "because": list(self.because), "source": self.source.to_json()}


@dataclass(frozen=True)
class Recommendation:
    situation: Situation
    concepts: dict[str, tuple[tuple[str, str], ...]]
    unrecognized: tuple[str, ...]
    options: tuple[OptionResult, ...]
    advice: tuple[Advice, ...]
    disclaimer: str = field(default=DISCLAIMER)

    def to_json(self) -> dict[str, Any]:
        def coded(codes: Any) -> list[dict[str, Any]]:
            return [
                {"code": c.curie, "concepts": [{"id": i, "label": l} for i, l in self.concepts.get(c.curie, ())]}
                for c in codes
            ]

        return {
            "situation": {"findings": coded(self.situation.findings), "allergies": coded(self.situation.allergies), "goal": self.situation.goal},
            "unrecognized": list(self.unrecognized),
            "options": [o.to_json() for o in self.options],
            "advice": [a.to_json() for a in self.advice],
            "disclaimer": self.disclaimer,
        }

    def dumps(self) -> str:
        """Byte-identical JSON for identical input."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def by_status(self) -> dict[str, list[OptionResult]]:
        return {s: [o for o in self.options if o.status == s] for s in STATUS_ORDER}


@functools.lru_cache(maxsize=4)
def _options(kg: "KnowledgeGraph") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in kg.query("recommend/options"):
        o = out.setdefault(curie(row["option"]), {
            "label": str(row["label"]), "target": str(row["target"]), "guidance": str(row["guidance"]),
            "purpose": str(row["purpose"]), "categories": [],
        })
        o["categories"].append(str(row["category"]))
    return out


@functools.lru_cache(maxsize=4)
def _citations(kg: "KnowledgeGraph") -> dict[str, tuple[str, Citation]]:
    """First citation (bundled source first) and label of every rule, advice and alternative."""
    out: dict[str, tuple[str, Citation]] = {}
    for row in kg.query("recommend/citations"):
        out.setdefault(curie(row["statement"]), (str(row["label"]), Citation(str(row["section"]), str(row["quote"]), str(row["sourceTitle"]))))
    return out


def _rows(codes: Any) -> list[tuple[Literal, URIRef]]:
    return [(Literal(c.curie), iri) for c in codes for iri in c.iris]


def recommend(kg: "KnowledgeGraph", situation: Any) -> Recommendation:
    s = coerce(kg, situation)
    reached = kg.query("recommend/reached", codes=_rows(s.findings))
    allergy_reached = kg.query("recommend/reached", codes=_rows(s.allergies))

    concepts: dict[str, set[tuple[str, str]]] = {}
    labels: dict[str, str] = {}
    for row in (*reached, *allergy_reached):
        labels[curie(row["concept"])] = str(row["label"])
        if row["concept"] == row["via"]:
            concepts.setdefault(str(row["input"]), set()).add((curie(row["concept"]), str(row["label"])))
    unrecognized = tuple(c.curie for c in (*s.findings, *s.allergies) if c.curie not in concepts)

    finding_via = [(r["input"], r["via"]) for r in reached]
    triggered_rows = kg.query(
        "recommend/triggered",
        findings=finding_via,
        allergies=[(r["input"], r["via"]) for r in allergy_reached],
        reached=sorted({r["via"] for r in reached}),
    )
    triggered = [(r["rule"], r["because"]) for r in triggered_rows]
    reasons = kg.query("recommend/reasons", triggered=triggered, goal=goals(kg)[s.goal])
    status = {curie(r["option"]): str(r["status"]) for r in kg.query("recommend/status", reasons=[(r["option"], r["kind"]) for r in reasons])}

    cites = _citations(kg)
    by_option: dict[str, set[tuple[str, str, str]]] = {}
    for r in reasons:
        by_option.setdefault(curie(r["option"]), set()).add((str(r["kind"]), curie(r["rule"]), str(r["because"])))

    def reason(kind: str, rule: str, because: str) -> Reason:
        label, citation = cites[rule]
        return Reason(kind, rule, label, because, citation)

    options = []
    for oid, o in _options(kg).items():
        rs = sorted(by_option.get(oid, ()), key=lambda k: (KIND_ORDER.index(k[0]), k[1], k[2]))
        options.append(OptionResult(oid, o["label"], o["target"], o["guidance"], tuple(o["categories"]), o["purpose"], status[oid], tuple(reason(*k) for k in rs)))
    options.sort(key=lambda o: (STATUS_ORDER.index(o.status), o.id))

    advice_because: dict[str, set[str]] = {}
    for row in kg.query("recommend/advice", triggered=triggered, findings=finding_via):
        advice_because.setdefault(curie(row["advice"]), set()).add(str(row["because"]))
    advice = tuple(Advice(aid, cites[aid][0], tuple(sorted(b)), cites[aid][1]) for aid, b in sorted(advice_because.items()))
    return Recommendation(s, {k: tuple(sorted(v)) for k, v in concepts.items()}, unrecognized, tuple(options), advice)
