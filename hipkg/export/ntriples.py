"""N-Triples: one triple per line, sorted so that two exports of the same graph diff cleanly."""
from __future__ import annotations

from typing import TYPE_CHECKING

from hipkg.export._common import knowledge_graph

if TYPE_CHECKING:
    from hipkg.store import Store


def export(kg: "Store") -> str:
    lines = knowledge_graph(kg).serialize(format="nt").splitlines()
    return "\n".join(sorted(line for line in lines if line.strip())) + "\n"
