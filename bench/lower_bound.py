"""A plain-Python lower bound for the benchmark: the recommendation rules evaluated with dicts and sets.

This lives in bench/ only and is never used by hipkg: the product's rules are the .rq files of queries/recommend/.
It reads the same facts from the built graph (pyoxigraph, the default engine's store) into dicts once, then does, per
situation, what recommend/reached, triggered, checks, effects, status and advice.rq do. Its answers are compared with
hipkg's in bench/run.py (statuses, reasons, advice and the open checks), so that it is a lower bound for the same work,
not for less work. Findings may be confirmed, suspected or absent, and current medications count as confirmed findings;
observations and procedures (recommend/observed and windows.rq) are not evaluated here.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, NamedTuple

HIPKG = "https://w3id.org/hipkg/"
SKOS = "http://www.w3.org/2004/02/skos/core#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
GRAPH = HIPKG + "graph/"
DATA_GRAPHS = ("schema", "kb", "mappings", "derived", "sources")  # hipkg.graph.DATA_GRAPHS, without importing hipkg


class Rules:
    """The facts the recommend queries read, as dicts: built once per process, like the product's warm state."""

    def __init__(self, kg: Any) -> None:
        import pyoxigraph as ox

        store = ox.Store()
        store.bulk_load(kg.nquads, format=ox.RdfFormat.N_QUADS)
        graphs = [ox.NamedNode(GRAPH + g) for g in DATA_GRAPHS]

        def pairs(predicate: str) -> Iterable[tuple[str, str]]:
            for g in graphs:
                for quad in store.quads_for_pattern(None, ox.NamedNode(predicate), None, g):
                    yield quad.subject.value, quad.object.value

        def multi(predicate: str) -> dict[str, set[str]]:
            out: dict[str, set[str]] = defaultdict(set)
            for s, o in pairs(predicate):
                out[s].add(o)
            return out

        self.labelled = {s for s, _ in pairs(RDFS_LABEL)}
        # ?concept (exactMatch|closeMatch|narrowMatch)? ?code: the code IRI -> concepts
        self.concepts_of: dict[str, set[str]] = defaultdict(set)
        for p in ("exactMatch", "closeMatch", "narrowMatch"):
            for concept, code in pairs(SKOS + p):
                self.concepts_of[code].add(concept)
        self.within = multi(HIPKG + "within")
        self.triggered_by: dict[str, set[str]] = defaultdict(set)
        for rule, via in pairs(HIPKG + "triggeredBy"):
            self.triggered_by[via].add(rule)
        self.triggered_by_allergy: dict[str, set[str]] = defaultdict(set)
        for rule, via in pairs(HIPKG + "triggeredByAllergyTo"):
            self.triggered_by_allergy[via].add(rule)
        self.members: dict[str, set[str]] = defaultdict(set)  # category -> its agents (hipkg:inCategory)
        for agent, category in pairs(HIPKG + "inCategory"):
            self.members[category].add(agent)
        self.rule_triggers = multi(HIPKG + "triggeredBy")  # rule -> the conditions that trigger it
        self.requires_also = multi(HIPKG + "requiresAlso")
        self.applies_to = multi(HIPKG + "appliesToOption")
        self.purpose = multi(HIPKG + "purpose")
        self.severity = {s: o for s, o in pairs(HIPKG + "severity")}
        self.indicates_purpose = multi(HIPKG + "indicatesPurpose")
        self.gives_advice = multi(HIPKG + "givesAdvice")
        self.considered_when: dict[str, set[str]] = defaultdict(set)
        alternatives = {s for s, o in pairs(RDF_TYPE) if o == HIPKG + "Alternative"}
        for advice, via in pairs(HIPKG + "consideredWhen"):
            if advice in alternatives:
                self.considered_when[via].add(advice)
        self.options = sorted(s for s, o in pairs(RDF_TYPE) if o == HIPKG + "InjectionOption")
        purposes = {s for s, o in pairs(RDF_TYPE) if o == HIPKG + "InjectionPurpose"}
        self.goals = {slug: s for s, slug in pairs(HIPKG + "slug") if s in purposes}
        # Suspicion (recommend/triggered, checks): rules worded for it, and the check a suspected avoid-level trigger opens.
        self.fires_on_suspicion = {s for s, o in pairs(HIPKG + "firesOnSuspicion") if o == "true"}
        self.standing = sorted(s for s, o in pairs(HIPKG + "appliesAlways") if o == "true")  # recommend/standing
        self.only_for_its_purpose = {s for s, o in pairs(HIPKG + "onlyForItsPurpose") if o == "true"}
        # Checks (recommend/checks): raising concept -> checks; check -> answering concepts; check -> the rules it asks about.
        self.raised_by: dict[str, set[str]] = defaultdict(set)
        for check, concept in pairs(HIPKG + "raisedBy"):
            self.raised_by[concept].add(check)
        self.answered_by = multi(HIPKG + "answeredBy")
        self.checks_rule = multi(HIPKG + "checksRule")
        # Statuses (recommend/status): the rank each kind of effect stands for, the slug of each rank, and not indicated
        # as the status of highest rank.
        statuses = {s for s, o in pairs(RDF_TYPE) if o == HIPKG + "OptionStatus"}
        rank = {s: int(o) for s, o in pairs(HIPKG + "rank") if s in statuses}
        slug = {s: o for s, o in pairs(HIPKG + "slug") if s in statuses}
        self.slug_of_rank = {r: slug[s] for s, r in rank.items()}
        self.kind_rank = {"contraindication": rank[HIPKG + "StatusAvoid"], "caution": rank[HIPKG + "StatusCaution"],
                          "indication": rank[HIPKG + "StatusFits"], "check": rank[HIPKG + "StatusCheck"]}
        self.not_indicated = self.slug_of_rank[max(rank.values())]

    def _reached(self, codes: Iterable[Any], named: bool = False) -> list[tuple[str, str]]:
        """(code as given, concept reached) for every code: recommend/reached.rq; ``named``: only the concepts it names."""
        out = []
        for code in codes:
            for iri in _iris(code.curie):
                for concept in (self.concepts_of.get(iri, set()) | {iri}):
                    if concept in self.labelled:
                        for via in ((concept,) if named else self.within.get(concept, ())):
                            out.append((code.curie, via))
        return out

    def evaluate(self, situation: Any, goal: str) -> "Evaluated":
        """Statuses by option, reasons (option, rule or check, kind, because, rule a check asks about or None), advice
        (advice -> because) and open checks (check, rule asked about, because) of one situation."""
        findings = self._reached(situation.findings) + self._reached(getattr(situation, "medications", ()))
        suspected = self._reached(getattr(situation, "suspected", ()))
        absent = self._reached(getattr(situation, "absent", ()))
        allergies = self._reached(situation.allergies, named=True)
        reached = {via for _, via in findings}
        reached.update(via for _, via in suspected)
        triggered = set()
        for given, via in findings:
            for rule in self.triggered_by.get(via, ()):
                triggered.add((rule, given))
        for given, via in suspected:  # a suspicion fires rules worded for it and caution-level rules
            for rule in self.triggered_by.get(via, ()):
                if rule in self.fires_on_suspicion or self.severity.get(rule) == CAUTION:
                    triggered.add((rule, f"suspected {given}"))
        agent_allergies = []  # (rule, allergy): an allergy to one agent of a category with other agents asks (checks.rq)
        for given, named in allergies:
            for via in self.within.get(named, ()):
                for rule in self.triggered_by_allergy.get(via, ()):
                    if via == named or not self.members.get(via, set()) - {named}:
                        triggered.add((rule, f"allergy {given}"))
                    else:
                        agent_allergies.append((rule, f"allergy {given}"))
        triggered = {(r, b) for r, b in triggered if r not in self.requires_also or self.requires_also[r] & reached}
        triggered.update((rule, "always") for rule in self.standing)
        fired = {r for r, _ in triggered}
        # Open checks: raised by a confirmed or suspected finding, answered by no finding of any certainty, and asking
        # about a rule the situation does not already trigger; a suspected trigger of another avoid-level rule opens one.
        opened = set()
        answered = None
        for given, via in (*findings, *suspected):
            for check in self.raised_by.get(via, ()):
                if answered is None:
                    answered = reached | {v for _, v in absent}
                if not self.answered_by.get(check, set()) & answered:
                    for rule in self.checks_rule.get(check, ()):
                        if rule not in fired:
                            opened.add((check, rule, given))
        for given, via in suspected:
            for rule in self.triggered_by.get(via, ()):
                if self.severity.get(rule) == AVOID and rule not in self.fires_on_suspicion and rule not in fired:
                    opened.add((SUSPECTED_CHECK, rule, f"suspected {given}"))
        everything = reached | {v for _, v in absent}
        for rule, because in agent_allergies:
            if rule not in fired and not self.rule_triggers.get(rule, set()) & everything:
                opened.add((ALLERGY_CHECK, rule, because))
        reasons = set()
        for rule, because in triggered:
            severity = self.severity.get(rule)
            for option in self.applies_to.get(rule, ()):
                for purpose in self.purpose.get(option, ()):
                    own = purpose in self.indicates_purpose.get(rule, ())  # an indication only for its purpose ignores the goal
                    if severity is not None or own or (purpose == goal and rule not in self.only_for_its_purpose):
                        kind = "indication" if severity is None else "contraindication" if severity == AVOID else "caution"
                        reasons.add((option, rule, kind, because, None))
        for check, rule, because in opened:  # a check concerns the options its rule would contraindicate or caution
            severity = self.severity.get(rule)
            if severity is not None:  # of kind check, or caution when its rule is caution-level (never more than the rule)
                for option in self.applies_to.get(rule, ()):
                    reasons.add((option, check, "check" if severity == AVOID else "caution", because, rule))
        kinds: dict[str, set[str]] = defaultdict(set)
        for option, _, kind, _, _ in reasons:
            kinds[option].add(kind)
        status = {}
        kind_rank, slug_of_rank, not_indicated = self.kind_rank, self.slug_of_rank, self.not_indicated
        for option in self.options:
            k = kinds.get(option)
            status[option] = (slug_of_rank[max(kind_rank[x] for x in k)] if k and "indication" in k else not_indicated)
        advice: dict[str, set[str]] = defaultdict(set)
        for rule, because in triggered:
            for a in self.gives_advice.get(rule, ()):
                advice[a].add(because)
        for given, via in findings:  # what a reached concept brings: the alternatives considered, and its own advice
            for a in (*self.considered_when.get(via, ()), *self.gives_advice.get(via, ())):
                advice[a].add(given)
        return Evaluated(status, reasons, dict(advice), opened)


