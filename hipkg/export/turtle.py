"""Turtle: the canonical text form of the knowledge graph (rdflib longturtle, stable diffs)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from hipkg.export._common import knowledge_graph

if TYPE_CHECKING:
    from hipkg.store import Store


def export(kg: "Store") -> str:
    return knowledge_graph(kg).serialize(format="longturtle")
