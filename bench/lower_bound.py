"""A plain-Python lower bound for the benchmark: the recommendation rules evaluated with dicts and sets.

This lives in bench/ only and is never used by hipkg: the product's rules are the .rq files of queries/recommend/.
It reads the same facts from the built graph (pyoxigraph, the default engine's store) into dicts once, then does, per
situation, what recommend/reached, triggered, effects, status and advice.rq do. Its answers are compared with hipkg's in
bench/run.py (statuses, reasons and advice), so that it is a lower bound for the same work, not for less work.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

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

    def _reached(self, codes: Iterable[Any]) -> list[tuple[str, str]]:
        """(code as given, concept reached) for every code: recommend/reached.rq."""
        out = []
        for code in codes:
            for iri in _iris(code.curie):
                for concept in (self.concepts_of.get(iri, set()) | {iri}):
                    if concept in self.labelled:
                        for via in self.within.get(concept, ()):
                            out.append((code.curie, via))
        return out

    def evaluate(self, situation: Any, goal: str) -> tuple[dict[str, str], set[tuple[str, str, str, str]], dict[str, set[str]]]:
        """Statuses by option, reasons (option, rule, kind, because) and advice (advice -> because) of one situation."""
        findings = self._reached(situation.findings)
        allergies = self._reached(situation.allergies)
        reached = {via for _, via in findings}
        triggered = set()
        for given, via in findings:
            for rule in self.triggered_by.get(via, ()):
                triggered.add((rule, given))
        for given, via in allergies:
            for rule in self.triggered_by_allergy.get(via, ()):
                triggered.add((rule, f"allergy {given}"))
        triggered = {(r, b) for r, b in triggered if r not in self.requires_also or self.requires_also[r] & reached}
        reasons = set()
        for rule, because in triggered:
            severity = self.severity.get(rule)
            for option in self.applies_to.get(rule, ()):
                for purpose in self.purpose.get(option, ()):
                    if severity is not None or purpose == goal or purpose in self.indicates_purpose.get(rule, ()):
                        kind = "indication" if severity is None else "contraindication" if severity == HIPKG + "Avoid" else "caution"
                        reasons.add((option, rule, kind, because))
        kinds: dict[str, set[str]] = defaultdict(set)
        for option, _, kind, _ in reasons:
            kinds[option].add(kind)
        status = {}
        for option in self.options:
            k = kinds.get(option, set())
            status[option] = ("not-indicated" if "indication" not in k else "avoid" if "contraindication" in k
                              else "caution" if "caution" in k else "fits")
        advice: dict[str, set[str]] = defaultdict(set)
        for rule, because in triggered:
            for a in self.gives_advice.get(rule, ()):
                advice[a].add(because)
        for given, via in findings:
            for a in self.considered_when.get(via, ()):
                advice[a].add(given)
        return status, reasons, dict(advice)


# ---------------------------------------------------------------------------------------------- the lower-bound process

BASES = {"ICD10CM": "http://purl.bioontology.org/ontology/ICD10CM/", "SNOMEDCT": "http://snomed.info/id/",
         "RXNORM": "http://purl.bioontology.org/ontology/RXNORM/", "HIPKG": HIPKG}


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
    def __init__(self, data: dict) -> None:
        self.findings = [_Code(c) for c in data["findings"]]
        self.allergies = [_Code(c) for c in data.get("allergies", [])]
        self.goal = data.get("goal", "therapeutic")


def main(argv: list[str]) -> int:
    """python bench/lower_bound.py GRAPH.nq SITUATION.json: statuses as JSON, with no hipkg (or rdflib) import."""
    import json
    from pathlib import Path

    class Built:
        nquads = Path(argv[0]).read_bytes()

    rules = Rules(Built)
    situation = _Situation(json.loads(Path(argv[1]).read_text(encoding="utf-8")))
    status, reasons, advice = rules.evaluate(situation, rules.goals[situation.goal])
    print(json.dumps({"options": status, "reasons": sorted(reasons), "advice": {k: sorted(v) for k, v in advice.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
