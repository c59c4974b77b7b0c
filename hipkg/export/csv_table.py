"""CSV, one row per concept, for spreadsheets: id, type, label, definition, synonyms, codes."""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from hipkg.export._common import alt_labels, concept_type, concepts, definition, label
from hipkg.namespaces import curie

if TYPE_CHECKING:
    from hipkg.store import Store

COLUMNS = ("id", "type", "label", "definition", "synonyms", "codes")


def export(kg: "Store") -> str:
    """Synonyms and codes are '|' separated; codes are the mapping table's object CURIEs."""
    codes: dict[str, set[str]] = {}
    for row in kg.mapping_set.mappings:
        if not row.is_no_term_found:
            codes.setdefault(row.subject_id, set()).add(row.object_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for node in concepts(kg):
        cid = curie(node)
        writer.writerow((cid, concept_type(kg, node), label(kg, node), definition(kg, node),
                         "|".join(alt_labels(kg, node)), "|".join(sorted(codes.get(cid, ())))))
    return buffer.getvalue()
