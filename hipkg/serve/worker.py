"""The query worker: a child process that holds the loaded graph and answers one job at a time over a pipe.

Workers are forked (by multiprocessing's fork server, which loaded the graph once before forking) so each has its
own copy-on-write copy of the graph: nothing a query does can change what the server process, or the next worker,
sees. The server kills a worker at its deadline and starts a new one. A worker cannot open network connections at all
(socket connect and name resolution are replaced by functions that refuse), which backs up the parse-tree checks
that refuse SERVICE, FROM and LOAD.

Jobs (tuples) and replies:
  ("ping",)                                         -> ("ok", pid)
  ("sparql", text, accept, max_rows, max_bytes)    -> ("ok", media_type, body, cut_header_or_None)
  ("recommend", situation_dict)                    -> ("ok", "application/json", body, None)
  any failure                                      -> ("error", http_status, short message)
"""
from __future__ import annotations

import os
import re
import signal
import socket
from typing import Any

from hipkg.errors import InputError


def _refuse_network(*_args: Any, **_kwargs: Any) -> Any:
    raise OSError("network access is disabled in hipkg query workers")


def disable_network() -> None:
    """Make every outgoing connection (and DNS lookup) from this process fail."""
    socket.socket.connect = _refuse_network  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse_network  # type: ignore[method-assign]
    socket.create_connection = _refuse_network  # type: ignore[assignment]
    socket.getaddrinfo = _refuse_network  # type: ignore[assignment]


def safety_message(message: str) -> tuple[int, str]:
    """A check_query refusal as (status, short message) that quotes nothing of the query text."""
    if "updates are refused" in message:
        return 403, "updates are refused: this endpoint is read-only (no INSERT, DELETE, LOAD, CLEAR, DROP, CREATE, ADD, MOVE or COPY)"
    if "SERVICE is refused" in message:
        return 400, "SERVICE is refused: this endpoint never contacts other endpoints"
    if "FROM / FROM NAMED" in message:
        return 400, "FROM and FROM NAMED are refused: the dataset is fixed and nothing is ever fetched"
    where = re.search(r"syntax error at (line \d+, column \d+)", message)
    if where:
        return 400, f"SPARQL syntax error at {where.group(1)}"
    return 400, "the query cannot be parsed as SPARQL 1.1"


def run_sparql_job(graph: Any, text: str, accept: list[tuple[str, float]], max_rows: int, max_bytes: int) -> tuple:
    from hipkg.namespaces import PREFIXES
    from hipkg.safety import check_query
    from hipkg.serve import results

    try:
        form = check_query(text, allow_service=False, name="query")
    except InputError as exc:
        return ("error", *safety_message(str(exc)))
    offered = {"SELECT": results.SELECT_TYPES, "ASK": results.ASK_TYPES}.get(form, results.GRAPH_TYPES)
    media = results.negotiate(accept, offered)
    if media is None:
        return ("error", 406, f"no acceptable format for a {form} answer; this endpoint offers: {', '.join(dict.fromkeys(offered))}")
    fmt = offered[media]
    try:
        answer = graph.query(text, initNs=PREFIXES)
        if answer.type == "ASK":
            return ("ok", media, results.ask_body(fmt, bool(answer.askAnswer)), None)
        items, cut = [], None
        for item in answer:
            if len(items) >= max_rows:
                cut = results.Cut("rows", max_rows, max_rows)
                break
            items.append(tuple(item))
        if answer.type == "SELECT":
            body, cut = results.select_body(fmt, [str(v) for v in answer.vars], items, cut, max_bytes)
        else:
            body, cut = results.graph_body(fmt, items, cut, max_bytes)
    except Exception as exc:  # noqa: BLE001 - rdflib raises many types; the message could quote the query
        return ("error", 400, f"query evaluation failed ({type(exc).__name__})")
    return ("ok", media, body, cut.header() if cut else None)


def handle(kg: Any, job: tuple) -> tuple:
    kind = job[0]
    if kind == "ping":
        return ("ok", os.getpid())
    if kind == "sparql":
        return run_sparql_job(kg.data, *job[1:])
    if kind == "recommend":
        try:
            return ("ok", "application/json", kg.recommend(job[1]).dumps().encode("utf-8"), None)
        except InputError as exc:
            return ("error", 400, str(exc))
    return ("error", 500, "unknown job")


def worker_main(conn: Any) -> None:  # pragma: no cover - runs in the child process
    import hipkg

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops its workers; Ctrl-C in a terminal must not
    disable_network()
    kg = hipkg.load()
    kg.data  # noqa: B018 - materialise before the first job (already done when the fork server preloaded it)
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
