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
    kind: str
    id: str
    label: str
    because: str
    source: Citation

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "label": self.label, "because": self.because, "source": self.source.to_json()}


class OptionResult(NamedTuple):
    """One option's status in a situation, with every reason for it. A named tuple, not a dataclass: a batch makes
    tens of thousands of these per chunk, and a tuple is built several times faster."""

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
    statuses: tuple[str, ...]  # every status slug, in the order answers list them (from the graph)
    disclaimer: str = field(default=DISCLAIMER)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.to_json_head(),
            "options": [o.to_json() for o in self.options],
            "advice": [a.to_json() for a in self.advice],
            "disclaimer": self.disclaimer,
        }

    def to_json_head(self) -> dict[str, Any]:
        """The situation as understood (codes with the concepts they name) and the unrecognized codes."""
        def coded(codes: Any) -> list[dict[str, Any]]:
            return [
                {"code": c.curie, "concepts": [{"id": i, "label": l} for i, l in self.concepts.get(c.curie, ())]}
                for c in codes
            ]

        return {
            "situation": {"findings": coded(self.situation.findings), "allergies": coded(self.situation.allergies), "goal": self.situation.goal},
            "unrecognized": list(self.unrecognized),
        }

    def dumps(self) -> str:
        """Byte-identical JSON for identical input."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def by_status(self) -> dict[str, list[OptionResult]]:
        return {s: [o for o in self.options if o.status == s] for s in self.statuses}
