"""Which options fit a situation, and why: holds the situations in the store for the queries of queries/recommend/,
joins what they return and formats it. No clinical rule lives here."""
from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator, NamedTuple, Sequence

from rdflib import Literal, URIRef

from hipkg import DISCLAIMER
from hipkg.codes import candidates
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
        return {s: [o for o in self.options if o.status == s] for s in STATUS_ORDER}


def json_lines(recommendations: Iterable[Recommendation]) -> Iterator[str]:
    """Each recommendation as one line of JSON, exactly ``json.dumps(r.to_json())`` (ASCII, non-ASCII escaped).

    A batch repeats the same reasons and unconcerned options in most of its answers, so the text of each is made
    once and reused: three times faster than serialising every answer whole (tests check that the text is identical)."""
    made: dict[int, tuple[object, str]] = {}  # id -> (object, its text); holding the object keeps its id unique
    heads: dict[str, str] = {}  # option id -> its JSON object up to (excluding) the status
    assert all(json.dumps(status) == f'"{status}"' for status in STATUS_ORDER)  # statuses need no escaping

    def text_of(obj: Reason | OptionResult | Advice) -> str:
        hit = made.get(id(obj))
        if hit is None or hit[0] is not obj:
            hit = made[id(obj)] = (obj, json.dumps(obj.to_json()))
        return hit[1]

    def option_text(o: OptionResult) -> str:
        if not o.reasons:
            return text_of(o)
        head = heads.get(o.id)
        if head is None:
            whole = o.to_json()
            head = heads[o.id] = json.dumps({k: v for k, v in whole.items() if k not in ("status", "reasons")})[:-1]
        return f"{head}, \"status\": \"{o.status}\", \"reasons\": [{', '.join(map(text_of, o.reasons))}]}}"

    for r in recommendations:
        whole = r.to_json_head()
        yield (f"{{\"situation\": {json.dumps(whole['situation'])}, \"unrecognized\": {json.dumps(whole['unrecognized'])}, "
               f"\"options\": [{', '.join(map(option_text, r.options))}], \"advice\": [{', '.join(map(text_of, r.advice))}], "
               f"\"disclaimer\": {json.dumps(r.disclaimer)}}}")


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


@functools.lru_cache(maxsize=4)
def _effects(kg: "KnowledgeGraph") -> dict[tuple[URIRef, URIRef], tuple[tuple[str, str], ...]]:
    """(rule, goal) -> the (option, kind) pairs it concerns: recommend/effects, which does not depend on the situation."""
    out: dict[tuple[URIRef, URIRef], list[tuple[str, str]]] = {}
    for rule, goal, option, kind in kg.query("recommend/effects").rows:
        out.setdefault((rule, goal), []).append((curie(option), str(kind)))
    return {key: tuple(value) for key, value in out.items()}


@functools.lru_cache(maxsize=4)
def _advice(kg: "KnowledgeGraph") -> dict[URIRef, tuple[str, ...]]:
    """Rule or concept -> the advice it brings: recommend/advice, which does not depend on the situation."""
    out: dict[URIRef, list[str]] = {}
    for trigger, advice in kg.query("recommend/advice").rows:
        out.setdefault(trigger, []).append(curie(advice))
    return {key: tuple(value) for key, value in out.items()}


#: How many (goal, triggered rules) pairs _statuses remembers before it starts again.
_STATUS_MEMO = 50_000


@functools.lru_cache(maxsize=4)
def _statuses(kg: "KnowledgeGraph") -> dict[tuple[URIRef, frozenset[URIRef]], dict[str, str]]:
    """Option statuses per (goal, triggered rules), as recommend/status answered them: a status depends on nothing
    else, and the graph does not change once loaded, so each pair is asked about once per process."""
    return {}


#: How many option sets _option_sets remembers before it starts again (each is a tuple of shared objects).
_OPTION_SETS_MEMO = 20_000


@functools.lru_cache(maxsize=4)
def _option_sets(kg: "KnowledgeGraph") -> dict[tuple[URIRef, tuple[tuple[URIRef, str], ...]], tuple[OptionResult, ...]]:
    """A case's options, per (goal, triggered rules with what triggered each): nothing else changes them, and
    situations that give the same codes for the same goal share them (their answers are immutable)."""
    return {}


