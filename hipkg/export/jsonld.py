"""JSON-LD with an inline @context built from hipkg's prefixes, so no reader ever fetches a remote context."""
from __future__ import annotations

from typing import TYPE_CHECKING

from hipkg.export._common import knowledge_graph
from hipkg.namespaces import PREFIXES

if TYPE_CHECKING:
    from hipkg.store import Store


def context() -> dict[str, str]:
    """The local @context: one term per hipkg prefix."""
    return dict(sorted(PREFIXES.items()))


def export(kg: "Store") -> str:
    return knowledge_graph(kg).serialize(format="json-ld", context=context(), indent=2, sort_keys=True)
