"""Shared fixtures: the bundled knowledge graph is loaded once per test session."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest
from rdflib import Graph

import hipkg

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
ONTOLOGY = REPO / "ontology"


def parse_turtle_files(*paths: Path) -> Graph:
    """Turtle files parsed into one plain graph, straight from the source tree (as a validator user would)."""
    graph = Graph()
    for path in paths:
        graph.parse(path, format="turtle")
    return graph


@functools.cache
def shapes_graph() -> Graph:
    return parse_turtle_files(*sorted((ONTOLOGY / "shapes").glob("*.ttl")))


@functools.cache
def schema_graph() -> Graph:
    return parse_turtle_files(ONTOLOGY / "ontology.ttl", *sorted((ONTOLOGY / "schema").glob("*.ttl")))


@pytest.fixture(scope="session")
def kg() -> "hipkg.graph.KnowledgeGraph":
    return hipkg.load()