@functools.lru_cache(maxsize=4)
def _described(kg: "KnowledgeGraph") -> tuple[tuple[tuple[Any, ...], OptionResult], ...]:
    """Each option's descriptive fields, with its result when no triggered rule concerns it: not-indicated, without
    reasons (recommend/status)."""
    out = []
    for oid, o in sorted(_options(kg).items()):
        fields = (oid, o["label"], o["target"], o["guidance"], tuple(o["categories"]), o["purpose"])
        out.append((fields, OptionResult(*fields, "not-indicated", ())))
    return tuple(out)


def recommend(kg: "KnowledgeGraph", situation: Any) -> Recommendation:
    """One situation: the batch path with a batch of one, so both share every query."""
    return next(iter(recommend_many(kg, [coerce(kg, situation)])))


def recommend_many(kg: "KnowledgeGraph", situations: Sequence[Situation]) -> list[Recommendation]:
    """Answer many situations with one run of each per-situation query (set-based, not one query per situation).

    The situations are loaded into the store (hipkg:Situation nodes with IRIs unique to this call) for as long as
    the queries run, so that the same queries answer situations a server already holds (:func:`recommend_stored`)."""
    if not situations:
        return []
    batch = uuid.uuid4().hex
    cases = [URIRef(f"urn:hipkg:situation:{batch}:{i}") for i in range(len(situations))]
    purposes = goals(kg)
    triples = [t for case, s in zip(cases, situations) for t in s.triples(case, purposes[s.goal])]
    with kg.engine.hold(triples):
        return answer(kg, dict(zip(cases, situations)))


def stored_cases(kg: "KnowledgeGraph") -> list[URIRef]:
    """Every situation the store holds (recommend/cases), in IRI order."""
    return [row[0] for row in kg.query("recommend/cases").rows]


def recommend_stored(kg: "KnowledgeGraph", cases: Sequence[URIRef]) -> list[tuple[URIRef, Recommendation | str]]:
    """Answer situations the store already holds (for example a server after ``hipkg push --situations``).

    Each case comes back with its recommendation, or with a message saying why it cannot be answered (no finding,
    a malformed code, an unknown goal): none is dropped."""
    from hipkg.errors import InputError
    from hipkg.situations import from_dict

    slugs = {iri: slug for slug, iri in goals(kg).items()}
    given: dict[URIRef, dict[str, Any]] = {case: {"findings": []} for case in cases}
    for case, goal, codes_of, code in kg.query("recommend/situations", cases=list(cases)).rows:
        data = given[case]
        data.setdefault(str(codes_of), []).append(str(code))
        if goal is not None:
            data["goal"] = slugs.get(goal, curie(goal))
    parsed: dict[URIRef, Situation] = {}
    failed: dict[URIRef, str] = {}
    for case, data in given.items():
        try:
            parsed[case] = from_dict(kg, data, f"situation <{case}>")
        except InputError as exc:
            failed[case] = str(exc)
    answers = dict(zip(parsed, answer(kg, parsed))) if parsed else {}
    return [(case, answers[case] if case in answers else failed[case]) for case in cases]


