"""networkx node-link JSON of the concept graph (D3 and networkx.node_link_graph read it)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from hipkg.store import Store


def export(kg: "Store") -> str:
    data = nx.node_link_data(kg.to_networkx(), edges="edges")
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
