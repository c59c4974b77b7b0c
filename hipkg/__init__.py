"""hipkg: a knowledge graph of therapeutic hip injections.

Informs, does not prescribe: every answer names the encoded statements that apply and
cites their source. No substitute for a clinician.
"""
from __future__ import annotations

import re
from importlib.resources import files
from typing import TYPE_CHECKING, Any

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

__all__ = ["DISCLAIMER", "__version__", "load", "recommend"]


def load(**kwargs: Any) -> "KnowledgeGraph":
    """Load the bundled knowledge graph (cached per process; see hipkg.graph.load)."""
    from hipkg.graph import load as _load  # the graph stack is imported on first use, not by "hipkg --help" (start-up time)

    return _load(**kwargs)


def recommend(situation: Any) -> "Recommendation":
    """Which injection options fit ``situation`` (dict, Situation or rdflib Graph), and why."""
    return load().recommend(situation)
