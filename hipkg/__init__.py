"""hipkg: a knowledge graph of therapeutic hip injections.

Informs, does not prescribe: every answer names the encoded statements that apply and
cites their source. No substitute for a clinician.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("hipkg")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

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
    from hipkg.graph import load as _load

    return _load(**kwargs)


def recommend(situation: Any) -> "Recommendation":
    """Which injection options fit ``situation`` (dict, Situation or rdflib Graph), and why."""
    return load().recommend(situation)
