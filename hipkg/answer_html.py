"""An answer as HTML: the option matrix first, then the questions to settle, each rule once (its triggers, quote and
source, and the options it concerns), and the options by status, each pointing at its rules. The web page embeds the
section; ``hipkg recommend --format html`` writes it as one self-contained, printable page. Every value is escaped;
every quote appears once. Works on the answer's JSON; no clinical logic.
"""
from __future__ import annotations

from html import escape
from typing import Any, Callable, Sequence

from hipkg import DISCLAIMER
from hipkg.matrix import svg
from hipkg.report import KIND_WORDS, Rule, by_rule, option_anchor

#: (slug, title, meaning) of each status, in the order answers list them (the graph's labels and definitions).
Statuses = Sequence[tuple[str, str, str]]
#: Links a concept or rule id to its page: (id, text) -> HTML; by default the text alone.
Link = Callable[[str, str], str]

CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;line-height:1.4;color:#1f2328}
.matrix{max-width:100%;height:auto}.counts{font-weight:600}.rule{border-left:4px solid #8a8f98;padding:.2rem .8rem;margin:.6rem 0}
.rule-check{border-color:#6a3fb5}.rule-contraindication,.rule-guideline{border-color:#b3261e}.rule-caution{border-color:#a05a00}
.rule-indication{border-color:#1b7a34}blockquote{margin:.3rem 0 .3rem 1rem;color:#3d4349}.options li{margin:.2rem 0}
.disclaimer{border:1px solid #d0d7de;padding:.5rem;background:#f6f8fa}@media print{a{color:inherit;text-decoration:none}}"""


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def _text(cid: str, text: str) -> str:
    return e(text)


def section(answer: dict[str, Any], labels: dict[tuple[str, str], str], statuses: Statuses, link: Link = _text) -> str:
    """The answer as one <section>: matrix, situation, questions, rules once, options by status, advice."""
    by_status: dict[str, list[dict[str, Any]]] = {slug: [] for slug, _, _ in statuses}
    for o in answer["options"]:
        by_status.setdefault(o["status"], []).append(o)
    titles = {slug: title for slug, title, _ in statuses}
    counts = " \u00b7 ".join(f'<a href="#status-{e(s)}">{e(titles.get(s, s))}: {len(v)}</a>' for s, v in by_status.items())
    rules = by_rule(answer)
    shown: set[str] = set()  # quotes shown so far: each once
    parts = ['<section class="answer" aria-labelledby="answer-title"><h2 id="answer-title" tabindex="-1">Answer</h2>',
             f'<p class="counts">{counts}</p>', f'<figure class="matrix-figure">{svg(answer, labels, links=True)}</figure>',
             _situation(answer, link)]
    if answer["assumed_absent"]:  # what "fits" rests on: the avoid-level factors nothing in the situation rules out
        parts.append('<p class="assumed">Every status above assumes none of these, which the situation neither gives nor rules out: '
                     + "; ".join(e(r["label"]) for r in answer["assumed_absent"]) + "</p>")
    if answer["unrecognized"]:
        parts.append('<p class="warn">Codes the graph does not use: ' + ", ".join(f"<code>{e(c)}</code>" for c in answer["unrecognized"]) + "</p>")
    questions = [r for r in rules if r.kind == "check"]
    if questions:
        parts.append('<section class="questions" aria-labelledby="h-questions"><h3 id="h-questions">Questions to settle first</h3>'
                     + "".join(_rule(r, link, shown, answer) for r in questions) + "</section>")
    others = [r for r in rules if r.kind != "check"]
    if others:
        parts.append('<section class="rules" aria-labelledby="h-rules"><h3 id="h-rules">Why: each statement once</h3>'
                     + "".join(_rule(r, link, shown, answer) for r in others) + "</section>")
    if answer["advice"]:
        items = "".join(f'<li><strong>{link(a["id"], a["label"])}</strong> (because {e(", ".join(a["because"]))}){quote(a["source"], shown)}</li>'
                        for a in answer["advice"])
        parts.append(f'<section class="advice"><h3>Advice</h3><ul>{items}</ul></section>')
    anchors = {(r.kind, r.id): r.anchor for r in rules}
    for slug, title, meaning in statuses:
        options = by_status.get(slug, [])
        items = "".join(_option(o, anchors, answer) for o in options)
        inner = f'<p class="meaning">{e(meaning)}</p><ul class="options">{items}</ul>' if options else "<p>None.</p>"
        if slug == statuses[-1][0] and options:  # the last status (not indicated) is long: folded
            inner = f"<details><summary>Show the {len(options)} options</summary>{inner}</details>"
        parts.append(f'<section class="status status-{e(slug)}" id="status-{e(slug)}" aria-labelledby="h-{e(slug)}">'
                     f'<h3 id="h-{e(slug)}"><span class="badge badge-{e(slug)}">{e(slug)}</span> {e(title)} ({len(options)})</h3>{inner}</section>')
    parts.append("</section>")
    return "\n".join(parts)


def page(answer: dict[str, Any], labels: dict[tuple[str, str], str], statuses: Statuses) -> str:
    """A self-contained, printable page: the section, its styles inline, the disclaimer once."""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>hipkg: hip injection options</title><style>{CSS}</style></head><body>'
            f'<h1>Hip injection options for the situation given</h1>'
            f'<p class="disclaimer" role="note"><strong>Clinical disclaimer.</strong> {e(answer.get("disclaimer", DISCLAIMER))}</p>'
            f'{section(answer, labels, statuses)}</body></html>\n')


def _situation(answer: dict[str, Any], link: Link) -> str:
    s = answer["situation"]
    items = []
    for key, what in (("findings", "Finding"), ("allergies", "Allergy"), ("medications", "Medication"), ("procedures", "Procedure")):
        for item in s.get(key, ()):
            concepts = ", ".join(link(c["id"], c["label"]) for c in item["concepts"]) or "<em>not used by the graph</em>"
            extra = "".join(f" ({e(item[k])})" for k in ("certainty", "date") if k in item)
            extra += f" (read from \u201c{e(item['given'])}\u201d)" if "given" in item else ""
            items.append(f"<li>{what} <code>{e(item['code'])}</code>{extra} \u2192 {concepts}</li>")
    items += [f"<li>Observed <code>{e(o['code'])}</code> {e(o['value'])} {e(o['unit'])}{' on ' + e(o['date']) if 'date' in o else ''}</li>"
              for o in s.get("observations", ())]
    items += [f"<li>Injected {e(j['date'])}: {e(j['target'])} {e(' + '.join(j['medications']))}</li>" for j in s.get("injections", ())]
    items.append(f"<li>Goal: {e(s['goal'])} \u00b7 policy: {e(s.get('policy', ''))} \u00b7 reference date {e(s['date'])}</li>")
    return f'<details class="situation-read" open><summary>The situation as read</summary><ul class="reached">{"".join(items)}</ul></details>'


def quote(source: dict[str, str], shown: set[str] | None = None) -> str:
    """The quote with its source, or (already in ``shown``: on this page) the source alone."""
    where = f'\u2014 <cite>{e(source["source"])}</cite>, section \u201c{e(source["section"])}\u201d'
    if shown is not None and source["quote"] in shown:
        return f'<p class="source">(quoted above) {where}</p>'
    if shown is not None:
        shown.add(source["quote"])
    return f'<blockquote class="quote"><p>\u201c{e(source["quote"])}\u201d</p><footer>{where}</footer></blockquote>'


def _rule(rule: Rule, link: Link, shown: set[str], answer: dict[str, Any]) -> str:
    labels = {o["id"]: o["label"] for o in answer["options"]}
    options = "".join(f'<li><a href="#{option_anchor(o)}">{e(labels[o])}</a></li>' for o in rule.options)
    concerns = f"<details><summary>Concerns {len(rule.options)} option{'s' if len(rule.options) > 1 else ''}</summary><ul>{options}</ul></details>"
    head = f"{e(KIND_WORDS.get(rule.kind, rule.kind))}{' (' + e(rule.severity) + ')' if rule.severity else ''}: {link(rule.id, rule.label)}"
    question = f'<p class="question"><strong>{e(rule.question)}</strong></p>' if rule.question else ""
    return (f'<article class="rule rule-{e(rule.kind)}" id="{e(rule.anchor)}"><h4>{head}</h4>{question}'
            f'<p class="because">Because: {e(", ".join(rule.because))}</p>{quote(rule.source, shown)}{concerns}</article>')


def _option(option: dict[str, Any], anchors: dict[tuple[str, str], str], answer: dict[str, Any]) -> str:
    reasons = ", ".join(f'<a href="#{anchors[(r["kind"], r["id"])]}">{e(KIND_WORDS.get(r["kind"], r["kind"]).lower())}: '
                        f'{e(answer["reasons"][r["id"]]["label"])}</a>' for r in option["reasons"])
    verdict, n = option["guidelines"]["verdict"], len(option["guidelines"]["recommendations"])
    why = f" \u2014 {reasons}" if reasons else ""
    return (f'<li id="{option_anchor(option["id"])}"><strong>{e(option["label"])}</strong>{why} '
            f'<span class="verdict">(guidelines: {e(verdict)}, {n} recommendation{"" if n == 1 else "s"})</span></li>')