class Evaluated(NamedTuple):
    status: dict[str, str]  # option -> status slug
    reasons: set[tuple[str, str, str, str, str | None]]  # (option, rule or check, kind, because, rule a check asks about)
    advice: dict[str, set[str]]  # advice -> because
    checks: set[tuple[str, str, str]]  # open checks: (check, rule asked about, because)


AVOID = HIPKG + "Avoid"
CAUTION = HIPKG + "Caution"
SUSPECTED_CHECK = HIPKG + "CheckSuspectedTrigger"
ALLERGY_CHECK = HIPKG + "CheckAllergyOtherAgent"


# ---------------------------------------------------------------------------------------------- the lower-bound process

BASES = {"ICD10CM": "http://purl.bioontology.org/ontology/ICD10CM/", "SNOMEDCT": "http://snomed.info/id/",
         "RXNORM": "http://purl.bioontology.org/ontology/RXNORM/", "ATC": "http://purl.bioontology.org/ontology/ATC/",
         "HIPKG": HIPKG}


_IRIS: dict[str, list[str]] = {}


def _iris(curie: str) -> list[str]:
    """The IRIs a normalised code matches: its own and, for ICD-10-CM, its ancestors' (hipkg.codes.candidates)."""
    if curie not in _IRIS:
        _IRIS[curie] = _Code(curie).iris
    return _IRIS[curie]


