"""hipkg: a knowledge graph of therapeutic hip injections.

Informs, does not prescribe: every answer names the encoded statements that apply and
cites their source. No substitute for a clinician.
"""
from __future__ import annotations

import re
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Sequence

#: The one version source, as the wheel's build reads it too (pyproject.toml): the ontology header's owl:versionInfo.
#: Read directly rather than through importlib.metadata, which costs more to import than the rest of the CLI's start.
__version__ = re.search(r'owl:versionInfo "([^"]+)"', (files("hipkg") / "ontology" / "ontology.ttl").read_text(encoding="utf-8"))[1]

if TYPE_CHECKING:
    from hipkg.graph import KnowledgeGraph
    from hipkg.recommending import Recommendation

DISCLAIMER = (
    "hipkg is informational: it reports which encoded statements of its sources apply to the "
    "situation given and cites them. It is no substitute for a clinician's judgement."
)

__all__ = ["DISCLAIMER", "HipkgError", "InputError", "__version__", "load", "recommend", "recommend_many"]


def __getattr__(name: str) -> Any:
    """hipkg.HipkgError and hipkg.InputError, what a caller catches (a message naming the bad value, and fields)."""
    if name in ("HipkgError", "InputError"):
        from hipkg import errors  # on first use: this module imports no other hipkg module when loaded (start-up time)

        return getattr(errors, name)
    raise AttributeError(f"module 'hipkg' has no attribute {name!r}")


def load(**kwargs: Any) -> "KnowledgeGraph":
    """Load the bundled knowledge graph (cached per process; see hipkg.graph.load)."""
    from hipkg.graph import load as _load  # the graph stack is imported on first use, not by "hipkg --help" (start-up time)

    return _load(**kwargs)


def recommend(situation: Any) -> "Recommendation":
    """Which injection options fit ``situation`` (dict, FHIR R4 JSON, Situation or rdflib Graph), and why."""
    return load().recommend(situation)


def recommend_many(situations: Sequence[Any]) -> "list[Recommendation]":
    """Many situations answered together, one run of each query for all of them (far faster than one at a time);
    a bad one raises InputError naming its place."""
    return load().recommend_many(situations)
