"""The web pages: a situation form with autocomplete, the answer grouped by status with every reason and its source
quote, and a page per concept. Plain server-rendered HTML (every value escaped) plus one small script that only adds
"add another" buttons; everything works without JavaScript and without a build step.

The concept index (labels, synonyms, codes, rules) is read from the graph once, at start, in the server process; it is
read-only afterwards.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from urllib.parse import urlencode
from typing import Any, Iterable

from rdflib import Literal, URIRef
from rdflib.namespace import RDF, RDFS, SKOS

from hipkg import DISCLAIMER, __version__, answer_html, concept_svg
from hipkg.mappings import MATCHING_PREDICATES
from hipkg.namespaces import HIPKG, PREFIXES, curie
from hipkg.resources import examples_dir, walk
FINDING_CODE_PREFIXES = ("ICD10CM", "SNOMEDCT")
ALLERGY_CODE_PREFIXES = ("RXNORM", "SNOMEDCT")
PREDICATE_TEXT = {"skos:exactMatch": "exact match", "skos:closeMatch": "close match", "skos:narrowMatch": "narrower code",
                  "skos:broadMatch": "broader code", "skos:relatedMatch": "related code"}
_HIDDEN = {RDF.type, RDFS.label, SKOS.altLabel, SKOS.definition, HIPKG.within, HIPKG.appliesToOption}


def e(value: Any) -> str:
    return escape(str(value), quote=True)


@dataclass
class Concept:
    iri: URIRef
    id: str
    label: str
    synonyms: list[str] = field(default_factory=list)
    definition: str = ""
    types: list[str] = field(default_factory=list)
    codes: list[tuple[str, str, str, str]] = field(default_factory=list)  # (predicate, code, code label, link)


class ConceptIndex:
    """Labels, synonyms, codes and rules of the graph's concepts, for pages and autocomplete."""

    def __init__(self, kg: Any) -> None:
        data = kg.data
        self.kg = kg
        self.concepts: dict[str, Concept] = {}
        for subject, label in data.subject_objects(RDFS.label):
            if isinstance(subject, URIRef) and str(subject).startswith(str(HIPKG)):
                cid = curie(subject)
                c = self.concepts.setdefault(cid, Concept(subject, cid, str(label)))
                c.synonyms = sorted({str(v) for v in data.objects(subject, SKOS.altLabel)}, key=str.casefold)
                c.definition = str(data.value(subject, SKOS.definition) or "")
                c.types = sorted(curie(t) for t in data.objects(subject, RDF.type) if isinstance(t, URIRef))
        ms = kg.mapping_set
        for m in ms.mappings:
            if m.is_no_term_found or m.subject_id not in self.concepts:
                continue
            try:
                link = str(ms.expand(m.object_id))
            except Exception:  # noqa: BLE001 - a code without a resolvable prefix gets no link
                link = ""
            self.concepts[m.subject_id].codes.append((m.predicate_id, m.object_id, m.object_label, link))
        self.by_name: dict[str, set[str]] = defaultdict(set)
        for c in self.concepts.values():
            for name in (c.label, *c.synonyms):
                self.by_name[name.casefold()].add(c.id)
        self.citations = {curie(r["statement"]): r for r in kg.query("recommend/citations")}
        # rules a concept triggers: rule --triggeredBy/triggeredByAllergyTo/requiresAlso--> X, concept hipkg:within X
        self.rules: dict[str, list[tuple[str, str]]] = defaultdict(list)
        rows = kg.query("knowledge/concept-rules")
        for r in rows:
            self.rules[curie(r["concept"])].append((curie(r["rule"]), curie(r["how"])))
        self.findings = self._choices("hipkg:Condition", FINDING_CODE_PREFIXES)
        self.allergies = self._choices(("hipkg:Medication", "hipkg:MedicationCategory"), ALLERGY_CODE_PREFIXES)
        self.goals = sorted(kg.vocabulary.purposes)
        self.goal_labels = {g: kg.vocabulary.goal_label(g) for g in self.goals}
        self.examples = _examples()
        #: status slug -> (title, meaning), in the order answers list them: the graph's labels and definitions.
        self.statuses = {s.slug: (s.label[:1].upper() + s.label[1:], s.definition) for s in kg.vocabulary.statuses}
        self.not_indicated = kg.vocabulary.not_indicated

    def _choices(self, types: str | tuple[str, ...], code_prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
        """(value, text) options for a datalist: each concept's CURIE, then its codes that reach it."""
        wanted = (types,) if isinstance(types, str) else types
        out: list[tuple[str, str]] = []
        for c in sorted(self.concepts.values(), key=lambda c: c.label.casefold()):
            if not set(c.types) & set(wanted):
                continue
            names = c.label + (f" ({'; '.join(c.synonyms)})" if c.synonyms else "")
            out.append((c.id, names))
            for pred, code, _, _ in c.codes:
                if pred in MATCHING_PREDICATES and code.split(":")[0] in code_prefixes:
                    out.append((code, f"{c.label} \u2014 {code}"))
        return out

    def resolve(self, text: str, kind: str) -> str | None:
        """A typed entry as a code: a CURIE as it is, or a label / synonym naming exactly one concept of that kind."""
        text = text.strip()
        if ":" in text and " " not in text:
            return text
        allowed = {v for v, _ in (self.findings if kind == "finding" else self.allergies) if v.startswith("hipkg:")}
        ids = {i for i in self.by_name.get(text.casefold(), set()) if i in allowed}
        return ids.pop() if len(ids) == 1 else None

    def name(self, cid: str) -> str:
        c = self.concepts.get(cid)
        return c.label if c else cid


# ------------------------------------------------------------------------------------------------ layout


def layout(title: str, body: str, *, home: bool = False) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} \u2014 hipkg</title>
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
  <a class="brand" href="/">hipkg</a>
  <nav aria-label="Site"><a href="/"{' aria-current="page"' if home else ''}>Situation</a> <a href="/queries">Queries (JSON)</a> <a href="/sparql">SPARQL</a> <a href="/openapi.json">API</a></nav>
