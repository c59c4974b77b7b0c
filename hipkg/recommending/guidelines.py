"""What the guidelines say about each option of a situation: the recommendations bearing on it and their verdict.

The joins and the verdict are queries (recommend/guidelines, recommend/guideline-verdicts); this module binds them
with the populations a situation reaches and keeps their answers, since situations reaching the same populations share
them (a batch reaches few distinct sets). Every block and recommendation is interned, so answers share them.
"""
from __future__ import annotations

import functools
from typing import Iterable

from rdflib import URIRef

from hipkg.namespaces import curie
from hipkg.recommending.memo import Memo
from hipkg.recommending.model import GuidelineRecommendation, Guidelines
from hipkg.store import Store

Populations = frozenset[URIRef]


class GuidelineBook:
    """Guideline blocks per option for each set of populations, on one store."""

    MEMO = 10_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sets: Memo[Populations, dict[str, Guidelines]] = Memo(self.MEMO)
        self._verdicts: Memo[tuple[str, ...], str] = Memo(self.MEMO)
        self._blocks: dict[tuple[str, tuple[str, ...]], Guidelines] = {}

    @functools.cached_property
    def recommendations(self) -> dict[str, GuidelineRecommendation]:
        """Every recommendation as answers show it (recommend/guideline-recommendations), by CURIE."""
        out = {}
        for r in self.store.query("recommend/guideline-recommendations"):
            rid = curie(r["recommendation"])
            out[rid] = GuidelineRecommendation(
                rid, str(r["label"]), str(r["body"]), int(r["year"]), str(r["direction"]), str(r["strength"]),
                str(r["strengthAsWritten"]), str(r["population"]) if r["population"] is not None else None,
                str(r["statement"]) if r["statement"] is not None else None, str(r["locator"]), str(r["aspect"]),
                bool(r["verified"].toPython()), str(r["reason"]) if r["reason"] is not None else None, str(r["guideline"]))
        return out

    @functools.cached_property
    def populations(self) -> frozenset[URIRef]:
        """Every concept some recommendation is for: what a situation's reached concepts are cut to."""
        return frozenset(p for (p,) in self.store.query("recommend/guideline-populations").rows)

    @functools.cached_property
    def practice(self) -> tuple[GuidelineRecommendation, ...]:
        """The practice recommendations for every population (recommend/practice), in year, body and id order."""
        return self._sorted(curie(r) for (r,) in self.store.query("recommend/practice").rows)

    @functools.cached_property
    def none(self) -> Guidelines:
        """The block of an option no recommendation bears on."""
        return self._block(self.verdicts([()])[()], ())

    def blocks(self, sets: Iterable[Populations]) -> dict[Populations, dict[str, Guidelines]]:
        """Option id -> its block, for each set of populations (options absent from a set's dict have the empty block)."""
        wanted = {s: self._sets.get(s) for s in set(sets)}
        unseen = sorted((s for s, found in wanted.items() if found is None), key=lambda s: sorted(s))
        if unseen:
            rows = self.store.query(
                "recommend/guidelines", sets=[str(i) for i in range(len(unseen))],
                populations=[(str(i), p) for i, s in enumerate(unseen) for p in sorted(s)]).rows
            found: dict[int, dict[str, list[str]]] = {}
            for index, option, recommendation in rows:
                found.setdefault(int(str(index)), {}).setdefault(curie(option), []).append(curie(recommendation))
            groups = {i: {o: tuple(sorted(r)) for o, r in by.items()} for i, by in found.items()}
            verdicts = self.verdicts({g for by in groups.values() for g in by.values()})
            for i, s in enumerate(unseen):
                wanted[s] = self._sets.put(s, {o: self._block(verdicts[g], g) for o, g in groups.get(i, {}).items()})
        return wanted  # type: ignore[return-value]

    def verdicts(self, groups: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
        """recommend/guideline-verdicts for each group of recommendations not seen before."""
        wanted = {g: self._verdicts.get(g) for g in set(groups)}
        unseen = sorted(g for g, v in wanted.items() if v is None)
        if unseen:
            expand = self.store.mapping_set.expand
            rows = self.store.query("recommend/guideline-verdicts", groups=[str(i) for i in range(len(unseen))],
                                    members=[(str(i), expand(r)) for i, g in enumerate(unseen) for r in g]).rows
            for index, verdict in rows:
                wanted[unseen[int(str(index))]] = self._verdicts.put(unseen[int(str(index))], str(verdict))
        return wanted  # type: ignore[return-value]

    def _block(self, verdict: str, group: tuple[str, ...]) -> Guidelines:
        key = (verdict, group)
        block = self._blocks.get(key)
        if block is None:
            block = self._blocks[key] = Guidelines(verdict, self._sorted(group))
        return block

    def _sorted(self, ids: Iterable[str]) -> tuple[GuidelineRecommendation, ...]:
        return tuple(sorted((self.recommendations[i] for i in ids), key=lambda r: (r.year, r.body, r.id)))
