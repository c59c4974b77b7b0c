"""``hipkg serve``: the knowledge graph over HTTP (SPARQL 1.1 Protocol, a JSON API, web pages).

Stack: Starlette (ASGI routing, requests, static files, CORS) on uvicorn (HTTP/1.1 server, h11 parser). Both are
small, maintained, pure-Python wheels with few dependencies (anyio, h11, click), so ``pip install 'hipkg[serve]'``
works on a fresh machine without a compiler. The standard library's http.server was not chosen: its documentation
says it is not meant for production and it leaves request parsing limits, keep-alive and header hardening to the
caller; uvicorn's h11 parser bounds header sizes and refuses malformed requests with a 400 of its own.

Design:
  * Read-only and isolated: every query and recommendation runs in a worker process forked from a fork server that
    loaded the graph once (``hipkg.serve.pool``); workers cannot open network connections, and query text is checked
    on rdflib's parse tree first (updates 403; SERVICE, FROM, FROM NAMED 400; LOAD is an update). The server
    process's own graph, used for the pages and parameter binding, is only read.
  * Limits (``hipkg.serve.config.Limits``): a time limit that kills and replaces the worker (504), row/triple and byte
    caps on answers (the ``Hipkg-Truncated`` header, and a note in the body where the format allows), a request size
    cap (413 / 414), a concurrency cap (503 with Retry-After).
  * Errors are short and never repeat the request: SPARQL syntax errors give line and column, situation errors the
    position of the bad value.
  * Bound to 127.0.0.1 by default; CORS is off unless one origin is allowed with ``--cors``.
"""
from __future__ import annotations

import socket
import sys
import threading
from typing import Any, Callable

import hipkg
from hipkg.errors import InputError
from hipkg.serve.config import Limits

__all__ = ["Limits", "serve"]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so that asyncio sets TCP_NODELAY on accepted connections: without it Nagle's algorithm held
    # small replies back by about 40 ms each (measured with bench/run.py).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, limits: Limits = Limits(), cors: str | None = None,
          quiet: bool = False, announce: Callable[[str], Any] = print) -> None:
    """Load the graph, start the query workers, and serve until interrupted (Ctrl-C or SIGTERM)."""
    try:
        import starlette  # noqa: F401 - imported only to say clearly when the extra is missing
        import uvicorn  # optional dependency (serve extra)
    except ImportError:
        raise InputError("hipkg serve needs the 'serve' extra: pip install 'hipkg[serve]'") from None

    from hipkg.serve.app import create_app  # needs the serve extra and the graph stack; `hipkg --help` imports this package
    from hipkg.serve.pool import WorkerPool  # the worker's graph stack, only for `hipkg serve` (start-up time)

    sock = _bind(host, port)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown}:{real_port}/"

    pool = WorkerPool(limits.workers)
    failure: list[BaseException] = []

    def start_pool() -> None:
        try:
            pool.start()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)

    starter = threading.Thread(target=start_pool, name="hipkg-pool-start")
    starter.start()  # the fork server loads the graph while this process loads its own copy
    try:
        kg = hipkg.load()
        kg.data  # noqa: B018
        app = create_app(kg, pool, limits, base_url, cors)
        starter.join()
        if failure:
            raise InputError(f"the query workers did not start: {failure[0]}")
        config = uvicorn.Config(app, log_level="warning" if quiet else "info", access_log=not quiet, lifespan="off",
                                server_header=False, timeout_keep_alive=5, limit_concurrency=max(64, (limits.max_concurrent + limits.max_recommend) * 4))
        server = uvicorn.Server(config)
        announce(f"hipkg: serving on {base_url} (SPARQL endpoint {base_url}sparql, API {base_url}openapi.json); stop with Ctrl-C")
        sys.stdout.flush()
        server.run(sockets=[sock])
    finally:
        starter.join()
        pool.close()
        sock.close()
