"""An interrupted push never leaves a wrong answer (issue #14): a situation's triples travel in one request, carry a
completeness mark that --stored checks, and a failed push says how many situations it committed; pushing the same file
again completes the rest."""
from __future__ import annotations

import http.server
import json
import threading
import urllib.request

import pytest

import hipkg
from hipkg.cli import main
from hipkg.errors import EndpointError
from hipkg.push import group_requests, push, situation_triples
from test_endpoint import BINARY, Server

CODES = ["ICD10CM:M16.11", "ICD10CM:Z79.01", "ICD10CM:E11.9", "ICD10CM:M70.61", "ICD10CM:R50.9", "RXNORM:11289"]


def situations(n: int) -> list[dict]:
    return [{"findings": [CODES[i % 5], CODES[(i + 2) % 5]], "medications": [CODES[5]] if i % 3 == 0 else []} for i in range(n)]


def test_a_group_is_never_split_across_requests():
    groups = [[f"<urn:s{i}> <urn:p> \"{j}\" ." for j in range(1 + i % 4)] for i in range(40)]
    requests = list(group_requests(groups, None, 5))
    assert sum(count for _, count in requests) == 40
    seen = [line for text, _ in requests for line in text.splitlines()[1:-1]]
    assert seen == [line for group in groups for line in group]
    for text, _ in requests:
        subjects = [line.split()[0] for line in text.splitlines()[1:-1]]
        for s in set(subjects):  # every line of a group is in the request that has any of it
            assert subjects.count(s) == sum(1 for g in groups if g[0].split()[0] == s for _ in g)


def test_every_pushed_situation_carries_its_completeness_mark():
    kg = hipkg.load()
    groups = situation_triples(kg, [(f"urn:x:{i}", kg.situation(s)) for i, s in enumerate(situations(3), start=1)])
    for group in groups:
        mark = [line for line in group if "tripleCount" in line]
        assert len(mark) == 1 and f'"{len(group) - 1}"' in mark[0]


class FailingProxy:
    """Forwards SPARQL Update requests to ``target`` and answers HTTP 500 from the ``fail_at``-th on."""

    def __init__(self, target: str, fail_at: int) -> None:
        proxy = self
        self.seen = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server interface
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.seen += 1
                if proxy.seen >= fail_at:
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"killed")
                    return
                request = urllib.request.Request(target, body, {"Content-Type": self.headers["Content-Type"]}, method="POST")
                with urllib.request.urlopen(request, timeout=30) as answer:
                    self.send_response(answer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/update"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.mark.skipif(BINARY is None, reason="the `oxigraph` server executable is not installed")
def test_a_push_killed_midway_and_rerun_gives_every_answer_right(tmp_path, capsys):
    server = Server()
    proxy = FailingProxy(server.update, fail_at=4)
    try:
        kg = hipkg.load()
        path = tmp_path / "s.jsonl"
        path.write_text("".join(json.dumps(s) + "\n" for s in situations(60)))
        assert main(["push", "--endpoint", server.store]) == 0  # the knowledge graph, whole
        capsys.readouterr()
        groups = situation_triples(kg, [(f"urn:hipkg:situation:s.jsonl:{i}", kg.situation(s)) for i, s in enumerate(situations(60), start=1)])
        with pytest.raises(EndpointError) as failed:
            push(kg, proxy.url, append=True, chunk=60, force_update=True, groups=groups)
        committed = failed.value.committed
        assert 0 < committed < 60 and f"{committed} of 60 situations were committed" in str(failed.value)
        # what was committed is whole: --stored answers exactly those, each as in-process
        assert main(["recommend", "--stored", "--endpoint", server.query, "--on-error", "skip"]) == 0
        stored = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(stored) == committed and not [r for r in stored if "error" in r]
        # pushing the same file again completes the rest, and every answer is right
        assert main(["push", "--endpoint", server.store, "--situations", str(path), "--update", "--update-endpoint", server.update]) == 0
        capsys.readouterr()
        assert main(["recommend", "--stored", "--endpoint", server.query]) == 0
        stored = {r["case"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
        assert len(stored) == 60
        for i, s in enumerate(situations(60), start=1):
            expected = kg.recommend(s).to_json()
            got = stored[f"urn:hipkg:situation:s.jsonl:{i}"]
            assert [o["status"] for o in got["options"]] == [o["status"] for o in expected["options"]]
    finally:
        proxy.close()
        server.stop()


@pytest.mark.skipif(BINARY is None, reason="the `oxigraph` server executable is not installed")
def test_an_incomplete_stored_situation_is_an_error_record(tmp_path, capsys):
    server = Server()
    try:
        kg = hipkg.load()
        assert main(["push", "--endpoint", server.store]) == 0
        (group,) = situation_triples(kg, [("urn:x:1", kg.situation({"findings": ["ICD10CM:M16.11", "ICD10CM:Z79.01"]}))])
        partial = [line for line in group if "Z79.01" not in line]  # a lost code: the anticoagulant
        push(kg, server.update, append=True, force_update=True, lines=partial)
        capsys.readouterr()
        assert main(["recommend", "--stored", "--endpoint", server.query, "--on-error", "skip"]) == 0
        (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert record["case"] == "urn:x:1" and "incomplete in the store" in record["error"]
    finally:
        server.stop()
