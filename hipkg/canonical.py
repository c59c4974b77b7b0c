"""Canonical Turtle: one sorted, stable form per file, so a change shows as a small diff.

A leading block of ``#`` comment lines is kept verbatim (file-level documentation); the rest is
re-serialised by rdflib's ``longturtle`` writer with hipkg's fixed prefixes.
"""
from __future__ import annotations

from pathlib import Path

from rdflib.compare import to_canonical_graph

from hipkg.namespaces import new_graph
from hipkg.rdfio import parse_turtle


def canonical_turtle(text: str, name: str = "<turtle>") -> str:
    lines = text.splitlines()
    header = []
    for line in lines:
        if line.startswith("#"):
            header.append(line)
        else:
            break
    # Blank nodes get content-derived labels first (RDF canonicalisation), so the writer orders them the same way
    # whatever the order they were read in: without it, a file with many blank nodes could alternate between two forms.
    graph = new_graph(to_canonical_graph(parse_turtle(text, name, new_graph())))
    body = graph.serialize(format="longturtle")
    body = "\n".join(line.rstrip() for line in body.strip().splitlines()) + "\n"
    return ("\n".join(header) + "\n\n" if header else "") + body


def ontology_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.ttl") if p.is_file())


def format_files(paths: list[Path], check: bool) -> list[Path]:
    """Rewrite (or with check=True, only report) the files that are not canonical."""
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        canonical = canonical_turtle(text, str(path))
        if canonical != text:
            changed.append(path)
            if not check:
                path.write_text(canonical, encoding="utf-8")
    return changed
