"""Content negotiation for the SPARQL endpoint: which media types each query form is offered in, and which one a
client's ``Accept`` header picks."""
from __future__ import annotations

from typing import Sequence

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
