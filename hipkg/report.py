"""An answer read by rule: each triggered or asked rule once, with what triggered it, its quote and source, and the
options it concerns, in the order a reader should settle them (questions, then avoid, caution, indications). The
web page, the HTML report and the terminal table all show reasons this way. Works on an answer's JSON
(Recommendation.to_json()); no clinical logic: which rule concerns which option is the answer's.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

#: The reason kinds that decide each status, in the order an option lists its reasons (recommend/effects): the first
#: reason of such a kind is what an option's status rests on.
DECIDING = {"avoid": ("contraindication", "guideline"), "check": ("check",), "caution": ("caution", "guideline"),
            "fits": ("indication",), "not-indicated": ()}
#: The order rules are read in: what to settle first, then what rules out, then what cautions, then what indicates.
ORDER = ("check", "contraindication", "guideline", "caution", "indication")
#: The letter that stands for each status in the matrix (beside its colour, never instead of a word in its name).
LETTERS = {"avoid": "A", "check": "?", "caution": "C", "fits": "F", "not-indicated": "\u2013"}
KIND_WORDS = {"check": "Question", "contraindication": "Avoid", "guideline": "Guideline", "caution": "Caution", "indication": "Indication"}


@dataclass(frozen=True)
class Rule:
    """One rule (or check) of an answer, once: ``kind`` as its reasons name it, the triggers (``because``), its text
    (label, source with quote, question for a check) and the options it concerns, by id."""

    kind: str
    id: str
    label: str
    because: tuple[str, ...]
    source: dict[str, str]
    options: tuple[str, ...]
    question: str | None = None
    severity: str | None = None

    @property
    def anchor(self) -> str:
        return "rule-" + _slug(f"{self.kind}-{self.id}")


def by_rule(answer: dict[str, Any]) -> list[Rule]:
    """Every reason of the answer's options, grouped by (kind, rule): triggers and options collected, in ORDER."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for option in answer["options"]:
        for reason in option["reasons"]:
            g = groups.setdefault((reason["kind"], reason["id"]), {"because": {}, "options": {}, "severity": reason.get("severity")})
            g["because"][reason["because"]] = None
            g["options"][option["id"]] = None
    out = []
    for (kind, rid), g in groups.items():
        text = answer["reasons"][rid]
        out.append(Rule(kind, rid, text["label"], tuple(sorted(g["because"])), text["source"], tuple(g["options"]),
                        text.get("question"), g["severity"]))
    return sorted(out, key=lambda r: (ORDER.index(r.kind) if r.kind in ORDER else len(ORDER), r.id))


def deciding(option: dict[str, Any]) -> dict[str, Any] | None:
    """The reason an option's status rests on: its first reason of a kind that decides that status."""
    kinds = DECIDING.get(option["status"], ())
    return next((r for r in option["reasons"] if r["kind"] in kinds), None)


def letter(status: str) -> str:
    return LETTERS.get(status, status[:1].upper())


def text(answer: dict[str, Any], labels: dict[tuple[str, str], str], every_option: bool = False, width: int = 80) -> str:
    """The answer for an 80-column terminal: the questions, the situation as read, the matrix as letters, then each
    rule once with its triggers, quote, source and the statuses of the options it concerns; ``every_option``: then
    every option with its status."""
    name = lambda kind, slug: labels.get((kind, slug), slug)  # noqa: E731
    wrap = lambda s, indent="  ": textwrap.fill(s, width, initial_indent=indent, subsequent_indent=indent)  # noqa: E731
    out: list[str] = []
    rules = by_rule(answer)
    questions = [r for r in rules if r.kind == "check"]
    if questions:
        out.append("QUESTIONS TO SETTLE FIRST (the options they concern are 'check' until answered)")
        out += [wrap(f"- {q.question} [{', '.join(q.because)}; asks about: {answer['reasons'][q.id]['label']}]", "") for q in questions]
        out.append("")
    out += _situation_lines(answer)
    out += ["", *_letters(answer, name)]
    statuses = {o["id"]: o["status"] for o in answer["options"]}
    out.append("\nRULES (each once: what triggered it, its source, the options it concerns)")
    for rule in rules:
        severity = f" ({rule.severity})" if rule.severity else ""
        out.append(wrap(f"{KIND_WORDS.get(rule.kind, rule.kind)}{severity}: {rule.label} [{', '.join(rule.because)}]", ""))
        out.append(wrap(f"\u201c{rule.source['quote']}\u201d \u2014 {rule.source['source']}, {rule.source['section']}"))
        counted: dict[str, int] = {}
        for o in rule.options:
            counted[statuses[o]] = counted.get(statuses[o], 0) + 1
        out.append(wrap(f"concerns {len(rule.options)} option{'s' if len(rule.options) > 1 else ''}: "
                        + ", ".join(f"{n} {s}" for s, n in counted.items())))
    if every_option:
        out.append("\nEVERY OPTION")
        out += [wrap(f"{letter(o['status'])} {o['status']:13} {o['label']}", "") for o in answer["options"]]
    if answer["assumed_absent"]:
        out.append("")
        out.append(wrap("ASSUMED ABSENT (nothing above rules these out; each would make an option avoid): "
                        + "; ".join(r["label"] for r in answer["assumed_absent"]), ""))
    if answer["advice"]:
        out.append("\nADVICE")
        out += [wrap(f"- {a['label']} [{', '.join(a['because'])}] \u2014 \u201c{a['source']['quote']}\u201d", "") for a in answer["advice"]]
    out += ["", textwrap.fill(answer["disclaimer"], width)]
    return "\n".join(out) + "\n"


