"""Which options fit a situation, and why: binds the situation into the queries of
queries/recommend/ and formats what they return. No clinical rule lives here."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

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


def _rows(case: Literal, codes: Any) -> list[tuple[Literal, Literal, URIRef]]:
    return [(case, Literal(c.curie), iri) for c in codes for iri in c.iris]


def recommend(kg: "KnowledgeGraph", situation: Any) -> Recommendation:
    """One situation: the batch path with a batch of one, so both share every query."""
    return next(iter(recommend_many(kg, [coerce(kg, situation)])))


def recommend_many(kg: "KnowledgeGraph", situations: Sequence[Situation]) -> list[Recommendation]:
    """Answer many situations with one run of each recommend/*.rq query (set-based, not one query per situation)."""
    cases = [Literal(str(i)) for i in range(len(situations))]
    codes, allergy_codes = [], []
    for case, s in zip(cases, situations):
        codes += _rows(case, s.findings)
        allergy_codes += _rows(case, s.allergies)
    reached = kg.query("recommend/reached", codes=codes).rows if codes else ()
    allergy_reached = kg.query("recommend/reached", codes=allergy_codes).rows if allergy_codes else ()

    # reached rows: (case, input, concept, label, via)
    named: dict[str, dict[str, set[tuple[str, str]]]] = {}
    for case, given, concept, label, via in (*reached, *allergy_reached):
        if concept == via:
            named.setdefault(str(case), {}).setdefault(str(given), set()).add((curie(concept), str(label)))
    finding_via = [(r[0], r[1], r[4]) for r in reached]
    triggered = [
        (r[0], r[1], r[2])
        for r in kg.query(
            "recommend/triggered",
            findings=finding_via,
            allergies=[(r[0], r[1], r[4]) for r in allergy_reached],
            reached=sorted({(r[0], r[4]) for r in reached}),
        ).rows
    ]
    purpose = {str(c): goals(kg)[s.goal] for c, s in zip(cases, situations)}
    reasons = kg.query("recommend/reasons", triggered=[(*t, purpose[str(t[0])]) for t in triggered]).rows
    status = kg.query("recommend/status", cases=cases, reasons=list({(r[0], r[1], r[3]) for r in reasons})).rows
    advice_rows = kg.query("recommend/advice", triggered=triggered, findings=finding_via).rows

    by_case: dict[str, dict[str, set[tuple[str, str, str]]]] = {}
    for case, option, rule, kind, because in reasons:
        by_case.setdefault(str(case), {}).setdefault(curie(option), set()).add((str(kind), curie(rule), str(because)))
    status_by_case: dict[str, dict[str, str]] = {}
    for case, option, value in status:
        status_by_case.setdefault(str(case), {})[curie(option)] = str(value)
    advice_by_case: dict[str, dict[str, set[str]]] = {}
    for case, advice, because in advice_rows:
        advice_by_case.setdefault(str(case), {}).setdefault(curie(advice), set()).add(str(because))

    cites = _citations(kg)
    described = _options(kg)
    out = []
    for case, s in zip(cases, situations):
        key = str(case)
        concepts = {given: tuple(sorted(v)) for given, v in named.get(key, {}).items()}
        unrecognized = tuple(c.curie for c in (*s.findings, *s.allergies) if c.curie not in concepts)
        reasons_of = by_case.get(key, {})
        options = []
        for oid, o in described.items():
            rs = sorted(reasons_of.get(oid, ()), key=lambda k: (KIND_ORDER.index(k[0]), k[1], k[2]))
            options.append(OptionResult(oid, o["label"], o["target"], o["guidance"], tuple(o["categories"]), o["purpose"],
                                        status_by_case[key][oid], tuple(Reason(k, r, cites[r][0], b, cites[r][1]) for k, r, b in rs)))
        options.sort(key=lambda o: (STATUS_ORDER.index(o.status), o.id))
        advice = tuple(Advice(a, cites[a][0], tuple(sorted(b)), cites[a][1]) for a, b in sorted(advice_by_case.get(key, {}).items()))
        out.append(Recommendation(s, concepts, unrecognized, tuple(options), advice))
    return out
