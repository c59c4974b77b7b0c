"""SPARQL answers as bytes, in the negotiated format, within a row (or triple) cap and a byte cap.

SELECT and ASK: SPARQL 1.1 Query Results JSON, XML, CSV and TSV (written row by row, so the byte cap cuts at a row
boundary and the document stays well-formed). CONSTRUCT and DESCRIBE: Turtle, N-Triples, JSON-LD (and RDF/XML).

A cut answer says so: always in the ``Hipkg-Truncated`` response header, and inside the body where the format has room
for it (a ``"hipkg:truncated"`` member in JSON results, an XML comment, a ``#`` comment line in Turtle and N-Triples).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

from rdflib import BNode, Literal

from hipkg.namespaces import new_graph
from hipkg.queries import sparql_json_term

#: Offered media types per query form, in order of preference (the first is the default). Value: internal format name.
SELECT_TYPES = {
    "application/sparql-results+json": "json",
    "application/sparql-results+xml": "xml",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/json": "json",
    "application/xml": "xml",
}
ASK_TYPES = {
    "application/sparql-results+json": "json",
    "application/sparql-results+xml": "xml",
    "application/json": "json",
    "application/xml": "xml",
}
GRAPH_TYPES = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "json-ld",
    "application/rdf+xml": "xml",
    "application/json": "json-ld",
    "text/plain": "nt",
}
TEXT_TYPES = ("text/", "application/sparql-results+xml", "application/xml", "application/rdf+xml")


@dataclass(frozen=True)
class Cut:
    """Why and where an answer was cut."""

    reason: str  # "rows" | "bytes"
    limit: int
    kept: int

    def header(self) -> str:
        return f"{self.reason}; limit={self.limit}; kept={self.kept}"

    def note(self) -> str:
        unit = "rows or triples" if self.reason == "rows" else "bytes"
        return (f"answer truncated: only the first {self.kept} results are included "
                f"(the server's cap is {self.limit} {unit}); narrow the query or add LIMIT")


def parse_accept(header: str | None) -> list[tuple[str, float]]:
    """``Accept`` as (media range, q) pairs, highest q first (stable for equal q). Missing header: ``*/*``."""
    if not header or not header.strip():
        return [("*/*", 1.0)]
    ranges = []
    for index, part in enumerate(header.split(",")[:64]):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        if "/" not in media:
            continue
        q = 1.0
        for f in fields[1:]:
            key, _, value = f.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        ranges.append((media, q, index))
    ranges.sort(key=lambda r: (-r[1], r[2]))
    return [(m, q) for m, q, _ in ranges]


def negotiate(accept: Sequence[tuple[str, float]], offered: dict[str, str]) -> str | None:
    """The offered media type the client prefers, or None (406)."""
    refused = {m for m, q in accept if q == 0}
    for media, q in accept:
        if q == 0:
            continue
        major, _, minor = media.partition("/")
        for candidate in offered:
            if candidate in refused:
                continue
            c_major, _, c_minor = candidate.partition("/")
            if media == candidate or (minor == "*" and (major == "*" or major == c_major)):
                return candidate
    return None


def content_type(media: str) -> str:
    return f"{media}; charset=utf-8" if media.startswith(TEXT_TYPES) or media.endswith(("json", "+xml")) else media


# ------------------------------------------------------------------------------------------------ SELECT / ASK


def _xml_term(term: Any) -> str:
    if isinstance(term, Literal):
        attrs = ""
        if term.language:
            attrs = f" xml:lang={quoteattr(term.language)}"
        elif term.datatype is not None:
            attrs = f" datatype={quoteattr(str(term.datatype))}"
        return f"<literal{attrs}>{escape(str(term))}</literal>"
    if isinstance(term, BNode):
        return f"<bnode>{escape(str(term))}</bnode>"
    return f"<uri>{escape(str(term))}</uri>"


def _csv_line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(list(cells))
    return buffer.getvalue()