</header>
<p class="disclaimer" role="note"><strong>Clinical disclaimer.</strong> {e(DISCLAIMER)}</p>
<main id="main">
{body}
</main>
<footer class="site"><p>hipkg {e(__version__)} \u00b7 therapeutic hip injections as a knowledge graph \u00b7 <a href="/sparql">SPARQL endpoint</a> \u00b7 <a href="/openapi.json">OpenAPI</a></p></footer>
</body>
</html>
"""


def _inputs(kind: str, values: list[str], listid: str, extra: int = 1) -> str:
    rows = []
    for i, value in enumerate([*values, *([""] * extra)], start=1):
        rows.append(
            f'<li><label for="{kind}-{i}">{kind.capitalize()} {i}</label>'
            f'<input id="{kind}-{i}" name="{kind}" list="{listid}" value="{e(value)}" autocomplete="off" '
            f'spellcheck="false" aria-describedby="{kind}-help"></li>'
        )
    return "\n".join(rows)


def _examples() -> list[tuple[str, str]]:
    """(name, query string) of each bundled example the form can hold (findings, allergies, goal only), by name."""
    out = []
    for node in walk(examples_dir(), ".json"):
        if node.name.endswith(".expected.json"):
            continue
        try:
            data = json.loads(node.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or set(data) - {"findings", "allergies", "goal"} or not all(isinstance(f, str) for f in data.get("findings", [])):
            continue
        pairs = [("finding", f) for f in data["findings"]] + [("allergy", a) for a in data.get("allergies", [])]
        pairs += [("goal", data["goal"])] if "goal" in data else []
        out.append((node.name[:-5].replace("-", " "), urlencode(pairs)))
    return out


def examples(index: ConceptIndex) -> str:
    """The home page's links to example situations: the first few, the rest folded."""
    links = [f'<li><a href="/?{e(query)}">{e(name)}</a></li>' for name, query in index.examples]
    if not links:
        return ""
    more = f'<details><summary>{len(links) - 6} more</summary><ul>{"".join(links[6:])}</ul></details>' if len(links) > 6 else ""
    return f'<section class="examples" aria-labelledby="h-examples"><h2 id="h-examples">Example situations</h2><ul>{"".join(links[:6])}</ul>{more}</section>'


