"""CSV, one row per concept, for spreadsheets: id, type, label, definition, synonyms, then the mapped codes in one
column per SKOS mapping predicate (exact_match, close_match, narrow_match, broad_match, related_match), so that a
broader code is never read as the concept itself."""
from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING

from hipkg.export._common import alt_labels, concept_type, concepts, definition, label
from hipkg.mappings import MAPPING_PREDICATES
from hipkg.namespaces import curie

if TYPE_CHECKING:
    from hipkg.store import Store

#: skos:exactMatch -> exact_match, ...
CODE_COLUMNS = {p: re.sub(r"(?<!^)([A-Z])", r"_\1", p.split(":", 1)[1]).lower() for p in MAPPING_PREDICATES}
COLUMNS = ("id", "type", "label", "definition", "synonyms", *CODE_COLUMNS.values())


def export(kg: "Store") -> str:
    """Synonyms and codes are '|' separated; codes are the mapping table's object CURIEs, by predicate."""
    codes: dict[tuple[str, str], set[str]] = {}
    for row in kg.mapping_set.mappings:
        if not row.is_no_term_found:
            codes.setdefault((row.subject_id, row.predicate_id), set()).add(row.object_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for node in concepts(kg):
        cid = curie(node)
        writer.writerow((cid, concept_type(kg, node), label(kg, node), definition(kg, node), "|".join(alt_labels(kg, node)),
                         *("|".join(sorted(codes.get((cid, p), ()))) for p in CODE_COLUMNS)))
    return buffer.getvalue()