class _Code:
    def __init__(self, text: str) -> None:
        prefix, _, local = text.strip().partition(":")
        prefix = {"SNOMEDCT_US": "SNOMEDCT", "SCTID": "SNOMEDCT"}.get(prefix.upper(), prefix.upper())
        if prefix == "ICD10CM":
            local = local.upper()
            locals_ = [local]
            while len(locals_[-1]) > 3:
                locals_.append(locals_[-1][:-1].rstrip("."))
        else:
            locals_ = [local]
        self.curie = f"{'hipkg' if prefix == 'HIPKG' else prefix}:{local}"
        self.iris = [BASES[prefix] + c for c in locals_]


class _Situation:
    """Findings as codes or {"code", "certainty"} objects (confirmed, suspected, absent), allergies, medications, goal."""

    def __init__(self, data: dict) -> None:
        by_certainty: dict[str, list[_Code]] = {"confirmed": [], "suspected": [], "absent": []}
        for item in data["findings"]:
            code, certainty = (item, "confirmed") if isinstance(item, str) else (item["code"], item.get("certainty", "confirmed"))
            by_certainty[certainty].append(_Code(code))
        self.findings, self.suspected, self.absent = by_certainty["confirmed"], by_certainty["suspected"], by_certainty["absent"]
        self.allergies = [_Code(c) for c in data.get("allergies", [])]
        self.medications = [_Code(c) for c in data.get("medications", [])]
        self.goal = data.get("goal", "therapeutic")


def main(argv: list[str]) -> int:
    """python bench/lower_bound.py GRAPH.nq SITUATION.json: statuses as JSON, with no hipkg (or rdflib) import."""
    import json
    from pathlib import Path

    class Built:
        nquads = Path(argv[0]).read_bytes()

    rules = Rules(Built)
    situation = _Situation(json.loads(Path(argv[1]).read_text(encoding="utf-8")))
    status, reasons, advice, checks = rules.evaluate(situation, rules.goals[situation.goal])
    print(json.dumps({"options": status, "reasons": sorted(reasons, key=lambda r: (*r[:4], r[4] or "")),
                      "advice": {k: sorted(v) for k, v in advice.items()}, "checks": sorted(checks)}, indent=2))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