def _tsv_term(term: Any) -> str:
    if term is None:
        return ""
    if isinstance(term, BNode):
        return f"_:{term}"
    text = term.n3()  # <iri> or "literal"@lang / ^^<datatype>, with \t \n escaped by rdflib's n3()
    return text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def select_body(fmt: str, vars_: Sequence[str], rows: Sequence[Sequence[Any]], row_cut: Cut | None,
                max_bytes: int) -> tuple[bytes, Cut | None]:
    """A SELECT answer in ``fmt`` (json, xml, csv, tsv), cut at a row boundary to stay within ``max_bytes``."""
    if fmt == "json":
        head = '{"head": {"vars": ' + json.dumps(list(vars_)) + '}, "results": {"bindings": [\n'
        sep = ",\n"

        def piece(row: Sequence[Any]) -> str:
            return json.dumps({v: sparql_json_term(t) for v, t in zip(vars_, row) if t is not None}, ensure_ascii=False)

        def tail(cut: Cut | None) -> str:
            note = f', "hipkg:truncated": {json.dumps({"reason": cut.reason, "limit": cut.limit, "kept": cut.kept, "message": cut.note()})}' if cut else ""
            return "\n]}" + note + "}\n"
    elif fmt == "xml":
        head = ('<?xml version="1.0" encoding="utf-8"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n<head>'
                + "".join(f"<variable name={quoteattr(v)}/>" for v in vars_) + "</head>\n<results>\n")
        sep = ""

        def piece(row: Sequence[Any]) -> str:
            cells = "".join(f"<binding name={quoteattr(v)}>{_xml_term(t)}</binding>" for v, t in zip(vars_, row) if t is not None)
            return f"<result>{cells}</result>\n"

        def tail(cut: Cut | None) -> str:
            note = f"<!-- {escape(cut.note())} -->\n" if cut else ""
            return "</results>\n" + note + "</sparql>\n"
    elif fmt == "csv":
        head, sep = _csv_line(vars_), ""

        def piece(row: Sequence[Any]) -> str:
            return _csv_line("" if t is None else str(t) for t in row)

        def tail(cut: Cut | None) -> str:
            return ""
    elif fmt == "tsv":
        head, sep = "\t".join(f"?{v}" for v in vars_) + "\n", ""

        def piece(row: Sequence[Any]) -> str:
            return "\t".join(_tsv_term(t) for t in row) + "\n"

        def tail(cut: Cut | None) -> str:
            return ""
    else:  # pragma: no cover - negotiate() only offers the formats above
        raise ValueError(fmt)

    reserve = len(tail(Cut("bytes", max_bytes, len(rows))).encode()) + 40
    parts = [head.encode()]
    size = len(parts[0])
    cut = row_cut
    for index, row in enumerate(rows):
        chunk = ((sep if index else "") + piece(row)).encode()
        if size + len(chunk) + reserve > max_bytes:
            cut = Cut("bytes", max_bytes, index)
            break
        parts.append(chunk)
        size += len(chunk)
    parts.append(tail(cut).encode())
    return b"".join(parts), cut


def ask_body(fmt: str, value: bool) -> bytes:
    if fmt == "json":
        return (json.dumps({"head": {}, "boolean": bool(value)}) + "\n").encode()
    return ('<?xml version="1.0" encoding="utf-8"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n'
            f"<head/>\n<boolean>{'true' if value else 'false'}</boolean>\n</sparql>\n").encode()


# ------------------------------------------------------------------------------------------------ CONSTRUCT / DESCRIBE




def graph_body(fmt: str, triples: Sequence[tuple[Any, Any, Any]], row_cut: Cut | None, max_bytes: int) -> tuple[bytes, Cut | None]:
    """A graph answer in ``fmt`` (turtle, nt, json-ld, xml), shortened by triples until it fits ``max_bytes``."""
    cut = row_cut
    keep = list(triples)
    for _ in range(12):
        body = new_graph(keep).serialize(format=fmt, encoding="utf-8")
        if cut is not None and fmt in ("turtle", "nt"):
            body = f"# {cut.note()}\n".encode() + body
        if len(body) <= max_bytes:
            return body, cut
        # Too big: keep proportionally fewer triples (a little fewer than needed, for the note and the prefixes).
        count = int(len(keep) * max_bytes / len(body) * 0.9) - 1
        keep = keep[: max(count, 0)]
        cut = Cut("bytes", max_bytes, len(keep))
    return b"", Cut("bytes", max_bytes, 0)
