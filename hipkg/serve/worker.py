"""The query worker: a child process that holds the loaded graph and answers one job at a time over a pipe.

Workers are forked (by multiprocessing's fork server, which loaded the graph once before forking) so each has its
own copy-on-write copy of the graph: nothing a query does can change what the server process, or the next worker,
sees. The server kills a worker at its deadline and starts a new one. A worker cannot open network connections at all
(socket connect and name resolution are replaced by functions that refuse), which backs up the parse-tree checks
that refuse SERVICE, FROM and LOAD.

Jobs (tuples) and replies:
  ("ping",)                                         -> ("ok", pid)
  ("sparql", text, accept, max_rows, max_bytes)    -> ("ok", media_type, body, cut_header_or_None)
  any failure                                      -> ("error", http_status, short message)
"""
from __future__ import annotations

import os
import signal
import socket
from typing import Any

import hipkg
from hipkg import results
from hipkg.errors import QueryFailed, QueryRefused, QuerySyntaxError
from hipkg.graph import KnowledgeGraph
from hipkg.safety import check_query
from hipkg.serve import media
from hipkg.sparql import evaluate


def _refuse_network(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError("network access is disabled in hipkg query workers")


def disable_network() -> None:
    """Make every outgoing connection (and DNS lookup) from this process fail."""
    socket.socket.connect = _refuse_network  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse_network  # type: ignore[method-assign]
    socket.create_connection = _refuse_network  # type: ignore[assignment]
    socket.getaddrinfo = _refuse_network  # type: ignore[assignment]


#: What a refusal (QueryRefused.kind) gets: HTTP status and a message that quotes nothing of the query text.
REFUSALS = {
    "update": (403, "updates are refused: this endpoint is read-only (no INSERT, DELETE, LOAD, CLEAR, DROP, CREATE, ADD, MOVE or COPY)"),
    "service": (400, "SERVICE is refused: this endpoint never contacts other endpoints"),
    "dataset": (400, "FROM and FROM NAMED are refused: the dataset is fixed and nothing is ever fetched"),
}


def run_sparql_job(kg: KnowledgeGraph, text: str, accept: list[tuple[str, float]], max_rows: int, max_bytes: int) -> tuple:
    """Check, negotiate, evaluate on the graph's engine (Oxigraph by default) and write the body within the caps."""
    try:
        checked = check_query(text, allow_service=False, name="query")
    except QueryRefused as exc:
        return ("error", *REFUSALS[exc.kind])
    except QuerySyntaxError as exc:
        return ("error", 400, exc.public)
    form = checked.form
    offered = {"SELECT": media.SELECT_TYPES, "ASK": media.ASK_TYPES}.get(form, media.GRAPH_TYPES)
    chosen = media.negotiate(accept, offered)
    if chosen is None:
        return ("error", 406, f"no acceptable format for a {form} answer; this endpoint offers: {', '.join(dict.fromkeys(offered))}")
    fmt = offered[chosen]
    try:
        answer = evaluate(kg.engine, text, limit=max_rows, checked=checked)  # checked once, above
    except (QuerySyntaxError, QueryFailed) as exc:
        return ("error", 400, exc.public)
    cut = results.Cut("rows", max_rows, max_rows) if answer.truncated else None
    if answer.kind == "ASK":
        return ("ok", chosen, results.ask_body(fmt, bool(answer.boolean)), None)
    if answer.kind == "SELECT":
        body, cut = results.select_body(fmt, list(answer.vars), answer.rows, cut, max_bytes)
    else:
        body, cut = results.graph_body(fmt, list(answer.graph or ()), cut, max_bytes)
    return ("ok", chosen, body, cut.header() if cut else None)


def handle(kg: KnowledgeGraph, job: tuple) -> tuple:
    kind = job[0]
    if kind == "ping":
        return ("ok", os.getpid())
    if kind == "sparql":
        return run_sparql_job(kg, *job[1:])
    return ("error", 500, "unknown job")


def worker_main(conn: Any) -> None:  # pragma: no cover - runs in the child process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops its workers; Ctrl-C in a terminal must not
    disable_network()
    kg = hipkg.load()  # the graph comes from the fork server's preloaded copy
    kg.engine  # noqa: B018 - built before the first job (already done when the fork server preloaded it)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            reply = handle(kg, job)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker silently
            reply = ("error", 500, f"internal error in query worker ({type(exc).__name__})")
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
