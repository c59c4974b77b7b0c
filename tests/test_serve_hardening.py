"""hipkg serve hardening: read-only, never reaches out, time limits that stop work, caps, clean errors, CORS.

One server per module with small limits, started by the test on a free loopback port.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlencode

import pytest

from serve_helpers import Server

TIMEOUT = 2.5
ORIGIN = "https://allowed.example"
SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
QUICK = "SELECT ?p WHERE { ?p a hipkg:Pro } LIMIT 1"
MARKER = "EVIL<script>alert(1)</script>MARKER"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def server():
    s = Server("--timeout", str(TIMEOUT), "--workers", "2", "--max-concurrent", "3", "--max-rows", "20",
               "--max-bytes", "4000", "--max-request-bytes", "2048", "--cors", ORIGIN)
    yield s
    s.stop()


def triples(server) -> int:
    reply = server.sparql("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")
    assert reply.status == 200
    return int(reply.json()["results"]["bindings"][0]["n"]["value"])


# ------------------------------------------------------------------------------------------------ read-only


def test_updates_get_403_and_change_nothing(server):
    before = triples(server)
    update = "INSERT DATA { <urn:x:a> <urn:x:b> <urn:x:c> }"
    assert server.request("POST", "/sparql", urlencode({"update": update}), FORM).status == 403
    assert server.request("POST", "/sparql", update, {"Content-Type": "application/sparql-update"}).status == 403
    assert server.sparql(update).status == 403
    assert server.sparql("DELETE WHERE { ?s ?p ?o }").status == 403
    assert server.sparql("CLEAR ALL").status == 403
    assert server.get("/sparql", {"update": "DROP ALL"}).status == 403
    assert triples(server) == before


# ------------------------------------------------------------------------------------------------ never reaches out


def test_service_from_and_load_never_connect(server):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    arrived: list[tuple] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                conn, addr = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            arrived.append(addr)
            conn.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    url = f"http://127.0.0.1:{port}"
    try:
        cases = [
            (server.sparql(f"SELECT * WHERE {{ SERVICE <{url}/sparql> {{ ?s ?p ?o }} }}"), 400),
            (server.sparql(f"SELECT * WHERE {{ SERVICE SILENT <{url}/sparql> {{ ?s ?p ?o }} }}"), 400),
            (server.sparql(f"SELECT * FROM <{url}/g.ttl> WHERE {{ ?s ?p ?o }}"), 400),
            (server.sparql(f"SELECT * FROM NAMED <{url}/g.ttl> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"), 400),
            (server.sparql(f"CONSTRUCT {{ ?s ?p ?o }} FROM <{url}/g.ttl> WHERE {{ ?s ?p ?o }}"), 400),
            (server.sparql(f"LOAD <{url}/g.ttl>"), 403),
            (server.request("POST", "/sparql", urlencode({"update": f"LOAD <{url}/g.ttl>"}), FORM), 403),
            (server.get("/sparql", {"query": QUICK, "default-graph-uri": f"{url}/g.ttl"}), 400),
            (server.get("/sparql", {"query": QUICK, "named-graph-uri": f"{url}/g.ttl"}), 400),
            (server.sparql(f"SELECT * WHERE {{ GRAPH <{url}/g.ttl> {{ ?s ?p ?o }} }}"), (200, 400)),  # rdflib: no named graphs here
            (server.sparql(f"DESCRIBE <{url}/thing>"), 200),
        ]
        for reply, status in cases:
            assert reply.status in (status if isinstance(status, tuple) else (status,)), reply.text
        time.sleep(0.5)
    finally:
        stop.set()
        watcher.join()
        listener.close()
    assert arrived == [], "the server connected to the loopback listener"


# ------------------------------------------------------------------------------------------------ time limit


def test_timeout_kills_the_worker_and_the_next_request_is_served(server):
    restarts = server.get("/healthz").json()["worker_restarts"]
    for _ in range(2):  # as many as there are workers: both original workers are killed
        started = time.monotonic()
        reply = server.sparql(SLOW)
        took = time.monotonic() - started
        assert reply.status == 504 and f"{TIMEOUT:g} s" in reply.text
        assert TIMEOUT - 0.2 < took < TIMEOUT + 3
    health = server.get("/healthz").json()
    assert health["worker_restarts"] == restarts + 2 and health["workers"] == 2
    started = time.monotonic()
    assert server.sparql(QUICK).status == 200
    assert time.monotonic() - started < TIMEOUT


def test_concurrency_cap_gives_503(server):
    replies: list = []
    lock = threading.Lock()

    def slow() -> None:
        r = server.sparql(SLOW)
        with lock:
            replies.append(r)

    threads = [threading.Thread(target=slow) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses = sorted(r.status for r in replies)
    assert statuses.count(503) >= 3, statuses  # at most 3 queries at once
    assert set(statuses) <= {503, 504}
    busy = next(r for r in replies if r.status == 503)
    assert busy.headers.get("retry-after") == "1"
    assert server.sparql(QUICK).status == 200  # served again once the burst is over


# ------------------------------------------------------------------------------------------------ caps


def test_row_cap_is_announced(server):
    reply = server.sparql("SELECT ?s WHERE { ?s ?p ?o }")
    assert reply.status == 200
    assert reply.headers["hipkg-truncated"].startswith("rows; limit=20")
    data = reply.json()
    assert len(data["results"]["bindings"]) <= 20 and "truncated" in data["hipkg:truncated"]["message"]
    csv_reply = server.sparql("SELECT ?p WHERE { ?s ?p ?o }", "text/csv")
    assert len(csv_reply.text.splitlines()) == 21 and csv_reply.headers["hipkg-truncated"].startswith("rows")
    graph = server.sparql("CONSTRUCT { ?s a ?o } WHERE { ?s a ?o }")
    assert graph.text.startswith("# answer truncated") and "hipkg-truncated" in graph.headers
    assert "hipkg-truncated" not in server.sparql(QUICK).headers


def test_byte_cap_is_announced(server):
    query = "SELECT ?s ?text WHERE { ?s ?p ?text FILTER(isLiteral(?text) && STRLEN(STR(?text)) > 150) }"
    for accept in ("application/sparql-results+json", "application/sparql-results+xml", "text/tab-separated-values"):
        reply = server.sparql(query, accept)
        assert reply.status == 200 and len(reply.body) <= 4000
        assert reply.headers["hipkg-truncated"].startswith("bytes; limit=4000")
    assert "hipkg:truncated" in server.sparql(query).json()


def test_request_size_caps(server):
    big = "SELECT * WHERE { ?s ?p ?o } #" + "x" * 3000
    assert server.sparql(big).status == 413
    assert server.request("POST", "/sparql", big, {"Content-Type": "application/sparql-query"}).status == 413
    assert server.request("POST", "/sparql", big, {"Content-Type": "application/sparql-query"}, chunked=True).status == 413
    assert server.recommend({"findings": ["ICD10CM:M16.12"] * 200}).status == 413
    assert server.get("/sparql", {"query": big}).status == 414
    assert server.sparql(QUICK).status == 200


# ------------------------------------------------------------------------------------------------ clean 400s


@pytest.mark.parametrize("body", [
    MARKER,
    json.dumps({"findings": [MARKER]}),
    json.dumps({"findings": ["ICD10CM:" + MARKER]}),
    json.dumps({"findings": ["SNOMEDCT:" + MARKER]}),
    json.dumps({"findings": ["ICD10CM:M16.12"], "allergies": [MARKER]}),
    json.dumps({"findings": ["ICD10CM:M16.12"], "goal": MARKER}),
    json.dumps({MARKER: 1, "findings": ["ICD10CM:M16.12"]}),
    json.dumps({"findings": MARKER}),
    json.dumps([MARKER]),
], ids=["not-json", "finding", "icd", "snomed", "allergy", "goal", "key", "findings-type", "list"])
def test_bad_situations_get_400_without_echo(server, body):
    reply = server.recommend(body)
    assert reply.status == 400 and reply.type == "application/json"
    assert "MARKER" not in reply.text and "EVIL" not in reply.text
    assert 0 < len(reply.json()["error"]) <= 300


def test_bad_queries_get_400_without_echo(server):
    for reply in (
        server.sparql(f"SELECT * WHERE {{ ?s ?p \"{MARKER}\" . ?x }}"),
        server.sparql(f"SELECT * WHERE {{ ?s ?p ?o }} {MARKER}"),
        server.sparql(f"SELECT * WHERE {{ SERVICE <urn:{MARKER}> {{ ?s ?p ?o }} }}"),
        server.get("/queries/knowledge/indications", {"target": MARKER}),
        server.get("/queries/" + MARKER.replace("<", "").replace(">", "")),
        server.get("/concept/hipkg:" + MARKER.replace("<", "").replace(">", "")),
        server.request("POST", "/recommend", b"\xff\xfe" + MARKER.encode(), {"Content-Type": "application/json"}),
        server.request("POST", "/sparql", b"query=\xff" + MARKER.encode(), FORM),
    ):
        assert reply.status in (400, 404), reply.status
        assert "MARKER" not in reply.text


def test_form_page_never_reflects_markup(server):
    reply = server.get("/", {"finding": MARKER})
    assert reply.status == 400
    assert "<script>alert" not in reply.text  # the typed value is only shown back escaped, in its input field
    assert "Finding 1" in reply.text


# ------------------------------------------------------------------------------------------------ CORS


def test_cors_allows_exactly_one_origin(server):
    ok = server.get("/healthz", headers={"Origin": ORIGIN})
    assert ok.headers.get("access-control-allow-origin") == ORIGIN
    other = server.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = server.request("OPTIONS", "/recommend", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status == 200 and preflight.headers.get("access-control-allow-origin") == ORIGIN
    denied = server.request("OPTIONS", "/recommend", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert denied.headers.get("access-control-allow-origin") != "https://evil.example"


# ------------------------------------------------------------------------------------------------ capacity and health


def test_recommendations_are_answered_while_slow_sparql_fills_every_worker(server):
    """/recommend has its own capacity, in the server process: slow SPARQL queries holding every worker (and the
    query cap) do not make it wait or fail."""
    threads = [threading.Thread(target=server.sparql, args=(SLOW,)) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the slow queries hold both workers and the third waits
    started = time.monotonic()
    replies = [server.request("POST", "/recommend", json.dumps({"findings": ["ICD10CM:M16.11"]}), {"Content-Type": "application/json"})
               for _ in range(10)]
    took = time.monotonic() - started
    for t in threads:
        t.join(60)
    assert [r.status for r in replies] == [200] * 10
    assert took < TIMEOUT, took  # answered before the slow queries' deadline


def _worker_pids(server) -> list[int]:
    """The query workers: the processes the fork server (a child of the server) forked."""
    import os

    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    forkservers = [pid for pid, ppid in parents.items() if ppid == server.process.pid
                   and b"forkserver" in open(f"/proc/{pid}/cmdline", "rb").read()]
    return sorted(pid for pid, ppid in parents.items() if ppid in forkservers)


def test_a_dead_idle_worker_is_replaced_before_the_next_request_and_healthz_tells(server):
    import os
    import signal

    health = server.get("/healthz").json()
    assert health["live_workers"] == 2
    workers = _worker_pids(server)
    assert len(workers) == 2, workers
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    assert server.sparql(QUICK).status == 200  # no 500: a dead worker is replaced before it is handed the query
    health = server.get("/healthz").json()
    assert health["status"] == "ok" and health["live_workers"] == 2
    assert health["worker_restarts"] >= 2


# ------------------------------------------------------------------------------------------------ bound values over HTTP

from test_param_values import REFUSED, SAME  # noqa: E402 - the same values as in-process, on both engines


@pytest.mark.parametrize("value", [v for v in SAME if isinstance(v, str)], ids=repr)
def test_a_bound_value_over_http_is_a_term_not_text(server, value):
    """The value reaches the query as one literal: no syntax error, and it matches nothing (as in-process)."""
    reply = server.get("/queries/knowledge/pros-cons", {"kind": value}, headers={"Accept": "application/sparql-results+json"})
    assert reply.status == 200, reply.text
    assert reply.json()["results"]["bindings"] == []


def test_a_bound_value_over_http_that_matches_answers(server):
    reply = server.get("/queries/knowledge/pros-cons", {"kind": "con"}, headers={"Accept": "application/sparql-results+json"})
    assert reply.status == 200 and {b["kind"]["value"] for b in reply.json()["results"]["bindings"]} == {"con"}


@pytest.mark.parametrize("value", REFUSED, ids=repr)
def test_a_value_a_parser_could_change_is_refused_over_http(server, value):
    reply = server.get("/queries/knowledge/pros-cons", {"kind": value})
    assert reply.status == 400 and "backslash followed by u or U" in reply.text