def answer(kg: "KnowledgeGraph", situations: dict[URIRef, Situation]) -> list[Recommendation]:
    """The recommendations for situations held in the store under the given IRIs, in the same order.

    Per call: recommend/reached (codes -> concepts), recommend/triggered (concepts -> rules) and recommend/status
    (rules and goal -> option status). Read once per graph: recommend/effects (how a rule concerns an option) and
    recommend/advice; a case's reasons and advice are its triggered rules and reached concepts joined with them.
    Status depends only on a case's triggered rules and goal, so recommend/status is asked only about pairs of those
    not seen before, and rows are deduplicated before they are bound: every bound row costs the engine work."""
    given = {c.curie for s in situations.values() for c in (*s.findings, *s.allergies)}
    expand = kg.mapping_set.expand
    reached = kg.query("recommend/reached", cases=list(situations),
                       candidates=[(code, expand(candidate)) for code in sorted(given) for candidate in candidates(code)]).rows
    named: dict[URIRef, dict[str, set[tuple[str, str]]]] = {}  # case -> code -> (concept, label) it names
    finding_via: dict[tuple[URIRef, Literal, URIRef], None] = {}
    allergy_via: dict[tuple[URIRef, Literal, URIRef], None] = {}
    for case, codes_of, code, concept, label, via in reached:
        if concept == via:
            named.setdefault(case, {}).setdefault(str(code), set()).add((curie(concept), str(label)))
        (finding_via if str(codes_of) == "findings" else allergy_via)[(case, code, via)] = None
    triggered = list(dict.fromkeys(
        (case, rule, str(because))
        for case, rule, because, _ in kg.query(
            "recommend/triggered",
            findings=list(finding_via),
            allergies=list(allergy_via),
            reached=list(dict.fromkeys((case, via) for case, _, via in finding_via)),
        ).rows
    ))

    purposes = goals(kg)
    goal_of = {case: purposes[s.goal] for case, s in situations.items()}
    fired: dict[URIRef, list[tuple[URIRef, str]]] = {}
    for case, rule, because in triggered:
        fired.setdefault(case, []).append((rule, because))
    memo = _statuses(kg)  # (goal, triggered rules) -> option -> status, for such pairs seen before
    profile_of = {case: (goal_of[case], frozenset(r for r, _ in rules)) for case, rules in fired.items()}
    known = {p: found for p in set(profile_of.values()) if (found := memo.get(p)) is not None}
    unseen = list(dict.fromkeys(p for p in profile_of.values() if p not in known))
    if unseen:
        rows = kg.query("recommend/status", triggered=[(str(i), rule, goal) for i, (goal, rules) in enumerate(unseen) for rule in rules]).rows
        found: dict[str, dict[str, str]] = {}
        for sc, option, status in rows:
            found.setdefault(str(sc), {})[curie(option)] = str(status)
        known.update((profile, found.get(str(i), {})) for i, profile in enumerate(unseen))
        if len(memo) > _STATUS_MEMO:
            memo.clear()
        memo.update(known)

    cites, effects, advice_of, described = _citations(kg), _effects(kg), _advice(kg), _described(kg)
    advised: dict[URIRef, dict[str, set[str]]] = {}
    for case, rule, because in triggered:
        for advice in advice_of.get(rule, ()):
            advised.setdefault(case, {}).setdefault(advice, set()).add(because)
    for case, code, via in finding_via:
        for advice in advice_of.get(via, ()):
            advised.setdefault(case, {}).setdefault(advice, set()).add(str(code))
    reasons: dict[tuple[str, URIRef, str], tuple[tuple[int, str, str], Reason]] = {}  # shared by all cases
    option_sets = _option_sets(kg)
    if len(option_sets) > _OPTION_SETS_MEMO:
        option_sets.clear()
    out = []
    for case, s in situations.items():
        # A case's options depend only on its goal and its triggered rules with their triggers (which fix its status).
        key = (goal_of[case], tuple(sorted(fired.get(case, ()))))
        options = option_sets.get(key)
        if options is None:
            status = known[profile_of[case]] if case in profile_of else {}
            options = option_sets[key] = _options_of(fired.get(case, ()), effects.get, goal_of[case], status, described, reasons, cites)
        concepts = {code: tuple(sorted(v)) for code, v in named.get(case, {}).items()}
        unrecognized = tuple(c.curie for c in (*s.findings, *s.allergies) if c.curie not in concepts)
        advice = tuple(Advice(a, cites[a][0], tuple(sorted(b)), cites[a][1]) for a, b in sorted(advised.get(case, {}).items()))
        out.append(Recommendation(s, concepts, unrecognized, options, advice))
    return out


def _options_of(fired: Iterable[tuple[URIRef, str]], effects_of: Any, goal: URIRef, status: dict[str, str],
                described: tuple[tuple[tuple[Any, ...], OptionResult], ...], reasons: dict[Any, Any],
                cites: dict[str, tuple[str, Citation]]) -> tuple[OptionResult, ...]:
    """One case's options in status order, then id order: each triggered rule joined with the options it concerns.

    ``reasons`` interns Reason objects across cases (same kind, rule and trigger), each with its sort key; a case's
    reasons for an option are unique, since effects are distinct per kind and triggered rows per (case, rule, trigger).
    """
    concerned: dict[str, list[tuple[tuple[int, str, str], Reason]]] = {}
    for rule, because in fired:
        for option, kind in effects_of((rule, goal), ()):
            reason = reasons.get((kind, rule, because))
            if reason is None:
                rid = curie(rule)
                label, source = cites[rid]
                reason = reasons[(kind, rule, because)] = ((KIND_ORDER.index(kind), rid, because), Reason(kind, rid, label, because, source))
            if option in concerned:
                concerned[option].append(reason)
            else:
                concerned[option] = [reason]
    by_status: dict[str, list[OptionResult]] = {name: [] for name in STATUS_ORDER}  # options come in id order
    for fields, unconcerned in described:
        found = concerned.get(fields[0])
        if found is None:
            by_status[unconcerned.status].append(unconcerned)
        else:
            found.sort()
            option_status = status[fields[0]]
            by_status[option_status].append(OptionResult(*fields, option_status, tuple([r for _, r in found])))
    return tuple(o for group in by_status.values() for o in group)
