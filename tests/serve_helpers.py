"""Helpers for the hipkg serve tests: start `hipkg serve` on a free loopback port, talk to it with a real HTTP client."""
from __future__ import annotations

import http.client
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)

    @property
    def type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


class Server:
    """`python -m hipkg serve --port 0 ARGS...` in a subprocess; the first stdout line names the URL."""

    def __init__(self, *args: str, startup: float = 120.0) -> None:
        self.log = open(os.path.join(REPO, ".pytest_cache", f"serve-{os.getpid()}-{time.monotonic_ns()}.log"), "wb") \
            if os.path.isdir(os.path.join(REPO, ".pytest_cache")) else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hipkg", "serve", "--port", "0", "--quiet", *args],
            stdout=subprocess.PIPE, stderr=self.log, cwd=REPO, start_new_session=True,
        )
        deadline = time.monotonic() + startup
        line = b""
        while time.monotonic() < deadline and self.process.poll() is None:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.5)
            if ready:
                line = self.process.stdout.readline()
                break
        if b"serving on " not in line:
            self.stop()
            raise RuntimeError(f"hipkg serve did not start (exit code {self.process.returncode}): {line!r}")
        self.url = line.split(b"serving on ", 1)[1].split()[0].decode()
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self.process.stdout:
            self.process.stdout.close()
        if self.log is not subprocess.DEVNULL:
            self.log.close()

    def request(self, method: str, path: str, body: bytes | str | None = None, headers: dict[str, str] | None = None,
                timeout: float = 60.0, chunked: bool = False) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            data = body.encode() if isinstance(body, str) else body
            if chunked:
                conn.request(method, path, body=iter([data]), headers=headers or {}, encode_chunked=True)
            else:
                conn.request(method, path, body=data, headers=headers or {})
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def get(self, path: str, params: dict | list | None = None, **kw) -> Reply:
        return self.request("GET", path + (("?" + urlencode(params, doseq=True)) if params else ""), **kw)

    def sparql(self, query: str, accept: str | None = None, method: str = "POST") -> Reply:
        headers = {"Accept": accept} if accept else {}
        if method == "GET":
            return self.get("/sparql", {"query": query}, headers=headers)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.request("POST", "/sparql", urlencode({"query": query}), headers)

    def recommend(self, situation) -> Reply:
        body = situation if isinstance(situation, (str, bytes)) else json.dumps(situation)
        return self.request("POST", "/recommend", body, {"Content-Type": "application/json"})