def _situation_lines(answer: dict[str, Any]) -> list[str]:
    s = answer["situation"]
    out = [f"{'date':10} {s['date']}"]
    for key, label in (("findings", "finding"), ("allergies", "allergy"), ("medications", "medication")):
        for item in s.get(key, ()):
            names = ", ".join(c["label"] for c in item["concepts"]) or "(unrecognized)"
            extra = "".join(f" ({item[k]})" for k in ("certainty", "date") if k in item)
            given = f" (read from {item['given']!r})" if "given" in item else ""
            out.append(f"{label:10} {item['code'] + extra:34} {names}{given}"[:80])
    out += [f"{'observed':10} {o['code']} {o['value']:g} {o['unit']}" + (f" on {o['date']}" if "date" in o else "") for o in s.get("observations", ())]
    for p in s.get("procedures", ()):
        when = ("planned for " if p.get("planned") else "on ") + p["date"] if "date" in p else "(no date)"
        out.append(f"{'procedure':10} {p['code']} {when}")
    out += [f"{'injected':10} {j['date']} {j['target']} {'+'.join(j['medications'])}".rstrip() for j in s.get("injections", ())]
    out.append(f"{'goal':10} {s['goal']}")
    if answer["unrecognized"]:
        out.append(textwrap.fill(f"unrecognized: {', '.join(answer['unrecognized'])} (the graph does not use these codes)", 80))
    reading = answer.get("read")
    if reading is not None:
        out.append(f"read: {reading['resources']} FHIR resources; reference date from {reading['date_from']}")
        out += [textwrap.fill(f"ignored {i['resource']}: {i['why']}", 80, subsequent_indent="  ") for i in reading["ignored"]]
    return out


def _letters(answer: dict[str, Any], name: Any) -> list[str]:
    """The matrix as letters: a row per target, a column per regimen, a letter per guidance method (and a second
    group after '/' for a second purpose)."""
    options = answer["options"]
    regimen_of = {o["id"]: tuple(o["medication_categories"]) for o in options}
    label_of = {r: " + ".join(name("category", c) for c in r) for r in regimen_of.values()}
    regimens = sorted(set(regimen_of.values()), key=lambda r: label_of[r])
    targets = sorted({o["target"] for o in options}, key=lambda t: name("target", t))
    guidance = sorted({o["guidance"] for o in options})
    goal = answer["situation"]["goal"]
    purposes = sorted({o["purpose"] for o in options}, key=lambda p: (p != goal, p))
    at = {(o["target"], regimen_of[o["id"]], o["guidance"], o["purpose"]): o["status"] for o in options}
    col = 2 * len(guidance) + 2
    head = (" " * 19 + "".join(f"R{j + 1}".ljust(col) for j in range(len(regimens)))).rstrip()
    out = ["OPTIONS  " + "  ".join(f"{letter(s)} {s}" for s in LETTERS if any(o["status"] == s for o in options)), head]
    for target in targets:
        cells = []
        for regimen in regimens:
            groups = ["".join(letter(at[(target, regimen, g, p)]) if (target, regimen, g, p) in at else "." for g in guidance)
                      for p in purposes if any((target, regimen, g, p) in at for g in guidance)]
            cells.append("/".join(groups).ljust(col))
        out.append(f"{target[:18]:19}" + "".join(cells).rstrip())
    out += [f"  R{j + 1} = {label_of[r]}" for j, r in enumerate(regimens)]
    out.append(textwrap.fill("letters per cell: " + ", ".join(name("guidance", g) for g in guidance)
                             + (f"; after '/': {name('purpose', purposes[1])}" if len(purposes) > 1 else ""), 80,
                             initial_indent="  ", subsequent_indent="    "))
    return out


def option_anchor(option_id: str) -> str:
    return "option-" + _slug(option_id)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()
