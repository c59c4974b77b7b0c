"""What an answer is made of: citations, reasons, option results, advice and the recommendation itself. Immutable,
so situations that give the same codes share them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hipkg import DISCLAIMER
from hipkg.situations import Situation


@dataclass(frozen=True)
class Citation:
    section: str
    quote: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"section": self.section, "quote": self.quote, "source": self.source}


@dataclass(frozen=True)
class Reason:
    """Why an option has its status: a triggered rule (kind indication, caution, contraindication, or guideline with
    its severity: a rule of the guidelines policy), or an open
    check with the question that settles it and ``rule``, the rule it asks about (kind check for a contraindication,
    caution for a caution-level rule: a check never says more than its rule)."""

    kind: str
    id: str
    label: str
    because: str
    source: Citation
    question: str | None = None
    rule: str | None = None
    severity: str | None = None  # of a reason of kind guideline: avoid or caution, the status it stands for

    def to_json(self) -> dict[str, Any]:
        """The reason as an option lists it: what concerns this option (kind, id, because, the rule a check asks
        about, a guideline rule's severity); its text, the same for every option, is in the answer's ``reasons`` once
        (``text_json``)."""
        out = {"kind": self.kind, "id": self.id, "because": self.because}
        if self.rule is not None:
            out["rule"] = self.rule
        if self.severity is not None:
            out["severity"] = self.severity
        return out

    def text_json(self) -> dict[str, Any]:
        """What the reason says, whichever option it concerns: its label, source and, for a check, its question."""
        out = {"label": self.label, "source": self.source.to_json()}
        if self.question is not None:
            out["question"] = self.question
        return out


@dataclass(frozen=True)
class Fired:
    """A rule the situation triggers (``question`` None) or may trigger (an open check: its id, label and question),
    listed once in the answer's head with what brought it."""

    id: str
    label: str
    because: tuple[str, ...]
    check: str | None = None
    question: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "label": self.label, "because": list(self.because)}
        if self.check is not None:
            out.update(check=self.check, question=self.question)
        return out


@dataclass(frozen=True)
class GuidelineRecommendation:
    """One guideline recommendation as an answer shows it; ``statement`` is None when its sentence was not read
    (``verified`` False, ``reason`` says why). The JSON leaves out the label and the guideline's title, which every
    option would repeat: guidelines/for-option and the exports give them."""

    id: str
    label: str
    body: str
    year: int
    direction: str
    strength: str
    strength_as_written: str
    population: str | None
    statement: str | None
    locator: str
    aspect: str
    verified: bool
    reason: str | None
    guideline: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "body": self.body, "year": self.year,
                               "direction": self.direction, "strength": self.strength,
                               "strength_as_written": self.strength_as_written, "population": self.population,
                               "aspect": self.aspect, "statement": self.statement, "locator": self.locator,
                               "verified": self.verified}
        if self.reason is not None:
            out["unverified_reason"] = self.reason
        return out


@dataclass(frozen=True)
class Guidelines:
    """What the guidelines say about one option in one situation: the verdict and the recommendations behind it."""

    verdict: str
    recommendations: tuple[GuidelineRecommendation, ...]

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "recommendations": [r.to_json() for r in self.recommendations]}


class OptionResult(NamedTuple):
    """One option's status in a situation, with every reason for it. A named tuple, not a dataclass: a batch makes
    tens of thousands of these per chunk, and a tuple is built several times faster."""

    id: str
    label: str
    target: str
    guidance: str
    medication_categories: tuple[str, ...]
    purpose: str
    expect: tuple[tuple[Any, ...], ...]  # (category, onset, duration, benefit per guidelines) as the graph says
    status: str
    reasons: tuple[Reason, ...]
    guidelines: Guidelines

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "label": self.label, "target": self.target, "guidance": self.guidance,
            "medication_categories": list(self.medication_categories), "purpose": self.purpose,
            "expect": [_expect(*e) for e in self.expect],
            "status": self.status, "reasons": [r.to_json() for r in self.reasons], "guidelines": self.guidelines.to_json(),
        }


