"""Imported once by multiprocessing's fork server: load the graph and warm the caches, so that every query worker
forked from it starts with the graph already parsed (in about the time a fork takes)."""
from __future__ import annotations

import hipkg

_kg = hipkg.load()
_kg.engine  # noqa: B018 - the Oxigraph store every query runs on
_kg.data  # noqa: B018 - the rdflib graph the pages and parameter binding read
try:  # warm the recommendation caches (options, citations, parsed queries)
    _kg.recommend({"findings": ["ICD10CM:M16.12"]})
except Exception:  # noqa: BLE001 - warming is an optimisation only
    pass
