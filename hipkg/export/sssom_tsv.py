"""SSSOM/TSV: the mapping table with its metadata block, as the `sssom` toolkit reads and validates it.

Written from the parsed table rather than copied, so that the header always carries the required
mapping_set_id and license, the curie_map covers every prefix in use, and empty columns are dropped.
"""
from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from hipkg.mappings import Mapping

if TYPE_CHECKING:
    from hipkg.store import Store

DEFAULT_ID = "https://w3id.org/hipkg/mappings/hipkg.sssom.tsv"
DEFAULT_LICENSE = "https://creativecommons.org/licenses/by/4.0/"
#: Prefixes the SSSOM standard itself uses (NoTermFound, semapv justifications, skos predicates).
STANDARD_PREFIXES = {
    "semapv": "https://w3id.org/semapv/vocab/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "sssom": "https://w3id.org/sssom/",
}
#: Metadata keys written first, in this order; any others the table has follow alphabetically.
LEADING_KEYS = ("mapping_set_id", "mapping_set_title", "mapping_set_version", "license")


def _quote(value: str) -> str:
    """A YAML scalar: quoted when it could otherwise be misread (colons, leading symbols)."""
    if value and value.replace(".", "").replace("-", "").replace("_", "").replace(" ", "").isalnum() \
            and not value[0].isdigit():
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def export(kg: "Store") -> str:
    ms = kg.mapping_set
    metadata = dict(ms.metadata)
    metadata.setdefault("mapping_set_id", DEFAULT_ID)
    metadata.setdefault("license", DEFAULT_LICENSE)
    metadata.pop("curie_map", None)
    columns = [c for c in Mapping.__dataclass_fields__ if any(getattr(m, c) for m in ms.mappings)]
    used = {getattr(m, c).split(":", 1)[0] for m in ms.mappings for c in columns if c.endswith("_id") or c == "mapping_justification"}
    curie_map = {**STANDARD_PREFIXES, **ms.curie_map}
    curie_map = {p: curie_map[p] for p in sorted(curie_map) if p in used or p in ms.curie_map}
    lines = ["# curie_map:"] + [f"#   {p}: {_quote(ns)}" for p, ns in curie_map.items()]
    for key in [k for k in LEADING_KEYS if k in metadata] + sorted(k for k in metadata if k not in LEADING_KEYS):
        lines.append(f"# {key}: {_quote(metadata[key])}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for m in ms.mappings:
        writer.writerow([getattr(m, c) for c in columns])
    return "\n".join(lines) + "\n" + buffer.getvalue()
