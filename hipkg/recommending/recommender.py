"""Which options fit a situation, and why: the Recommender binds situations' values to the queries of
queries/recommend/ (holding situations with dated events in the store), joins what they return and assembles the
answers. No clinical rule lives here.

Per batch of situations: recommend/reached (codes not seen before -> concepts), recommend/triggered (concepts ->
rules) and recommend/status (rules and goal -> option status, for rule sets not seen before); recommend/observed,
recommend/windows and recommend/checks where a situation has something they read. Read once per graph: recommend/options,
recommend/citations, recommend/effects (how a rule concerns an option) and recommend/advice. A case's reasons and
advice are its triggered rules and reached concepts joined with those tables.
"""
from __future__ import annotations

import datetime
import functools
import uuid
from typing import Any, Iterable, NamedTuple, Sequence

from rdflib import Literal, URIRef

from hipkg.codes import candidates
from hipkg.errors import InputError
from hipkg.namespaces import curie
from hipkg.recommending import gcpause
from hipkg.recommending.guidelines import GuidelineBook, Populations
from hipkg.recommending.memo import Memo
from hipkg.recommending.model import Advice, Citation, Fired as Listed, Guidelines, OptionResult, Reason, Recommendation
from hipkg.situations import Situation, from_dict, from_rows
from hipkg.store import Store

#: What the answer gives as the trigger of a rule every situation triggers (recommend/standing).
ALWAYS = "always"
#: The order of a reason's kinds within an option (recommend/effects names four; an open check is the fifth).
KIND_ORDER = ("contraindication", "check", "guideline", "caution", "indication")

Fields = tuple[Any, ...]  # id, label, target, guidance, categories, purpose, expect (OptionResult's fields before the status)
Fired = tuple[tuple[URIRef, str], ...]  # (rule, what triggered it), sorted
Open = tuple[tuple[URIRef, URIRef, str], ...]  # (check, rule it asks about, what raised it), sorted


class Reached(NamedTuple):
    """What recommend/reached found: the concepts each case's codes name, and what each code reaches (via)."""

    named: dict[URIRef, dict[str, set[tuple[str, str]]]]  # case -> code -> (concept, label)
    findings: dict[tuple[URIRef, Literal, URIRef], None]  # confirmed: (case, code, concept reached), in order
    suspected: dict[tuple[URIRef, Literal, URIRef], None]
    absent: dict[tuple[URIRef, Literal, URIRef], None]
    allergies: dict[tuple[URIRef, Literal, URIRef], None]  # (case, code, concept it names): the queries take what is within