def _expect(category: str, onset: tuple[str, ...], duration: tuple[str, ...],
            benefit: tuple[tuple[str, str, str | None], ...] = ()) -> dict[str, Any]:
    """What to expect of one category: the source's onset and duration, and how long a guideline says its benefit lasts
    (duration, recommendation, population), where one does."""
    out: dict[str, Any] = {"category": category, "onset": list(onset), "duration": list(duration)}
    if benefit:
        out["benefit_per_guidelines"] = [{"duration": d, "recommendation": r, "population": p} for d, r, p in benefit]
    return out


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
    statuses: tuple[str, ...]  # every status slug, in the order answers list them (from the graph)
    date: str = ""  # the reference date the answer used (the situation's, or the current date)
    rules: tuple[Fired, ...] = ()  # every rule triggered, once
    questions: tuple[Fired, ...] = ()  # every open check, once
    assumed_absent: tuple[Fired, ...] = ()  # the avoid-level contraindications neither triggered, asked nor ruled out
    practice: tuple[GuidelineRecommendation, ...] = ()  # guideline practice recommendations for every population, once
    reading: Any = None  # FHIR input: how it was read (hipkg.fhir_in.Reading), shown under "read"
    disclaimer: str = field(default=DISCLAIMER)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.to_json_head(),
            "reasons": {r.id: r.text_json() for r in self.reason_texts()},
            "options": [o.to_json() for o in self.options],
            "guideline_practice": [p.to_json() for p in self.practice],
            "advice": [a.to_json() for a in self.advice],
            "disclaimer": self.disclaimer,
        }

    def to_json_head(self) -> dict[str, Any]:
        """The situation as understood, the unrecognized codes, the questions to settle and the rules triggered."""
        return {
            "situation": self.situation_json(),
            **({"read": self.reading.to_json()} if self.reading is not None else {}),
            "unrecognized": self.unrecognized_json(),
            "questions": [q.to_json() for q in self.questions],
            "rules": [r.to_json() for r in self.rules],
            "assumed_absent": [{"id": r.id, "label": r.label} for r in self.assumed_absent],
        }

    def unrecognized_json(self) -> list[str]:
        """The codes the graph does not use, then (FHIR input) the codings in systems hipkg does not read (system|code)."""
        return [*self.unrecognized, *(self.reading.unrecognized if self.reading is not None else ())]

    def reason_texts(self) -> list[Reason]:
        """One reason per id among every option's reasons, in the order of their ids: the texts the answer gives once."""
        seen = {reason.id: reason for option in self.options for reason in option.reasons}
        return [seen[k] for k in sorted(seen)]

    def situation_json(self) -> dict[str, Any]:
        """The situation as understood: its codes with the concepts they name, its events, its date and goal."""
        dates = dict(self.situation.dates)

        def coded(codes: Any, certainty: str | None = None) -> list[dict[str, Any]]:
            out = []
            for c in codes:
                item: dict[str, Any] = {"code": c.curie, "concepts": [{"id": i, "label": l} for i, l in self.concepts.get(c.curie, ())]}
                if c.given.strip() != c.curie:  # a name, a bare ICD-10-CM code or another spelling: what it was read as
                    item["given"] = c.given
                if certainty is not None and certainty != "confirmed":
                    item["certainty"] = certainty
                if c.curie in dates and certainty is not None:
                    item["date"] = dates[c.curie]
                out.append(item)
            return out

        s = self.situation
        findings = [item for certainty, codes in s.by_certainty().items() for item in coded(codes, certainty)]
        situation: dict[str, Any] = {"date": self.date, "findings": findings, "allergies": coded(s.allergies)}
        if s.medications:
            situation["medications"] = coded(s.medications)
        if s.observations:
            situation["observations"] = [{"code": o.code.curie, "value": o.value, "unit": o.unit, **({"date": o.date} if o.date else {})}
                                         for o in s.observations]
        if s.procedures:
            situation["procedures"] = [{**coded([p.code])[0], **({"date": p.date} if p.date else {}), **({"planned": True} if p.planned else {})}
                                       for p in s.procedures]
        if s.injections:
            situation["injections"] = [{"date": j.date, "target": j.target, "medications": list(j.medications)} for j in s.injections]
        situation["goal"] = s.goal
        situation["policy"] = s.policy
        return situation

    def dumps(self) -> str:
        """Byte-identical JSON for identical input."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def by_status(self) -> dict[str, list[OptionResult]]:
        return {s: [o for o in self.options if o.status == s] for s in self.statuses}
