"""Credentials in an endpoint URL (``http://user:password@host/...``) are sent and never shown.

hipkg.http promises that a password given in the URL goes to the server (HTTP Basic up front, Digest when asked) and
appears in no message, log line or reply: these tests hold the endpoint engine (execute, update, hold), hipkg.push.push
and the commands ``hipkg push``, ``hipkg query NAME`` and ``hipkg recommend`` with ``--endpoint`` to that, against a
port with nothing listening and a tiny loopback HTTP server that refuses (401, 404, 500, with a body) or answers 200
with garbage. Whatever comes back (an error's message, URL and other fields, its chained causes and rendered
traceback; a push report; standard output and error; every log record at DEBUG) is searched for the password, its
URL-encoded form, the ``user:password`` pair and its base64 form (the Basic token is as good as the password).

Only 127.0.0.1 is used; every server runs in a thread of this process and is stopped when its test ends.
"""
from __future__ import annotations

import base64
import http.server
import logging
import socket
import threading
import traceback
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest
from rdflib import Literal, URIRef

from hipkg.cli import main
from hipkg.engines import EndpointEngine
from hipkg.errors import EndpointError, HipkgError
from hipkg.push import push

#: (user, password): a plain one, and one that must be percent-encoded in a URL.
CREDENTIALS = {
    "plain": ("alice", "s3cr3t-PW"),
    "encoded": ("alice", "p@ss:w0rd/%x"),
}
#: HTTP timeout of every request made here (the servers answer at once; nothing waits that long).
TIMEOUT = 5.0


@dataclass(frozen=True)
class Mode:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


#: What the loopback server answers to every request, by name ("refused": no server, nothing listens on the port).
MODES = {
    "401-basic": Mode(401, "text/plain", b"login required for realm hipkg-test", (("WWW-Authenticate", 'Basic realm="hipkg-test"'),)),
    # Digest: urllib answers the challenge (a hash of the password goes out) until it gives up.
    "401-digest": Mode(401, "text/plain", b"digest required", (("WWW-Authenticate", 'Digest realm="hipkg-test", nonce="n0nce", qop="auth"'),)),
    # A scheme urllib's Digest handler does not know.
    "401-bearer": Mode(401, "text/plain", b"token required", (("WWW-Authenticate", 'Bearer realm="hipkg-test"'),)),
    "404": Mode(404, "text/plain", b"no such dataset here"),
    "500": Mode(500, "text/html", b"<html><body><h1>Internal Server Error</h1><pre>Traceback: boom</pre></body></html>"),
    "200-garbage-json": Mode(200, "application/sparql-results+json", b"\x00{{{ this is not JSON"),
    "200-garbage-html": Mode(200, "text/html", b"<html>not RDF at all</html> @@@ ;;;"),
}


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]


@dataclass
class Endpoint:
    """Where a test sends its requests: ``url`` with the credentials; ``seen`` lists what the server received."""

    mode: str
    user: str
    password: str
    port: int
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        userinfo = f"{urllib.parse.quote(self.user, safe='')}:{urllib.parse.quote(self.password, safe='')}"
        return f"http://{userinfo}@127.0.0.1:{self.port}/dataset/sparql"

    @property
    def public(self) -> str:
        return f"http://127.0.0.1:{self.port}/dataset/sparql"

    @property
    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")

    def secrets(self) -> list[str]:
        """Every form in which the password could show."""
        pair = f"{self.user}:{self.password}"
        forms = {self.password, urllib.parse.quote(self.password, safe=""), urllib.parse.quote(self.password),
                 pair, base64.b64encode(pair.encode()).decode("ascii")}
        return sorted(forms)


