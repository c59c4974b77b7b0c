"""External SPARQL servers: hipkg push loads the graph into a real Oxigraph server; query and recommend run there.

The `oxigraph` executable comes with the `oxigraph` PyPI package (the test extra). Each server listens on a free
loopback port for the tests of this module and is stopped at the end.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import hipkg
from conftest import EXAMPLES
from hipkg.cli import main
from hipkg.queries import QueryLibrary
from test_engines import REQUIRED, normalise

LIBRARY = QueryLibrary.bundled()
SITUATIONS = sorted(p for p in EXAMPLES.glob("*.json") if not p.name.endswith(".expected.json"))
BINARY = shutil.which("oxigraph", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

pytestmark = pytest.mark.skipif(BINARY is None, reason="the `oxigraph` server executable is not installed (pip install oxigraph, part of the test extra)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """An `oxigraph serve` process on a free loopback port."""

    def __init__(self, *flags: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([BINARY, "serve", "--bind", f"127.0.0.1:{self.port}", *flags],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.base + "/", timeout=1).close()
                return
            except urllib.error.HTTPError:
                return  # answering at all is enough
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"oxigraph serve exited with {self.process.returncode}: {self.process.stderr.read().decode()[:500]}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("oxigraph serve did not answer within 20 s")
                time.sleep(0.05)

    @property
    def store(self) -> str:
        return self.base + "/store"

    @property
    def query(self) -> str:
        return self.base + "/query"

    @property
    def update(self) -> str:
        return self.base + "/update"

    def count(self, where: str = "{ ?s ?p ?o }") -> int:
        result = hipkg.engines.EndpointEngine(self.query).execute(f"SELECT (COUNT(*) AS ?n) WHERE {where}")
        return int(result.rows[0][0])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with an on-disk store; the graph is pushed into its default graph with `hipkg push`."""
    srv = Server("--location", str(tmp_path_factory.mktemp("oxigraph-store")))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def pushed(server):
    code = main(["push", "--endpoint", server.store, "--format", "json"])
    assert code == 0
    return server


@pytest.fixture(scope="module")
def union_server():
    """An in-memory server whose default graph is the union of its named graphs."""
    srv = Server("--union-default-graph")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def local():
    return hipkg.load()


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------- push


def test_push_uses_the_graph_store_protocol(server, local, capsys):
    code, out, err = run_cli(capsys, "push", "--endpoint", server.store)
    assert code == 0, err
    assert "Graph Store Protocol" in out and "default graph" in out
    data = len(local.data)
    assert f"{data:,} triples" in out
    assert server.count() == data  # the data graphs, each triple once ...
    assert server.count("{ ?s a <http://www.w3.org/ns/shacl#NodeShape> }") == 0  # ... and never the shapes
    # pushing again replaces, it does not add
    assert run_cli(capsys, "push", "--endpoint", server.store)[0] == 0
    assert server.count() == data


