"""Shared fixtures: the bundled knowledge graph is loaded once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

import hipkg

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def kg() -> "hipkg.graph.KnowledgeGraph":
    return hipkg.load()