def _datalist(listid: str, choices: Iterable[tuple[str, str]]) -> str:
    options = "".join(f'<option value="{e(v)}" label="{e(t)}">{e(t)}</option>' for v, t in choices)
    return f'<datalist id="{listid}">{options}</datalist>'


def form(index: ConceptIndex, findings: list[str], allergies: list[str], goal: str, folded: bool = False) -> str:
    """The situation form; ``folded`` (an answer is shown above it): inside a closed <details>."""
    html = _form(index, findings, allergies, goal)
    if folded:
        return f'<details class="change"><summary>Change the situation</summary>{html}</details>'
    return '<h1>Which hip injection options fit a situation, and why</h1>' + html


def _form(index: ConceptIndex, findings: list[str], allergies: list[str], goal: str) -> str:
    goals = "".join(
        f'<label class="choice"><input type="radio" name="goal" value="{e(g)}"{" checked" if g == goal else ""}> {e(index.goal_labels[g])}</label>'
        for g in index.goals
    )
    return f"""<form method="get" action="/" id="situation" class="situation">
<fieldset>
<legend>Findings</legend>
<p id="finding-help" class="help">Type a condition's name, a synonym or a code (ICD-10-CM such as <code>ICD10CM:M16.12</code>, SNOMED CT, or hipkg) and pick from the suggestions. At least one.</p>
<ul class="entries" id="finding-list" data-kind="finding">
{_inputs("finding", findings, "finding-options", 1 if findings else 1)}
</ul>
<button type="button" class="add" data-add="finding" hidden>Add another finding</button>
</fieldset>
<fieldset>
<legend>Allergies</legend>
<p id="allergy-help" class="help">Optional. A substance or medication class by name or code (RxNorm such as <code>RXNORM:6387</code>, SNOMED CT, or hipkg).</p>
<ul class="entries" id="allergy-list" data-kind="allergy">
{_inputs("allergy", allergies, "allergy-options")}
</ul>
<button type="button" class="add" data-add="allergy" hidden>Add another allergy</button>
</fieldset>
<fieldset>
<legend>Goal</legend>
{goals}
</fieldset>
<p><button type="submit" class="primary">Show options</button></p>
{_datalist("finding-options", index.findings)}
{_datalist("allergy-options", index.allergies)}
</form>
"""


def _concept_link(index: ConceptIndex, cid: str, text: str | None = None) -> str:
    if cid in index.concepts:
        return f'<a href="/concept/{e(cid)}">{e(text or index.name(cid))}</a>'
    return e(text or cid)


def answer(index: ConceptIndex, data: dict[str, Any]) -> str:
    """The recommendation JSON (Recommendation.to_json()) as HTML (hipkg.answer_html): the matrix first, each rule
    once, concepts and rules linked to their pages."""
    statuses = [(slug, title, meaning) for slug, (title, meaning) in index.statuses.items()]
    return answer_html.section(data, index.kg.term_labels, statuses, lambda cid, text: _concept_link(index, cid, text))


# ------------------------------------------------------------------------------------------------ concept page


