"""Every piece of hand-built JSON of a batch, in one place: answers as JSON lines, stored cases, error records.

Each line is exactly ``json.dumps(...)`` of the object it stands for (ASCII, non-ASCII escaped); tests check that
byte for byte. A batch repeats the same reasons and unconcerned options in most of its answers, so the text of each
is made once and reused: three times faster than serialising every answer whole.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _string  # json.dumps of a str, without the encoder around it
from typing import Iterable, Iterator

from hipkg.recommending.model import Advice, Fired as Listed, Guidelines, OptionResult, Reason, Recommendation


class LineWriter:
    """Serialises recommendations as JSON lines, reusing the text of objects it has written before (by identity:
    answers share their immutable reasons, options and advice). A batch keeps one for all its chunks; it forgets
    everything once the texts it holds reach ``LIMIT`` characters, which bounds its memory."""

    LIMIT = 32_000_000

    def __init__(self) -> None:
        self._texts: dict[int, tuple[object, str]] = {}  # id -> (object, its text); holding the object keeps its id unique
        self._held = 0  # characters in _texts
        self._heads: dict[str, str] = {}  # option id -> its JSON object up to (excluding) the status
        self._reason_texts: dict[str, str] = {}  # reason id -> "id": its text (the same for every reason of that id)

    def _text(self, obj: Reason | OptionResult | Advice | Guidelines) -> str:
        hit = self._texts.get(id(obj))
        return hit[1] if hit is not None and hit[0] is obj else self._keep(obj, json.dumps(obj.to_json()))

    def _keep(self, obj: object, text: str) -> str:
        """Remember ``text`` as the text of ``obj``, and count its size."""
        self._texts[id(obj)] = (obj, text)
        self._held += len(text)
        return text

    def _listed(self, items: tuple[Listed, ...], brief: bool = False) -> str:
        """The head's rules, questions or assumed-absent rules (``brief``: id and label only): tuples shared by every
        answer with the same rules (the recommender's memos)."""
        hit = self._texts.get(id(items))
        if hit is not None and hit[0] is items:
            return hit[1]
        return self._keep(items, json.dumps([{"id": i.id, "label": i.label} if brief else i.to_json() for i in items]))

    def _option(self, o: OptionResult) -> str:
        """An option's text, kept by identity like a reason's (the recommender shares equal options across answers)."""
        if not o.reasons:
            return self._text(o)
        hit = self._texts.get(id(o))
        if hit is not None and hit[0] is o:
            return hit[1]
        head = self._heads.get(o.id)
        if head is None:
            fields = {k: v for k, v in o.to_json().items() if k not in ("status", "reasons", "guidelines")}
            head = self._heads[o.id] = json.dumps(fields)[:-1]  # the object without its closing brace
        return self._keep(o, f"{head}, \"status\": {_string(o.status)}, \"reasons\": {self._reasons(o.reasons)}, "
                             f"\"guidelines\": {self._text(o.guidelines)}}}")

    def _reasons(self, reasons: tuple[Reason, ...]) -> str:
        """An option's reasons: a tuple shared by the options the same rules concern (the recommender interns it)."""
        hit = self._texts.get(id(reasons))
        return hit[1] if hit is not None and hit[0] is reasons else self._keep(reasons, "[" + ", ".join(map(self._reason, reasons)) + "]")

    def _reason(self, reason: Reason) -> str:
        """``json.dumps(reason.to_json())``, written out: a batch makes tens of thousands per chunk."""
        hit = self._texts.get(id(reason))
        if hit is not None and hit[0] is reason:
            return hit[1]
        text = f"{{\"kind\": {_string(reason.kind)}, \"id\": {_string(reason.id)}, \"because\": {_string(reason.because)}"
        if reason.rule is not None:
            text += f", \"rule\": {_string(reason.rule)}"
        if reason.severity is not None:
            text += f", \"severity\": {_string(reason.severity)}"
        return self._keep(reason, text + "}")

    def _reason_text(self, reason: Reason) -> str:
        hit = self._reason_texts.get(reason.id)
        if hit is None:
            hit = self._reason_texts[reason.id] = f"{json.dumps(reason.id)}: {json.dumps(reason.text_json())}"
        return hit

    def _practice(self, r: Recommendation) -> str:
        """The practice recommendations: one tuple, the same for every answer."""
        hit = self._texts.get(id(r.practice))
        return hit[1] if hit is not None and hit[0] is r.practice else self._keep(r.practice, json.dumps([p.to_json() for p in r.practice]))

    def members(self, r: Recommendation) -> str:
        """The answer's members, without the enclosing braces."""
        if self._held > self.LIMIT:
            self._texts.clear()
            self._held = 0
        head = r.situation_json()
        read = f"\"read\": {json.dumps(r.reading.to_json())}, " if r.reading is not None else ""
        return (f"\"situation\": {json.dumps(head)}, {read}\"unrecognized\": {json.dumps(r.unrecognized_json())}, "
                f"\"questions\": {self._listed(r.questions)}, \"rules\": {self._listed(r.rules)}, "
                f"\"assumed_absent\": {self._listed(r.assumed_absent, brief=True)}, "
                f"\"reasons\": {{{', '.join(map(self._reason_text, r.reason_texts()))}}}, "
                f"\"options\": [{', '.join(map(self._option, r.options))}], "
                f"\"guideline_practice\": {self._practice(r)}, \"advice\": [{', '.join(map(self._text, r.advice))}], "
                f"\"disclaimer\": {_string(r.disclaimer)}")

    def line(self, r: Recommendation) -> str:
        """``json.dumps(r.to_json())``."""
        return "{" + self.members(r) + "}"

    def case_line(self, case: str, r: Recommendation) -> str:
        """``json.dumps({"case": case, **r.to_json()})``: a situation the store holds."""
        return "{" + f"\"case\": {json.dumps(case)}, " + self.members(r) + "}"


def json_lines(recommendations: Iterable[Recommendation]) -> Iterator[str]:
    """Each recommendation as one line of JSON, exactly ``json.dumps(r.to_json())``."""
    writer = LineWriter()
    for r in recommendations:
        yield writer.line(r)


def error_line(key: str, where: int | str, message: str) -> str:
    """``{"line": N, "error": ...}`` or ``{"case": IRI, "error": ...}``: a situation that could not be answered."""
    return json.dumps({key: where, "error": message})
