"""Limits of the HTTP server, with their defaults (also the defaults of `hipkg serve`)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    #: seconds a query (or recommendation) may run before its worker is killed and replaced
    timeout: float = 10.0
    #: rows (SELECT) or triples (CONSTRUCT/DESCRIBE) in one answer
    max_rows: int = 10_000
    #: bytes of one answer body
    max_bytes: int = 10_000_000
    #: bytes of a request body, and of a request URL's query string
    max_request_bytes: int = 65_536
    #: query worker processes
    workers: int = 2
    #: queries running or waiting for a worker at once; more get 503 with Retry-After
    max_concurrent: int = 8
    #: recommendations answered at once; they run in the server process, apart from the query workers, so that slow
    #: SPARQL cannot starve them (a situation is bounded: at most 50 codes a list); more get 503 with Retry-After
    max_recommend: int = 16
    #: FHIR servers (base URLs) a CDS Hooks call may have missing prefetch fetched from (--allow-fhir-fetch); none
    #: by default: hipkg then answers 412 for missing prefetch, as CDS Hooks 2.0 says
    fhir_servers: tuple[str, ...] = ()