def test_push_falls_back_to_sparql_update(union_server, local, capsys):
    """No store protocol at the URL (404): INSERT DATA in chunks to --update-endpoint, into a named graph."""
    graph = "https://example.org/graph/hipkg"
    code, out, err = run_cli(capsys, "push", "--endpoint", union_server.base + "/no-store-here", "--update-endpoint",
                             union_server.update, "--graph", graph, "--chunk", "500", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["method"] == "update" and report["graph"] == graph
    assert "HTTP 404" in report["note"]
    n = len(local.data)
    assert report["triples"] == n and report["requests"] == 1 + -(-n // 500)  # CLEAR, then the chunks
    assert union_server.count(f"{{ GRAPH <{graph}> {{ ?s ?p ?o }} }}") == n
    # the union default graph is what the queries read: the same answers as in-process
    for name in ("knowledge/contraindications", "recommend/options", "qc/orphans"):
        query = LIBRARY.get(name)
        remote = query.run(hipkg.engines.EndpointEngine(union_server.query))
        assert normalise(remote, query.text) == normalise(query.run(local.engine), query.text), name
    # replace, not add: a second push leaves the same number of triples
    assert run_cli(capsys, "push", "--endpoint", union_server.update, "--update", "--graph", graph)[0] == 0
    assert union_server.count(f"{{ GRAPH <{graph}> {{ ?s ?p ?o }} }}") == n


def test_push_refuses_a_bad_graph_iri_and_an_unreachable_server(capsys):
    code, _, err = run_cli(capsys, "push", "--endpoint", "http://127.0.0.1:9/store", "--graph", "not an iri")
    assert code == 2 and "--graph" in err
    code, _, err = run_cli(capsys, "push", "--endpoint", f"http://127.0.0.1:{_free_port()}/store", "--timeout", "5")
    assert code == 2 and "cannot reach" in err
    code, _, err = run_cli(capsys, "push", "--endpoint", "ftp://example.org/store")
    assert code == 2 and "http(s) URL" in err


def test_push_keeps_blank_node_groups_in_one_chunk():
    from hipkg.push import chunks

    lines = [f"<urn:s{i}> <urn:p> <urn:o> ." for i in range(5)]
    lines += ["_:a <urn:p> _:b .", "_:b <urn:p> \"x\" .", "<urn:s> <urn:p> _:a ."]
    batches = list(chunks(lines, 2))
    assert sorted(sum(batches, [])) == sorted(lines)
    together = [b for b in batches if "_:a <urn:p> _:b ." in b][0]
    assert {"_:b <urn:p> \"x\" .", "<urn:s> <urn:p> _:a ."} <= set(together)


# ---------------------------------------------------------------------------------------------- query


@pytest.mark.parametrize("name", LIBRARY.names())
def test_library_query_over_the_endpoint_equals_in_process(pushed, local, name):
    query = LIBRARY.get(name)
    params = {p.name: REQUIRED[p.name] for p in query.params if p.cardinality == "one" and not p.default}
    text = query.bind(**params)
    remote = hipkg.load(endpoint=pushed.query).query(name, **params)
    assert normalise(remote, text) == normalise(local.query(name, **params), text)


def test_hipkg_query_cli_over_the_endpoint(pushed, capsys):
    args = ("query", "knowledge/medication-categories", "--param", "category=corticosteroid", "--format", "json")
    code, remote, err = run_cli(capsys, *args, "--endpoint", pushed.query)
    assert code == 0, err

    def parts(text: str) -> list:  # GROUP_CONCAT order is undefined in SPARQL 1.1: compare the parts (see README)
        rows = json.loads(text)["results"]["bindings"]
        return sorted(sorted((v, c["type"], tuple(sorted(c["value"].split("; ")))) for v, c in row.items()) for row in rows)

    assert parts(run_cli(capsys, *args)[1]) == parts(remote)
    rows = json.loads(remote)["results"]["bindings"]
    assert {r["category"]["value"] for r in rows} == {"https://w3id.org/hipkg/Corticosteroid"}


def test_hipkg_query_file_over_the_endpoint(pushed, tmp_path, capsys):
    path = tmp_path / "my.rq"
    path.write_text("SELECT ?option WHERE { ?option a hipkg:InjectionOption } ORDER BY ?option")  # hipkg: predeclared
    code, out, err = run_cli(capsys, "query", "--file", str(path), "--format", "csv", "--endpoint", pushed.query)
    assert code == 0, err
    assert out == run_cli(capsys, "query", "--file", str(path), "--format", "csv")[1]
    code, out, err = run_cli(capsys, "query", "--file", str(path), "--format", "csv", "--limit", "3", "--endpoint", pushed.query)
    assert code == 0 and len(out.splitlines()) == 4 and "cut to the first 3 rows" in err
    path.write_text("INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    code, _, err = run_cli(capsys, "query", "--file", str(path), "--endpoint", pushed.query)
    assert code == 2 and "INSERT DATA" in err  # refused before anything is sent


# ---------------------------------------------------------------------------------------------- recommend


SITUATION = "{ ?case a <https://w3id.org/hipkg/Situation> }"


@pytest.mark.parametrize("path", SITUATIONS[:4], ids=lambda p: p.stem)
def test_recommend_over_the_endpoint_equals_in_process(pushed, path, capsys):
    """The situation is loaded into the server for the queries, and removed afterwards."""
    code, remote, err = run_cli(capsys, "recommend", str(path), "--format", "json", "--endpoint", pushed.query,
                                "--update-endpoint", pushed.update)
    assert code == 0, err
    assert remote == run_cli(capsys, "recommend", str(path), "--format", "json")[1]
    assert pushed.count(SITUATION) == 0


def test_recommend_over_a_read_only_url_answers_what_needs_no_update(pushed, local, capsys):
    """Only situations with dated events are held in the store while they are answered: the rest need no update."""
    code, out, err = run_cli(capsys, "recommend", str(SITUATIONS[0]), "--endpoint", pushed.query, "--format", "json")
    assert code == 0, err
    assert json.loads(out) == local.recommend(json.loads(SITUATIONS[0].read_text(encoding="utf-8"))).to_json()


def test_recommend_over_a_read_only_url_says_what_to_give(pushed, capsys):
    dated = EXAMPLES / "v2-arthroplasty-done-dated.json"
    code, _, err = run_cli(capsys, "recommend", str(dated), "--endpoint", pushed.query)
    assert code == 2
    assert "refused a SPARQL Update" in err and "--update-endpoint" in err


def test_recommend_every_example_through_the_python_api(pushed, local):
    remote = hipkg.load(endpoint=pushed.query, update_endpoint=pushed.update)
    for path in SITUATIONS:
        situation = json.loads(path.read_text(encoding="utf-8"))
        assert remote.recommend(situation).to_json() == local.recommend(situation).to_json(), path.name


def test_batch_over_the_endpoint_equals_in_process(pushed, tmp_path, capsys):
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps(json.loads(p.read_text())) + "\n" for p in SITUATIONS))
    code, remote, err = run_cli(capsys, "recommend", "--batch", str(batch), "--endpoint", pushed.query,
                                "--update-endpoint", pushed.update, "--chunk", "5", "--jobs", "2")
    assert code == 0, err
    assert remote == run_cli(capsys, "recommend", "--batch", str(batch), "--jobs", "1")[1]
    assert pushed.count(SITUATION) == 0


# ---------------------------------------------------------------------------------------------- situations held by a server


@pytest.fixture(scope="module")
def holding(tmp_path_factory):
    """A server holding the graph and the example situations, pushed with `hipkg push --situations`."""
    srv = Server()
    batch = tmp_path_factory.mktemp("situations") / "patients.jsonl"
    batch.write_text("".join(json.dumps(json.loads(p.read_text())) + "\n" for p in SITUATIONS))
    try:
        assert main(["push", "--endpoint", srv.store]) == 0
        assert main(["push", "--endpoint", srv.store, "--situations", str(batch)]) == 0
        yield srv, batch
    finally:
        srv.stop()


def test_push_situations_appends_them(holding, local):
    srv, _ = holding
    assert srv.count(SITUATION) == len(SITUATIONS)
    assert srv.count() > len(local.data)  # the graph is still there


def test_recommend_stored_answers_every_held_situation(holding, capsys):
    srv, batch = holding
    code, out, err = run_cli(capsys, "recommend", "--stored", "--endpoint", srv.query, "--chunk", "7")
    assert code == 0, err
    stored = {int(a.pop("case").rsplit(":", 1)[1]): a for a in map(json.loads, out.splitlines())}
    local = [json.loads(line) for line in run_cli(capsys, "recommend", "--batch", str(batch), "--jobs", "1")[1].splitlines()]
    assert sorted(stored) == list(range(1, len(SITUATIONS) + 1))
    for number, expected in enumerate(local, start=1):
        answer = stored[number]
        for key in ("options", "advice", "disclaimer"):
            assert answer[key] == expected[key], (number, key)
        assert sorted(answer["unrecognized"]) == sorted(expected["unrecognized"])  # a store keeps no code order


def test_recommend_stored_reports_a_situation_it_cannot_answer(holding, capsys):
    srv, _ = holding
    bad = "<urn:example:bad>"
    from hipkg.engines import EndpointEngine

    updates = EndpointEngine(srv.query, timeout=10, update_url=srv.update)
    updates.update(f'INSERT DATA {{ {bad} a <https://w3id.org/hipkg/Situation> ; '
                            f'<https://w3id.org/hipkg/findingCode> "ICD10CM:nonsense" }}', "test")
    try:
        code, out, err = run_cli(capsys, "recommend", "--stored", "--endpoint", srv.query, "--on-error", "skip")
        assert code == 0, err
        errors = [a for a in map(json.loads, out.splitlines()) if "error" in a]
        assert errors == [{"case": "urn:example:bad", "error": errors[0]["error"]}]
        assert "nonsense" in errors[0]["error"] and "skipped" in err
        code, out, err = run_cli(capsys, "recommend", "--stored", "--endpoint", srv.query)
        assert code == 2 and "nonsense" in err
    finally:
        updates.update(f"DELETE WHERE {{ {bad} ?p ?o }}", "test")


def test_recommend_stored_needs_an_endpoint(capsys):
    code, _, err = run_cli(capsys, "recommend", "--stored")
    assert code == 2 and "--endpoint" in err
