"""GraphML of the concept graph, for Gephi, yEd, Cytoscape; reads back with networkx.read_graphml."""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from hipkg.store import Store


def export(kg: "Store") -> bytes:
    buffer = io.BytesIO()
    nx.write_graphml(kg.to_networkx(), buffer, encoding="utf-8", prettyprint=True)
    return buffer.getvalue()
