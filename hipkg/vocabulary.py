"""The vocabulary an answer speaks, as the graph defines it: goals and policies (each with the default one) and option
statuses.

Read once per graph (queries recommend/goals, recommend/policies and recommend/statuses), so Python never repeats a slug, an order or a
wording: a new status or goal is a change to ontology/, not to code.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from rdflib import URIRef

from hipkg.namespaces import curie
from hipkg.results import Result


@dataclass(frozen=True)
class Goal:
    slug: str
    iri: URIRef
    label: str


@dataclass(frozen=True)
class Status:
    slug: str
    label: str
    definition: str
    rank: int


@dataclass(frozen=True)
class Certainty:
    slug: str
    label: str
    property: URIRef  # how a situation in the store holds the codes of findings of this certainty


@dataclass(frozen=True)
class Vocabulary:
    goals: tuple[Goal, ...]
    default_goal: str
    statuses: tuple[Status, ...]  # in rank order: the order answers list them
    certainties: tuple[Certainty, ...] = ()
    units: tuple[tuple[str, str], ...] = ()  # (LOINC CURIE, UCUM code) an observation may be given in
    targets: tuple[tuple[str, URIRef], ...] = ()  # injection target slug -> IRI
    categories: tuple[tuple[str, URIRef], ...] = ()  # medication category slug -> IRI
    policies: tuple[tuple[str, URIRef], ...] = ()  # policy slug -> IRI
    default_policy: str = ""
    names: tuple[tuple[str, str, str], ...] = ()  # (kind: finding or substance, lower-cased name, concept CURIE)

    @classmethod
    def from_results(cls, goals: Result, statuses: Result, certainties: Result | None = None, units: Result | None = None,
                     terms: Result | None = None, policies: Result | None = None, names: Result | None = None) -> "Vocabulary":
        found = tuple(Goal(str(r["slug"]), r["purpose"], str(r["label"])) for r in goals)
        defaults = [str(r["slug"]) for r in goals if r["default"] is not None and r["default"].toPython() is True]
        if len(defaults) != 1:
            raise ValueError(f"the graph must name exactly one default goal (hipkg:Situation hipkg:defaultGoal), found {defaults}")
        named_policies = tuple((str(r["slug"]), r["policy"]) for r in policies or ())
        default_policies = [str(r["slug"]) for r in policies or () if r["default"] is not None and r["default"].toPython() is True]
        if policies is not None and len(default_policies) != 1:
            raise ValueError(f"the graph must name exactly one default policy (hipkg:Situation hipkg:defaultPolicy), found {default_policies}")
        ranked = sorted((Status(str(r["slug"]), str(r["label"]), str(r["definition"]), int(r["rank"])) for r in statuses),
                        key=lambda s: s.rank)
        known = tuple(Certainty(str(r["slug"]), str(r["label"]), r["property"]) for r in certainties or ())
        accepted = tuple((str(r["loinc"]), str(r["ucum"])) for r in units or ())
        named = [(str(r["kind"]), str(r["slug"]), r["term"]) for r in terms or ()]
        return cls(found, defaults[0], tuple(ranked), known, accepted,
                   tuple((slug, iri) for kind, slug, iri in named if kind == "target"),
                   tuple((slug, iri) for kind, slug, iri in named if kind == "category"),
                   named_policies, default_policies[0] if default_policies else "",
                   tuple((str(r["kind"]), str(r["name"]), curie(r["concept"])) for r in names or ()))

    def goal_iri(self, slug: str) -> URIRef:
        return self.purposes[slug]

    @functools.cached_property
    def purposes(self) -> dict[str, URIRef]:
        """Goal slug -> purpose IRI."""
        return {g.slug: g.iri for g in self.goals}

    def goal_slug(self, iri: URIRef) -> str | None:
        return next((g.slug for g in self.goals if g.iri == iri), None)

    def goal_label(self, slug: str) -> str:
        return next((g.label for g in self.goals if g.slug == slug), slug)

    @functools.cached_property
    def policy(self) -> dict[str, URIRef]:
        """Policy slug -> IRI."""
        return dict(self.policies)

    def policy_slug(self, iri: URIRef) -> str | None:
        return next((slug for slug, i in self.policies if i == iri), None)

    @functools.cached_property
    def status_order(self) -> tuple[str, ...]:
        return tuple(s.slug for s in self.statuses)

    def status(self, slug: str) -> Status:
        return next(s for s in self.statuses if s.slug == slug)

    @functools.cached_property
    def certainty(self) -> dict[str, Certainty]:
        """Certainty slug -> certainty."""
        return {c.slug: c for c in self.certainties}

    @functools.cached_property
    def observation_units(self) -> dict[str, tuple[str, ...]]:
        """LOINC CURIE -> the UCUM codes accepted for it."""
        out: dict[str, list[str]] = {}
        for loinc, ucum in self.units:
            out.setdefault(loinc, []).append(ucum)
        return {loinc: tuple(units) for loinc, units in out.items()}

    def named(self, kind: str, text: str) -> list[str]:
        """The concepts of ``kind`` (finding, substance) that ``text`` names, by label or synonym (case-insensitive)."""
        return sorted(self._by_name.get((kind, text.strip().lower()), ()))

    @functools.cached_property
    def _by_name(self) -> dict[tuple[str, str], set[str]]:
        out: dict[tuple[str, str], set[str]] = {}
        for kind, name, cid in self.names:
            out.setdefault((kind, name), set()).add(cid)
        return out

    @property
    def not_indicated(self) -> str:
        """The status of highest rank: what an option is when nothing indicates it."""
        return self.statuses[-1].slug