def concept_page(index: ConceptIndex, cid: str) -> str:
    c = index.concepts[cid]
    data = index.kg.data
    parts = [f'<p class="crumbs"><a href="/">Situation</a> \u203a concept</p><h1>{e(c.label)}</h1>',
             f'<p class="ids"><code>{e(c.id)}</code> \u00b7 {", ".join(_concept_link(index, t) for t in c.types) or "untyped"}</p>']
    if c.definition:
        parts.append(f'<section><h2>Definition</h2><p class="definition">{e(c.definition)}</p></section>')
    rows = [(str(r[0]), curie(r[1]), str(r[2]), str(r[3]) if r[3] is not None else None, int(r[4]))
            for r in index.kg.query("knowledge/neighbourhood", concept=c.iri).rows]
    if rows:
        picture = concept_svg.svg(cid, c.label, rows, lambda node: f"/concept/{node}" if node in index.concepts else None)
        parts.append(f'<section><h2>Its neighbourhood</h2><figure class="neighbourhood-figure">{picture}</figure></section>')
    if c.synonyms:
        parts.append("<section><h2>Synonyms</h2><ul class=\"synonyms\">" + "".join(f"<li>{e(s)}</li>" for s in c.synonyms) + "</ul></section>")
    if c.codes:
        rows = "".join(
            f'<tr><td>{e(PREDICATE_TEXT.get(p, p))}</td><td>{f"<a href={chr(34)}{e(link)}{chr(34)} rel={chr(34)}noopener noreferrer{chr(34)}>{e(code)}</a>" if link else e(code)}</td><td>{e(label)}</td></tr>'
            for p, code, label, link in sorted(c.codes, key=lambda x: (x[1].split(":")[0], x[1]))
        )
        parts.append('<section><h2>Codes</h2><div class="scroll"><table><thead><tr><th scope="col">Relation</th><th scope="col">Code (links to its terminology)</th>'
                     f'<th scope="col">Name in the terminology</th></tr></thead><tbody>{rows}</tbody></table></div></section>')
    rules = index.rules.get(cid, [])
    if rules:
        items = []
        for rule, how in rules:
            kind = ", ".join(index.name(t) for t in (curie(t) for t in data.objects(URIRef(_expand(rule)), RDF.type)))
            cite = index.citations.get(rule)
            quote = answer_html.quote({"quote": str(cite["quote"]), "source": str(cite["sourceTitle"]), "section": str(cite["section"])}) if cite else ""
            via = {"hipkg:triggeredBy": "triggers", "hipkg:triggeredByAllergyTo": "an allergy to it triggers",
                   "hipkg:requiresAlso": "required as well"}.get(how, how)
            items.append(f'<li><span class="kind">{e(kind)}</span> {_concept_link(index, rule)} <span class="because">({e(via)})</span>{quote}</li>')
        parts.append(f'<section><h2>What it indicates or contraindicates</h2><ul class="reasons">{"".join(items)}</ul></section>')
    parts.append(_statements(index, c.iri))
    return "\n".join(parts)


def _expand(cid: str) -> str:
    prefix, _, local = cid.partition(":")
    return PREFIXES.get(prefix, prefix + ":") + local


def _term_html(index: ConceptIndex, term: Any) -> str:
    if isinstance(term, URIRef):
        cid = curie(term)
        passage = index.kg.data.value(term, HIPKG.quote)
        if passage is not None:  # a source passage: its words, not its identifier
            return f"\u201c{e(passage)}\u201d"
        return _concept_link(index, cid) if cid in index.concepts else f"<code>{e(cid)}</code>"
    if isinstance(term, Literal):
        return e(term)
    return "<em>(structure)</em>"


def _statements(index: ConceptIndex, iri: URIRef) -> str:
    data = index.kg.data
    out_rows, in_rows = [], []
    for p, o in sorted(data.predicate_objects(iri), key=lambda x: (str(x[0]), str(x[1]))):
        if p in _HIDDEN or str(p).startswith(str(SKOS)) and "Match" in str(p):
            continue
        out_rows.append(f"<tr><th scope=\"row\">{e(index.name(curie(p)))}</th><td>{_term_html(index, o)}</td></tr>")
    for s, p in sorted(data.subject_predicates(iri), key=lambda x: (str(x[1]), str(x[0]))):
        if p in _HIDDEN or not isinstance(s, URIRef):
            continue
        in_rows.append(f"<tr><td>{_term_html(index, s)}</td><th scope=\"row\">{e(index.name(curie(p)))}</th></tr>")
    html = []
    if out_rows:
        html.append(f'<section><h2>Statements</h2><div class="scroll"><table class="kv"><tbody>{"".join(out_rows[:80])}</tbody></table></div></section>')
    if in_rows:
        more = f"<p>and {len(in_rows) - 80} more.</p>" if len(in_rows) > 80 else ""
        html.append(f'<section><h2>Referred to by</h2><div class="scroll"><table class="kv"><tbody>{"".join(in_rows[:80])}</tbody></table></div>{more}</section>')
    return "\n".join(html)


def message_page(title: str, message: str) -> str:
    return layout(title, f'<h1>{e(title)}</h1><p class="error" role="alert">{e(message)}</p><p><a href="/">Back to the situation form</a></p>')