def _handler(mode: Mode, seen: list[Seen]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)  # read the whole request first: replying early would reset the connection
            seen.append(Seen(self.command, self.path, list(self.headers.items())))
            self.send_response(mode.status)
            self.send_header("Content-Type", mode.content_type)
            self.send_header("Content-Length", str(len(mode.body)))
            for name, value in mode.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(mode.body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass  # quiet: the request log is `seen`

    return Handler


@pytest.fixture(params=sorted(CREDENTIALS))
def credentials(request: pytest.FixtureRequest) -> tuple[str, str]:
    return CREDENTIALS[request.param]


@pytest.fixture(params=["refused", *MODES])
def endpoint(request: pytest.FixtureRequest, credentials: tuple[str, str]) -> Iterator[Endpoint]:
    user, password = credentials
    if request.param == "refused":
        # Bound but not listening: connecting is refused, and no other process can take the port meanwhile.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            yield Endpoint("refused", user, password, sock.getsockname()[1])
        finally:
            sock.close()
        return
    seen: list[Seen] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(MODES[request.param], seen))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="hipkg-test-endpoint", daemon=True)
    thread.start()
    try:
        yield Endpoint(request.param, user, password, server.server_address[1], seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------- what comes back


@dataclass
class Outcome:
    """Everything a caller (or a user at a terminal) gets to see from one call."""

    texts: dict[str, str]  # where -> text
    error: BaseException | None = None
    code: int | None = None


def _exception_texts(exc: BaseException) -> dict[str, str]:
    """The message, repr and every field of an exception and of each exception chained to it, and its traceback."""
    texts = {"traceback": "".join(traceback.format_exception(exc))}
    seen: set[int] = set()
    current: BaseException | None = exc
    depth = 0
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts[f"str(exc{depth})"] = str(current)
        texts[f"repr(exc{depth})"] = repr(current)
        for name, value in vars(current).items():
            texts[f"exc{depth}.{name}"] = repr(value)
        current = current.__cause__ or current.__context__
        depth += 1
    return texts


def _api(call: Callable[[], Any]) -> Outcome:
    try:
        value = call()
    except Exception as exc:  # noqa: BLE001 - whatever escapes is searched too
        return Outcome(_exception_texts(exc), error=exc)
    texts = {"returned": repr(value)}
    for name in ("describe", "to_json"):  # a push report
        if hasattr(value, name):
            texts[name] = repr(getattr(value, name)())
    return Outcome(texts)


def _cli(argv: list[str]) -> Outcome:
    try:
        return Outcome({}, code=main(argv))
    except Exception as exc:  # noqa: BLE001 - an error that escapes main() would be printed as a traceback
        return Outcome(_exception_texts(exc), error=exc)


def _hold(engine: EndpointEngine) -> None:
    with engine.hold([(URIRef("urn:hipkg:situation:test"), URIRef("https://w3id.org/hipkg/findingCode"), Literal("ICD10CM:M16.11"))]):
        pass


#: name -> function(endpoint, kg) -> Outcome
CALLS: dict[str, Callable[[Endpoint, Any], Outcome]] = {
    "engine.execute": lambda ep, kg: _api(lambda: EndpointEngine(ep.url, timeout=TIMEOUT).execute("SELECT * WHERE { ?s ?p ?o } LIMIT 1")),
    "engine.update": lambda ep, kg: _api(lambda: EndpointEngine(ep.url, timeout=TIMEOUT).update("INSERT DATA { <urn:a> <urn:b> <urn:c> }", "loading")),
    "engine.hold": lambda ep, kg: _api(lambda: _hold(EndpointEngine(ep.url, timeout=TIMEOUT))),
    "push.push": lambda ep, kg: _api(lambda: push(kg, ep.url, timeout=TIMEOUT)),
    "cli push": lambda ep, kg: _cli(["push", "--endpoint", ep.url, "--timeout", str(TIMEOUT)]),
    "cli query": lambda ep, kg: _cli(["query", "knowledge/contraindications", "--endpoint", ep.url, "--timeout", str(TIMEOUT)]),
    "cli recommend": lambda ep, kg: _cli(["recommend", "--finding", "ICD10CM:M16.11", "--endpoint", ep.url]),
}


def _leaks(ep: Endpoint, texts: dict[str, str]) -> list[str]:
    return [f"{where} shows {secret!r}: {text[:300]!r}" for where, text in texts.items() for secret in ep.secrets() if secret in text]


@pytest.mark.parametrize("call", sorted(CALLS))
def test_the_password_is_sent_and_never_shown(call: str, endpoint: Endpoint, kg: Any, capsys: pytest.CaptureFixture[str],
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = CALLS[call](endpoint, kg)
    out, err = capsys.readouterr()
    texts = {**outcome.texts, "stdout": out, "stderr": err, "log": caplog.text}
    texts.update({f"log record {i}": f"{r.name} {r.getMessage()} {r.args!r}" for i, r in enumerate(caplog.records)})
    assert _leaks(endpoint, texts) == []

    # An EndpointError names the URL without the credentials.
    if isinstance(outcome.error, EndpointError):
        assert outcome.error.url.startswith(endpoint.public), outcome.error.url
    # The command line reports an error it knows as one line on standard error.
    if call.startswith("cli") and outcome.error is None and outcome.code != 0:
        assert outcome.code == 2 and err.startswith("hipkg: error: "), (outcome.code, err)

    # What was said, so that "nothing shown" is not "nothing said".
    said = err if call.startswith("cli") else str(outcome.error)
    if endpoint.mode == "refused":
        assert "cannot reach" in said and f"http://127.0.0.1:{endpoint.port}/dataset/sparql" in said, said
        assert endpoint.seen == []
        return
    status = MODES[endpoint.mode].status
    if status != 200 and endpoint.mode != "401-bearer":
        assert f"HTTP {status}" in said and f"http://127.0.0.1:{endpoint.port}/dataset/sparql" in said, said
        if not call.startswith("cli"):
            assert isinstance(outcome.error, EndpointError) and outcome.error.status == status
    if status == 200 and call in ("push.push", "cli push"):  # pushed: the report names the URL, without credentials
        assert outcome.error is None and outcome.code in (None, 0)
        assert f"of {endpoint.public} with the Graph Store Protocol" in (out if call == "cli push" else outcome.texts["describe"])

    # The credentials did go to the server: Basic on the first request of each exchange, Digest when challenged ...
    assert endpoint.seen, "the server saw no request"
    for request in endpoint.seen:
        authorization = [v for k, v in request.headers if k.lower() == "authorization"]
        assert len(authorization) == 1, request
        value = authorization[0]
        if value.startswith("Digest "):
            assert endpoint.mode == "401-digest" and f'username="{endpoint.user}"' in value
        else:
            assert value == endpoint.basic
    assert any(v == endpoint.basic for r in endpoint.seen for k, v in r.headers if k.lower() == "authorization")
    if endpoint.mode == "401-digest":  # the challenge was answered
        assert any(v.startswith("Digest ") for r in endpoint.seen for k, v in r.headers if k.lower() == "authorization")
    # ... and nowhere else: not in the request line, not in another header (Host names no user).
    for request in endpoint.seen:
        others = [f"{k}: {v}" for k, v in request.headers if k.lower() != "authorization"]
        assert _leaks(endpoint, {"request line": f"{request.method} {request.path}", **{o: o for o in others}}) == []
        assert request.path.startswith("/dataset/sparql")


@pytest.mark.parametrize("url", [
    "ftp://alice:s3cr3t-PW@127.0.0.1/store",  # not http(s)
    "http://alice:s3cr3t-PW@127.0.0.1:99999/store",  # port out of range
    "http://alice:s3cr3t-PW@/store",  # no host
])
def test_a_refused_url_is_named_without_its_password(url: str, kg: Any, capsys: pytest.CaptureFixture[str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    outcomes = {
        "engine": _api(lambda: EndpointEngine(url, timeout=TIMEOUT).execute("ASK {}")),
        "push": _api(lambda: push(kg, url, timeout=TIMEOUT)),
        "cli push": _cli(["push", "--endpoint", url, "--timeout", str(TIMEOUT)]),
        "cli query": _cli(["query", "knowledge/contraindications", "--endpoint", url, "--timeout", str(TIMEOUT)]),
        "cli recommend": _cli(["recommend", "--finding", "ICD10CM:M16.11", "--endpoint", url]),
    }
    out, err = capsys.readouterr()
    texts = {f"{name}: {where}": text for name, o in outcomes.items() for where, text in o.texts.items()}
    texts.update({"stdout": out, "stderr": err, "log": caplog.text})
    leaks = [where for where, text in texts.items() if "s3cr3t-PW" in text or "alice:" in text]
    assert leaks == [], {where: texts[where][:300] for where in leaks}
    for name in ("engine", "push"):
        assert isinstance(outcomes[name].error, HipkgError), (name, outcomes[name].error)
    for name in ("cli push", "cli query", "cli recommend"):
        assert outcomes[name].code == 2, (name, outcomes[name])
    assert err.count("hipkg: error: ") == 3


def test_a_redirect_to_another_host_does_not_carry_the_credentials(credentials: tuple[str, str]) -> None:
    """The Basic header goes to the server the user named, not to wherever that server redirects (as curl does it)."""
    user, password = credentials
    other_seen: list[Seen] = []
    other = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _handler(Mode(200, "application/sparql-results+json", b'{"head": {}, "boolean": true}'), other_seen))

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(303)
            self.send_header("Location", f"http://127.0.0.2:{other.server_address[1]}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    first = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True) for s in (first, other)]
    for t in threads:
        t.start()
    try:
        ep = Endpoint("redirect", user, password, first.server_address[1])
        try:
            EndpointEngine(ep.url, timeout=TIMEOUT).execute("ASK {}")
        except Exception:  # noqa: BLE001 - refusing the redirect is fine too; what matters is what the other host saw
            pass
        sent = [v for r in other_seen for k, v in r.headers if k.lower() == "authorization"]
        assert not sent, f"{len(sent)} request(s) to 127.0.0.2 carried the credentials after a redirect"
    finally:
        for s in (first, other):
            s.shutdown()
            s.server_close()
        for t in threads:
            t.join(timeout=5)