class Recommender:
    """Answers situations on one store. Holds the situation-independent tables (read on first use) and two bounded
    memos: a status depends only on (goal, triggered rules, rules asked about), and a case's options, with the rules and
    questions its answer lists, only on (goal, triggered rules with their triggers, open checks with theirs), so each is
    computed once per process and shared (answers are immutable)."""

    #: How many (goal, triggered rules) pairs the status memo keeps before it starts again.
    STATUS_MEMO = 50_000
    #: How many codes the code memo keeps (what each reaches: a few concepts).
    CODE_MEMO = 100_000
    #: How many option sets the options memo keeps (each is a tuple of shared objects).
    OPTIONS_MEMO = 20_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self.vocabulary = store.vocabulary
        self.codes: Memo[str, tuple[Literal, tuple[tuple[URIRef, tuple[str, str] | None], ...]]] = Memo(self.CODE_MEMO)
        self.statuses: Memo[tuple[URIRef, frozenset[URIRef], frozenset[URIRef]], dict[str, str]] = Memo(self.STATUS_MEMO)
        self.checks: Memo[tuple[frozenset[Any], ...], tuple[tuple[URIRef, URIRef, str], ...]] = Memo(self.STATUS_MEMO)
        self._assumed: Memo[tuple[Fired, Open, frozenset[URIRef]], tuple[Listed, ...]] = Memo(self.OPTIONS_MEMO)
        self.option_sets: Memo[tuple[URIRef, Fired, Open, Populations], tuple[tuple[OptionResult, ...], tuple[Listed, ...], tuple[Listed, ...]]] = Memo(self.OPTIONS_MEMO)
        self._options: Memo[tuple[str, str, tuple[int, ...], int], OptionResult] = Memo(self.CODE_MEMO)  # equal options shared
        self.book = GuidelineBook(store)
        self._plain: Memo[Populations, tuple[OptionResult, ...]] = Memo(GuidelineBook.MEMO)
        self._reason_lists: Memo[tuple[int, ...], tuple[Reason, ...]] = Memo(self.CODE_MEMO)
        self._advices: Memo[tuple[str, tuple[str, ...]], Advice] = Memo(self.CODE_MEMO)
        self._concerned: Memo[tuple[URIRef, URIRef, str, URIRef | None], tuple[tuple[str, tuple[tuple[int, str, str], Reason]], ...]] = Memo(self.CODE_MEMO)
        self._reasons: dict[tuple[str, URIRef, str, URIRef | None], tuple[tuple[int, str, str], Reason]] = {}  # interned, with sort keys

    # ------------------------------------------------------------------ situation-independent tables

    @functools.cached_property
    def described(self) -> tuple[tuple[Fields, OptionResult], ...]:
        """Each option's descriptive fields, in id order, with its result when no triggered rule concerns it:
        not indicated, without reasons (recommend/status), with the guideline block of a situation that reaches no
        population. Its expected onset and duration are its categories' (recommend/expect), with how long a guideline
        says the benefit lasts where one does (recommend/benefit)."""
        options: dict[str, dict[str, Any]] = {}
        for row in self.store.query("recommend/options"):
            o = options.setdefault(curie(row["option"]), {
                "label": str(row["label"]), "target": str(row["target"]), "guidance": str(row["guidance"]),
                "purpose": str(row["purpose"]), "categories": [],
            })
            o["categories"].append(str(row["category"]))
        course: dict[str, dict[str, list[str]]] = {}
        for slug, aspect, label in self.store.query("recommend/expect").rows:
            course.setdefault(str(slug), {}).setdefault(str(aspect), []).append(str(label))
        benefit: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
        for option, slug, duration, recommendation, population in self.store.query("recommend/benefit").rows:
            benefit.setdefault((curie(option), str(slug)), []).append(
                (str(duration), curie(recommendation), str(population) if population is not None else None))
        plain = self.book.blocks([frozenset()])[frozenset()]
        out = []
        for oid, o in sorted(options.items()):
            expect = tuple((c, tuple(course.get(c, {}).get("onset", ())), tuple(course.get(c, {}).get("duration", ())),
                            tuple(benefit.get((oid, c), ()))) for c in o["categories"])
            fields = (oid, o["label"], o["target"], o["guidance"], tuple(o["categories"]), o["purpose"], expect)
            out.append((fields, OptionResult(*fields, self.vocabulary.not_indicated, (), plain.get(oid, self.book.none))))
        return tuple(out)

    @functools.cached_property
    def citations(self) -> dict[str, tuple[str, Citation]]:
        """First citation (bundled source first) and label of every rule, check, advice and alternative."""
        out: dict[str, tuple[str, Citation]] = {}
        for row in self.store.query("recommend/citations"):
            out.setdefault(curie(row["statement"]), (str(row["label"]), Citation(str(row["section"]), str(row["quote"]), str(row["sourceTitle"]))))
        return out

    @functools.cached_property
    def questions(self) -> dict[str, str]:
        """Check -> its question (recommend/citations)."""
        return {curie(row["statement"]): str(row["question"]) for row in self.store.query("recommend/citations") if row["question"] is not None}

    @functools.cached_property
    def _effect_rows(self) -> tuple[tuple[Any, ...], ...]:
        return self.store.query("recommend/effects").rows

    @functools.cached_property
    def effects(self) -> dict[tuple[URIRef, URIRef], tuple[tuple[str, str], ...]]:
        """(rule, goal) -> the (option, kind) pairs it concerns (recommend/effects)."""
        out: dict[tuple[URIRef, URIRef], list[tuple[str, str]]] = {}
        for rule, goal, option, kind, _ in self._effect_rows:
            out.setdefault((rule, goal), []).append((curie(option), str(kind)))
        return {key: tuple(value) for key, value in out.items()}

    @functools.cached_property
    def severities(self) -> dict[str, str]:
        """Rule -> the severity its reasons of kind guideline name (recommend/effects)."""
        return {curie(rule): str(severity) for rule, _, _, _, severity in self._effect_rows if severity is not None}

    @functools.cached_property
    def advice(self) -> dict[URIRef, tuple[str, ...]]:
        """Rule or concept -> the advice it brings (recommend/advice)."""
        out: dict[URIRef, list[str]] = {}
        for trigger, advice in self.store.query("recommend/advice").rows:
            out.setdefault(trigger, []).append(curie(advice))
        return {key: tuple(value) for key, value in out.items()}

    # ------------------------------------------------------------------ entry points

    def recommend(self, situation: Situation) -> Recommendation:
        """One situation: the batch path with a batch of one, so both share every query."""
        return self.recommend_many([situation])[0]

    @gcpause.paused()
    def recommend_many(self, situations: Sequence[Situation]) -> list[Recommendation]:
        """Answer many situations with one run of each per-situation query (set-based, not one query per situation).

        Situations with dated events (observations, procedures) are loaded into the store (hipkg:Situation nodes with
        IRIs unique to this call) for as long as the queries run, so that recommend/observed and recommend/windows read
        them as they read situations a server already holds (recommend_stored); every other query takes its values bound."""
        if not situations:
            return []
        batch = uuid.uuid4().hex
        cases = [URIRef(f"urn:hipkg:situation:{batch}:{i}") for i in range(len(situations))]
        purposes = self.vocabulary.purposes
        triples = [t for case, s in zip(cases, situations) if s.observations or s.procedures
                   for t in s.triples(case, purposes[s.goal], self.vocabulary)]
        if not triples:
            return self.answer(dict(zip(cases, situations)))
        with self.store.engine.hold(triples):
            return self.answer(dict(zip(cases, situations)))

    def stored_cases(self) -> list[URIRef]:
        """Every situation the store holds (recommend/cases), in IRI order."""
        return [row[0] for row in self.store.query("recommend/cases").rows]

    @gcpause.paused()
    def recommend_stored(self, cases: Sequence[URIRef]) -> list[tuple[URIRef, Recommendation | str]]:
        """Answer situations the store already holds (for example a server after ``hipkg push --situations``).

        Each case comes back with its recommendation, or with a message saying why it cannot be answered (no finding,
        a malformed code, an unknown goal, fewer triples than its completeness mark says): none is dropped."""
        held: dict[URIRef, dict[str, list[str]]] = {case: {} for case in cases}
        goals: dict[URIRef, dict[str, str]] = {case: {} for case in cases}
        for case, goal, policy, field, value in self.store.query("recommend/situations", cases=list(cases)).rows:
            held[case].setdefault(str(field), []).append(str(value))
            if goal is not None:
                goals[case]["goal"] = self.vocabulary.goal_slug(goal) or curie(goal)
            if policy is not None:
                goals[case]["policy"] = self.vocabulary.policy_slug(policy) or curie(policy)
        events: dict[URIRef, list[tuple[str, str, Any, Any]]] = {case: [] for case in cases}
        for case, kind, event, prop, value in self.store.query("recommend/situation-events", cases=list(cases)).rows:
            events[case].append((str(kind), str(event), str(prop), value))
        given = {case: {**from_rows(self.vocabulary, held[case], events[case]), **goals[case]} for case in cases}
        parsed: dict[URIRef, Situation] = {}
        failed: dict[URIRef, str] = {}
        for case, expected, count in self.store.query("recommend/stored-counts", cases=list(cases)).rows:
            if int(count) != int(expected):
                failed[case] = (f"situation <{case}> is incomplete in the store: {int(count)} of the {int(expected)} triples its push "
                                "sent (an interrupted push?); push it again, which adds only what is missing")
        for case, data in given.items():
            if case in failed:
                continue
            try:
                parsed[case] = from_dict(self.vocabulary, data, f"situation <{case}>")
            except InputError as exc:
                failed[case] = str(exc)
        answers = dict(zip(parsed, self.answer(parsed))) if parsed else {}
        return [(case, answers[case] if case in answers else failed[case]) for case in cases]

    # ------------------------------------------------------------------ the steps

    def answer(self, situations: dict[URIRef, Situation]) -> list[Recommendation]:
        """The recommendations for situations held in the store under the given IRIs, in the same order."""
        reached = self.reach(situations)
        self.observe(situations, reached)
        self.under_policy(situations, reached)
        triggered = self.trigger(list(situations), reached)
        opened = self.check(reached, triggered)
        goal_of = {case: self.vocabulary.purposes[s.goal] for case, s in situations.items()}
        fired: dict[URIRef, list[tuple[URIRef, str]]] = {}
        for case, rule, because in triggered:
            fired.setdefault(case, []).append((rule, because))
        asked: dict[URIRef, list[tuple[URIRef, URIRef, str]]] = {}
        for case, check, rule, because in opened:
            asked.setdefault(case, []).append((check, rule, because))
        statuses = self.status({case: (goal_of[case], frozenset(r for r, _ in fired.get(case, ())),
                                       frozenset(r for _, r, _ in asked.get(case, ())))
                                for case in {*fired, *asked}})
        advised = self._advised(triggered, reached)
        populations: dict[URIRef, set[URIRef]] = {case: set() for case in situations}
        known = self.book.populations
        for case, _, via in reached.findings:
            if via in known:
                populations[case].add(via)
        sets = {case: frozenset(found) for case, found in populations.items()}
        blocks = self.book.blocks(sets.values())
        today = datetime.date.today().isoformat()
        out = []
        for case, s in situations.items():
            key = (goal_of[case], tuple(sorted(fired.get(case, ()))), tuple(sorted(asked.get(case, ()))), sets[case])
            made = self.option_sets.get(key)
            if made is None:
                made = self.option_sets.put(key, (self.assemble(key[1], key[2], key[0], statuses.get(case, {}), self._unconcerned(sets[case], blocks)),
                                                  self._listed(key[1]), self._listed_checks(key[2])))
            options, rules, questions = made
            ruled_out = frozenset(via for c, _, via in reached.absent if c == case) if s.absent else frozenset()
            assumed = self._assumed.get((key[1], key[2], ruled_out))
            if assumed is None:
                assumed = self._assumed.put((key[1], key[2], ruled_out), self.assumed_absent(key[1], key[2], ruled_out))
            concepts = {code: tuple(sorted(v)) for code, v in reached.named.get(case, {}).items()}
            given = (*s.findings, *s.suspected, *s.absent, *s.medications, *(p.code for p in s.procedures), *s.allergies)
            unrecognized = tuple(c.curie for c in given if c.curie not in concepts) + tuple(
                o.code.curie for o in s.observations if o.code.curie not in self.vocabulary.observation_units)
            advice = tuple(self._advice(a, tuple(sorted(b))) for a, b in sorted(advised.get(case, {}).items()))
            out.append(Recommendation(s, concepts, unrecognized, options, advice, self.vocabulary.status_order, s.date or today,
                                      rules, questions, assumed, self.book.practice, s.reading))
        return out

    def _advice(self, advice: str, because: tuple[str, ...]) -> Advice:
        """An advice with what brought it, shared by the cases that have both (bounded, like the code memo)."""
        made = self._advices.get((advice, because))
        if made is None:
            made = self._advices.put((advice, because), Advice(advice, self.citations[advice][0], because, self.citations[advice][1]))
        return made

    def _listed(self, fired: Fired) -> tuple[Listed, ...]:
        """Each triggered rule once, with everything that triggered it."""
        by_rule: dict[URIRef, list[str]] = {}
        for rule, because in fired:
            by_rule.setdefault(rule, []).append(because)
        return tuple(Listed(curie(r), self.citations[curie(r)][0], tuple(sorted(b))) for r, b in sorted(by_rule.items()))

    def _listed_checks(self, opened: Open) -> tuple[Listed, ...]:
        """Each open check once per rule it asks about, with everything that raised it."""
        by_check: dict[tuple[URIRef, URIRef], list[str]] = {}
        for check, rule, because in opened:
            by_check.setdefault((check, rule), []).append(because)
        out = []
        for (check, rule), because in sorted(by_check.items()):
            cid = curie(check)
            out.append(Listed(curie(rule), self.citations[curie(rule)][0], tuple(sorted(because)), cid, self.questions[cid]))
        return tuple(out)

    def reach(self, situations: dict[URIRef, Situation]) -> Reached:
        """recommend/reached for the codes not seen before, then each case's codes joined with what they reach.

        What a code reaches depends only on the graph, so it is asked once per code and process (the code memo): a
        batch's codes repeat far more than its situations do. Candidates (a code and its ICD-10-CM ancestors) are bound
        as IRIs, so each is an index lookup."""
        fields = [(case, (("findings", s.findings), ("suspected", s.suspected), ("absent", s.absent), ("medications", s.medications),
                          ("procedures", tuple(p.code for p in s.procedures)), ("allergies", s.allergies)))
                  for case, s in situations.items()]
        known = {c.curie: None for _, given in fields for _, codes in given for c in codes}
        known = {code: self.codes.get(code) for code in known}
        unseen = sorted(code for code, hits in known.items() if hits is None)
        if unseen:
            expand = self.store.mapping_set.expand
            # The candidates name the codes too; binding both (one VALUES each) made Oxigraph take 9 s for 700 codes.
            rows = self.store.query("recommend/reached", candidates=[(code, expand(c)) for code in unseen for c in candidates(code)]).rows
            found: dict[str, list[tuple[URIRef, tuple[str, str] | None]]] = {code: [] for code in unseen}
            for code, concept, label, via in rows:  # via: what the code reaches; concept == via: what it names
                found[str(code)].append((via, (curie(concept), str(label)) if concept == via else None))
            for code, hits in found.items():
                known[code] = self.codes.put(code, (Literal(code), tuple(hits)))
        reached = Reached({}, {}, {}, {}, {})
        rows_of = {"findings": reached.findings, "suspected": reached.suspected, "absent": reached.absent,
                   "medications": reached.findings, "allergies": reached.allergies,  # a current medication counts as a finding
                   "procedures": {}}  # a procedure's code is named; what its date means is recommend/windows
        for case, given in fields:
            for field, codes in given:
                into = rows_of[field]
                for c in codes:
                    code, hits = known[c.curie]
                    for via, named in hits:
                        if named is not None:
                            reached.named.setdefault(case, {}).setdefault(c.curie, set()).add(named)
                        if named is not None or field != "allergies":
                            into[(case, code, via)] = None
        return reached

    def observe(self, situations: dict[URIRef, Situation], reached: Reached) -> None:
        """recommend/observed and recommend/windows: what observations past a cited threshold, and procedures planned
        inside a cited window or done, reach, added to the confirmed findings with the fact shown as what brought them."""
        cases = [case for case, s in situations.items() if s.observations]
        for case, observation, threshold, via in (self.store.query("recommend/observed", cases=cases).rows if cases else ()):
            o = situations[case].observations[int(str(observation).rsplit("/", 1)[1]) - 1]
            fact = f"{o.code.curie} {o.value:g} {o.unit}" + (f" on {o.date}" if o.date else "") + f" ({self.citations[curie(threshold)][0]})"
            reached.findings[(case, Literal(fact), via)] = None
        cases = [case for case, s in situations.items() if s.procedures]
        for case, procedure, window, via in (self.store.query("recommend/windows", cases=cases).rows if cases else ()):
            p = situations[case].procedures[int(str(procedure).rsplit("/", 1)[1]) - 1]
            when = f" planned for {p.date}" if p.planned else f" on {p.date}" if p.date else ""
            fact = f"{p.code.curie}{when} ({self.citations[curie(window)][0]})"
            reached.findings[(case, Literal(fact), via)] = None

    def under_policy(self, situations: dict[URIRef, Situation], reached: Reached) -> None:
        """A situation reaches its policy's concept, as a finding would: the policy's rules (derive/2b-guideline-rules)
        are triggered by it or require it."""
        policy = self.vocabulary.policy
        named = {slug: Literal(f"policy {slug}") for slug in {s.policy for s in situations.values()}}
        for case, s in situations.items():
            reached.findings[(case, named[s.policy], policy[s.policy])] = None

    @functools.cached_property
    def standing(self) -> tuple[URIRef, ...]:
        """The rules every situation triggers (recommend/standing)."""
        return tuple(rule for (rule,) in self.store.query("recommend/standing").rows)

    @functools.cached_property
    def rule_terms(self) -> dict[str, frozenset[URIRef]]:
        """Role (triggers, requires, allergy) -> the concepts in that role of some rule (recommend/rule-terms)."""
        out: dict[str, set[URIRef]] = {"triggers": set(), "requires": set(), "allergy": set()}
        for role, term in self.store.query("recommend/rule-terms").rows:
            out[str(role)].add(term)
        return {role: frozenset(terms) for role, terms in out.items()}

    def trigger(self, cases: list[URIRef], reached: Reached) -> list[tuple[URIRef, URIRef, str]]:
        """recommend/triggered, then recommend/standing for every case: (case, rule, what triggered it), distinct.

        Only rows whose concept has a role in some rule are bound (recommend/rule-terms): no other row can match."""
        terms = self.rule_terms
        triggers, requires, allergy = terms["triggers"], terms["requires"], terms["allergy"]
        rows = self.store.query(
            "recommend/triggered",
            findings=[row for row in reached.findings if row[2] in triggers],
            suspected=[row for row in reached.suspected if row[2] in triggers],
            allergies=[row for row in reached.allergies if row[2] in allergy],
            reached=list(dict.fromkeys((case, via) for case, _, via in (*reached.findings, *reached.suspected) if via in requires)),
        ).rows
        found = list(dict.fromkeys((case, rule, str(because)) for case, rule, because, _ in rows))
        return found + [(case, rule, ALWAYS) for case in cases for rule in self.standing]

    @functools.cached_property
    def avoid_rules(self) -> dict[URIRef, frozenset[URIRef]]:
        """Every avoid-level contraindication -> the concepts that trigger it (recommend/avoid-rules)."""
        out: dict[URIRef, set[URIRef]] = {}
        for rule, trigger in self.store.query("recommend/avoid-rules").rows:
            out.setdefault(rule, set()).update([trigger] if trigger is not None else [])
        return {rule: frozenset(triggers) for rule, triggers in out.items()}

    def assumed_absent(self, fired: Fired, opened: Open, ruled_out: frozenset[URIRef]) -> tuple[Listed, ...]:
        """The avoid-level contraindications a case neither triggers, nor asks about, nor rules out: what "fits"
        assumes absent (the source's procedure: "Screen for factors that may increase risk")."""
        named = {rule for rule, _ in fired} | {rule for _, rule, _ in opened}
        return tuple(Listed(curie(rule), self.citations[curie(rule)][0], ()) for rule, triggers in sorted(self.avoid_rules.items())
                     if rule not in named and not (triggers & ruled_out))

    @functools.cached_property
    def check_terms(self) -> dict[str, frozenset[URIRef]]:
        """Role (raises, raises-allergy, answers, asks) -> every concept or rule in that role of some check
        (recommend/check-raisers)."""
        out: dict[str, set[URIRef]] = {"raises": set(), "raises-allergy": set(), "answers": set(), "asks": set()}
        for _, role, term in self.store.query("recommend/check-raisers").rows:
            out[str(role)].add(term)
        return {role: frozenset(terms) for role, terms in out.items()}

    def check(self, reached: Reached, triggered: list[tuple[URIRef, URIRef, str]]) -> list[tuple[URIRef, URIRef, URIRef, str]]:
        """recommend/checks: (case, check, rule asked about, what raised it) for the checks each case leaves open.

        A case's open checks depend only on what of it raises a check, what answers one, what it suspects and which of
        the rules asked about it fires: a bounded memo keeps the answer per such profile, and the query runs only for
        the cases whose profile is new (most situations have nothing that raises a check, and skip it altogether)."""
        terms = self.check_terms
        rows_of: dict[URIRef, dict[str, set[Any]]] = {}

        def add(case: URIRef, part: str, item: Any) -> None:
            rows_of.setdefault(case, {"raised": set(), "answered": set(), "suspected": set(), "allergies": set(), "fired": set()})[part].add(item)

        for case, because, via in reached.findings:
            if via in terms["raises"]:
                add(case, "raised", (because, via))
        for case, because, via in reached.suspected:
            add(case, "suspected", (because, via))
            if via in terms["raises"]:
                add(case, "raised", (because, via))
        for case, because, named in reached.allergies:
            if named in terms["raises-allergy"]:
                add(case, "allergies", (because, named))
        asking = [case for case in rows_of if rows_of[case]["raised"] or rows_of[case]["suspected"] or rows_of[case]["allergies"]]
        if not asking:
            return []
        for case, _, via in (*reached.findings, *reached.suspected, *reached.absent):
            if case in rows_of and via in terms["answers"]:
                add(case, "answered", via)
        for case, rule, _ in triggered:
            if case in rows_of and (rule in terms["asks"] or rows_of[case]["suspected"]):
                add(case, "fired", rule)
        profile = {case: tuple(frozenset(rows_of[case][part]) for part in ("raised", "answered", "suspected", "allergies", "fired"))
                   for case in asking}
        known = {p: found for p in set(profile.values()) if (found := self.checks.get(p)) is not None}
        unseen = {case: p for case, p in profile.items() if p not in known}
        if unseen:
            first = {}  # one case per unseen profile stands for all cases that share it
            for case, p in unseen.items():
                first.setdefault(p, case)
            cases = set(first.values())
            rows = self.store.query(
                "recommend/checks",
                raised=[(case, because, via) for case in cases for because, via in rows_of[case]["raised"]],
                answered=[(case, via) for case in cases for via in rows_of[case]["answered"]],
                suspected=[(case, because, via) for case in cases for because, via in rows_of[case]["suspected"]],
                allergies=[(case, because, named) for case in cases for because, named in rows_of[case]["allergies"]],
                fired=[(case, rule) for case in cases for rule in rows_of[case]["fired"]],
            ).rows
            found: dict[URIRef, set[tuple[URIRef, URIRef, str]]] = {case: set() for case in cases}
            for case, check, rule, because in rows:
                found[case].add((check, rule, str(because)))
            for p, case in first.items():
                known[p] = self.checks.put(p, tuple(sorted(found[case])))
        return sorted((case, check, rule, because) for case, p in profile.items() for check, rule, because in known[p])

    def status(self, profiles: dict[URIRef, tuple[URIRef, frozenset[URIRef], frozenset[URIRef]]]) -> dict[URIRef, dict[str, str]]:
        """recommend/status for each case's (goal, triggered rules), asked only about pairs not seen before; rows are
        deduplicated before they are bound, since every bound row costs the engine work."""
        known = {p: found for p in set(profiles.values()) if (found := self.statuses.get(p)) is not None}
        unseen = list(dict.fromkeys(p for p in profiles.values() if p not in known))
        if unseen:
            rows = self.store.query(
                "recommend/status",
                triggered=[(str(i), rule, goal) for i, (goal, rules, _) in enumerate(unseen) for rule in rules],
                asked=[(str(i), rule, goal) for i, (goal, _, asked) in enumerate(unseen) for rule in asked],
            ).rows
            found: dict[str, dict[str, str]] = {}
            for index, option, status in rows:
                found.setdefault(str(index), {})[curie(option)] = str(status)
            for i, profile in enumerate(unseen):
                known[profile] = self.statuses.put(profile, found.get(str(i), {}))
        return {case: known[profile] for case, profile in profiles.items()}

    def _unconcerned(self, populations: Populations, blocks: dict[Populations, dict[str, Guidelines]]) -> tuple[OptionResult, ...]:
        """Each option, in id order, as a case reaching ``populations`` has it when no rule concerns it: not indicated,
        without reasons, with the guideline block of those populations. Kept per set of populations (a batch reaches
        few), so that assemble builds only the options some rule concerns."""
        made = self._plain.get(populations)
        if made is None:
            guidelines = blocks[populations]
            made = self._plain.put(populations, tuple(
                plain if (block := guidelines.get(fields[0], self.book.none)) is plain.guidelines
                else OptionResult(*fields, plain.status, (), block) for fields, plain in self.described))
        return made

    def assemble(self, fired: Fired, opened: Open, goal: URIRef, status: dict[str, str],
                 unconcerned: tuple[OptionResult, ...]) -> tuple[OptionResult, ...]:
        """One case's options in status order, then id order: each triggered rule joined with the options it concerns,
        each option with its guideline block (``unconcerned``: the options as they are when no rule concerns them).

        A case's reasons for an option are unique, since effects are distinct per kind and triggered rows per (case,
        rule, trigger); Reason objects are interned across cases."""
        concerned: dict[str, list[tuple[tuple[int, str, str], Reason]]] = {}
        for rule, because in fired:
            for option, entry in self._concerns(goal, rule, because, None):
                concerned.setdefault(option, []).append(entry)
        for check, rule, because in opened:
            for option, entry in self._concerns(goal, rule, because, check):
                concerned.setdefault(option, []).append(entry)
        by_status: dict[str, list[OptionResult]] = {name: [] for name in self.vocabulary.status_order}
        not_indicated = self.vocabulary.not_indicated
        for (fields, _), plain in zip(self.described, unconcerned):
            found = concerned.get(fields[0])
            if found is None:
                by_status[plain.status].append(plain)
                continue
            option_status = status.get(fields[0], not_indicated)
            # Keyed by the entries as found (their order follows the sorted rules, so it repeats), not sorted: sorting
            # and building the reasons only for an option not made before took a tenth of a batch's time.
            entries = tuple(map(id, found))  # entries and blocks are interned for good
            key = (fields[0], option_status, entries, id(plain.guidelines))
            made = self._options.get(key)
            if made is None:
                reasons = self._reason_lists.get(entries)  # options concerned by the same rules share one tuple
                if reasons is None:
                    reasons = self._reason_lists.put(entries, tuple(r for _, r in sorted(found)))
                made = self._options.put(key, OptionResult(*fields, option_status, reasons, plain.guidelines))
            by_status[option_status].append(made)
        return tuple(o for group in by_status.values() for o in group)

    def _concerns(self, goal: URIRef, rule: URIRef, because: str, check: URIRef | None) -> tuple[tuple[str, tuple[tuple[int, str, str], Reason]], ...]:
        """(option, reason with its sort key) for every option a triggered rule concerns, or (``check`` given) that an
        open check asking about the rule concerns: the options it would rule out (kind check) or caution (kind caution).
        Kept per (goal, rule, trigger, check), since a batch's cases share most of them."""
        key = (goal, rule, because, check)
        found = self._concerned.get(key)
        if found is None:
            if check is None:
                found = tuple((option, self._reason(kind, rule, because)) for option, kind in self.effects.get((rule, goal), ()))
            else:
                found = tuple((option, self._reason("check" if kind == "contraindication" else kind, check, because, rule))
                              for option, kind in self.effects.get((rule, goal), ()) if kind != "indication")
            self._concerned.put(key, found)
        return found

    def _reason(self, kind: str, statement: URIRef, because: str, rule: URIRef | None = None) -> tuple[tuple[int, str, str], Reason]:
        """A rule's reason, or (``rule`` given) a check's, of kind check, or caution when the rule it asks about is one:
        interned, with its sort key."""
        reason = self._reasons.get((kind, statement, because, rule))
        if reason is None:
            sid = curie(statement)
            label, source = self.citations[sid]
            question, asked = (self.questions[sid], curie(rule)) if rule is not None else (None, None)
            made = Reason(kind, sid, label, because, source, question, asked, self.severities.get(sid))
            reason = self._reasons[(kind, statement, because, rule)] = ((KIND_ORDER.index(kind), sid, because + (asked or "")), made)
        return reason

    def _advised(self, triggered: Iterable[tuple[URIRef, URIRef, str]], reached: Reached) -> dict[URIRef, dict[str, set[str]]]:
        """case -> advice -> what brought it (a rule's trigger, or a code that reached the advice's concept)."""
        advised: dict[URIRef, dict[str, set[str]]] = {}
        for case, rule, because in triggered:
            for advice in self.advice.get(rule, ()):
                advised.setdefault(case, {}).setdefault(advice, set()).add(because)
        for case, code, via in reached.findings:
            for advice in self.advice.get(via, ()):
                advised.setdefault(case, {}).setdefault(advice, set()).add(str(code))
        return advised
