"""hipkg serve as clients meet it: SPARQL 1.1 Protocol, the JSON API, the pages, and many clients at once.

One server per module, started by the test on a free loopback port; requests go through a real HTTP client.
"""
from __future__ import annotations

import csv
import html
import io
import json
import random
import re
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rdflib import Graph

from hipkg.cli import main
from serve_helpers import Server

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SRX = "{http://www.w3.org/2005/sparql-results#}"
LABELS = "SELECT ?p ?label WHERE { ?p a hipkg:Pro ; rdfs:label ?label } ORDER BY ?p"
QUOTE = "Hip osteoarthritis with pain and stiffness affecting function"


@pytest.fixture(scope="module")
def server():
    s = Server("--timeout", "15", "--workers", "2", "--max-concurrent", "64")
    yield s
    s.stop()


# ------------------------------------------------------------------------------------------------ SPARQL 1.1 Protocol


def test_query_by_get_form_and_direct_post_agree(server):
    by_get = server.sparql(LABELS, method="GET")
    by_form = server.sparql(LABELS)
    direct = server.request("POST", "/sparql", LABELS, {"Content-Type": "application/sparql-query"})
    assert by_get.status == by_form.status == direct.status == 200
    assert by_get.type == "application/sparql-results+json"
    assert by_get.body == by_form.body == direct.body
    data = by_get.json()
    assert data["head"]["vars"] == ["p", "label"]
    assert data["results"]["bindings"][0]["p"]["type"] == "uri"
    assert data["results"]["bindings"][0]["label"]["xml:lang"] == "en"
    assert "hipkg-truncated" not in by_get.headers


def test_content_negotiation_for_select(server):
    rows = server.sparql(LABELS).json()["results"]["bindings"]
    xml = server.sparql(LABELS, "application/sparql-results+xml")
    assert xml.type == "application/sparql-results+xml"
    results = ET.fromstring(xml.body).find(f"{SRX}results")
    assert len(results) == len(rows)
    csv_reply = server.sparql(LABELS, "text/csv")
    assert csv_reply.type == "text/csv"
    table = list(csv.reader(io.StringIO(csv_reply.text)))
    assert table[0] == ["p", "label"] and len(table) == len(rows) + 1
    assert table[1] == [rows[0]["p"]["value"], rows[0]["label"]["value"]]
    tsv = server.sparql(LABELS, "text/tab-separated-values")
    lines = tsv.text.splitlines()
    assert lines[0] == "?p\t?label"
    assert lines[1].startswith("<https://w3id.org/hipkg/") and lines[1].endswith('"@en')
    # q-values decide; */* falls back to JSON; nothing acceptable is 406 (before anything runs)
    assert server.sparql(LABELS, "text/csv;q=0.5, application/sparql-results+xml").type == "application/sparql-results+xml"
    assert server.sparql(LABELS, "*/*").type == "application/sparql-results+json"
    refused = server.sparql(LABELS, "image/png")
    assert refused.status == 406 and "sparql-results+json" in refused.text


def test_ask_and_graph_forms(server):
    ask = server.sparql("ASK { hipkg:HipOsteoarthritis a hipkg:Condition }")
    assert ask.json() == {"head": {}, "boolean": True}
    assert ET.fromstring(server.sparql("ASK { hipkg:Nothing a hipkg:Condition }", "application/sparql-results+xml").body) \
        .find(f"{SRX}boolean").text == "false"
    describe = "DESCRIBE hipkg:HipOsteoarthritis"
    construct = "CONSTRUCT { ?c rdfs:label ?l } WHERE { ?c a hipkg:Condition ; rdfs:label ?l }"
    turtle = server.sparql(construct)
    assert turtle.type == "text/turtle"
    graphs = {fmt: Graph().parse(data=server.sparql(construct, media).text, format=fmt)
              for fmt, media in (("turtle", "text/turtle"), ("nt", "application/n-triples"), ("json-ld", "application/ld+json"))}
    assert len(graphs["turtle"]) > 20 and graphs["turtle"].isomorphic(graphs["nt"]) and graphs["nt"].isomorphic(graphs["json-ld"])
    described = Graph().parse(data=server.sparql(describe).text, format="turtle")
    assert any("coxarthrosis" in str(o) for o in described.objects())
    assert server.sparql(construct, "application/sparql-results+json").status == 406


def test_service_description(server):
    reply = server.get("/sparql")
    assert reply.status == 200 and reply.type == "text/turtle"
    g = Graph().parse(data=reply.text, format="turtle")
    sd = "http://www.w3.org/ns/sparql-service-description#"
    endpoints = {str(o) for s, p, o in g if str(p) == sd + "endpoint"}
    assert endpoints == {server.url + "sparql"}
    assert any(str(o) == sd + "SPARQL11Query" for o in g.objects())


def test_protocol_errors_are_short(server):
    twice = server.get("/sparql", [("query", LABELS), ("query", LABELS)])
    assert twice.status == 400
    assert server.request("POST", "/sparql", LABELS, {"Content-Type": "text/plain"}).status == 415
    assert server.request("POST", "/sparql", "", {"Content-Type": "application/x-www-form-urlencoded"}).status == 400
    bad = server.sparql("SELECT ?x WHERE { ?x ?y }")
    assert bad.status == 400 and bad.text.startswith("SPARQL syntax error at line 1")


# ------------------------------------------------------------------------------------------------ JSON API


def test_recommend_matches_the_library(server, kg):
    situation = json.loads((EXAMPLES / "osteoarthritis-lidocaine-allergy.json").read_text())
    reply = server.recommend(situation)
    assert reply.status == 200 and reply.type == "application/json"
    assert reply.json() == kg.recommend(situation).to_json()
    assert reply.text == kg.recommend(situation).dumps()


def test_query_library_over_http(server, kg):
    listed = server.get("/queries").json()
    assert [q["name"] for q in listed] == [q.name for q in kg.queries]
    first = next(q for q in listed if q["name"] == "knowledge/indications")
    assert first["params"] and first["url"] == "/queries/knowledge/indications"
    reply = server.get("/queries/knowledge/contraindications")
    assert reply.status == 200
    expected = kg.query("knowledge/contraindications")
    assert len(reply.json()["results"]["bindings"]) == len(expected.rows)
    by_label = server.get("/queries/knowledge/indications", {"target": "trochanteric bursa injection"}, headers={"Accept": "text/csv"})
    assert by_label.status == 200 and by_label.type == "text/csv" and len(by_label.text.splitlines()) >= 2
    assert server.get("/queries/no/such-query").status == 404
    unknown = server.get("/queries/knowledge/indications", {"colour": "blue"})
    assert unknown.status == 400 and "target" in unknown.text


def test_openapi_describes_the_api(server):
    spec = server.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/recommend", "/queries", "/queries/{name}"} <= set(spec["paths"])
    assert "post" in spec["paths"]["/recommend"]
    health = server.get("/healthz").json()
    assert health["status"] == "ok" and health["workers"] == 2


def test_cors_is_off_by_default(server):
    reply = server.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in reply.headers
    preflight = server.request("OPTIONS", "/recommend", headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


# ------------------------------------------------------------------------------------------------ pages


def test_pages_show_the_answer_and_the_disclaimer(server):
    home = server.get("/")
    assert home.status == 200 and home.type == "text/html"
    assert "Clinical disclaimer" in home.text and 'list="finding-options"' in home.text
    assert 'value="ICD10CM:M16"' in home.text  # codes are among the suggestions
    answer = server.get("/", {"finding": ["ICD10CM:M16.12", "hip OA"], "allergy": "lidocaine", "goal": "therapeutic"})
    assert answer.status == 200
    for status in ("fits", "avoid", "not-indicated"):
        assert f'id="status-{status}"' in answer.text
    assert QUOTE in answer.text and "Clinical disclaimer" in answer.text
    concept = server.get("/concept/hipkg:HipOsteoarthritis")
    assert concept.status == 200
    for text in ("hip osteoarthritis", "coxarthrosis", "Degenerative arthritis", "ICD10CM:M16",
                 'href="http://purl.bioontology.org/ontology/ICD10CM/M16"', "What it indicates or contraindicates",
                 "Clinical disclaimer"):
        assert text in concept.text
    missing = server.get("/concept/hipkg:NoSuchThing")
    assert missing.status == 404 and "Clinical disclaimer" in missing.text
    refused = server.get("/", {"finding": "no such condition"})
    assert refused.status == 400 and "Finding 1" in refused.text


def test_static_assets_and_security_headers(server):
    reply = server.get("/static/app.js")
    assert reply.status == 200
    page = server.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"


# ------------------------------------------------------------------------------------------------ many clients at once


def test_concurrent_requests_give_sequential_answers(server, kg):
    count = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
    cases = [
        ("recommend", json.loads((EXAMPLES / "osteoarthritis-lidocaine-allergy.json").read_text())),
        ("recommend", json.loads((EXAMPLES / "osteoarthritis-anticoagulants.json").read_text())),
        ("sparql", LABELS),
        ("sparql", count),
        ("library", "/queries/knowledge/contraindications"),
    ]

    def call(case):
        kind, arg = case
        if kind == "recommend":
            r = server.recommend(arg)
        elif kind == "sparql":
            r = server.sparql(arg)
        else:
            r = server.get(arg)
        return r.status, r.body

    sequential = [call(c) for c in cases]
    assert all(status == 200 for status, _ in sequential)
    answers: list[tuple[int, int, bytes]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        order = list(range(len(cases)))
        random.Random(seed).shuffle(order)
        try:
            for i in order:
                status, body = call(cases[i])
                with lock:
                    answers.append((i, status, body))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(answers) == 12 * len(cases)
    for i, status, body in answers:
        assert (status, body) == sequential[i], f"case {i} differed under concurrency"
    # the served graph is the bundled graph, unchanged
    n = int(server.sparql(count).json()["results"]["bindings"][0]["n"]["value"])
    assert n == len(kg.data)


def test_serve_help_teaches(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for text in ("examples:", "exit codes:", "--cors", "--timeout", "/sparql", "127.0.0.1"):
        assert text in out
    assert main(["serve", "--workers", "4", "--max-concurrent", "2"]) == 2


def test_the_answer_page_asks_the_questions_first(server):
    """A check is never shown without its question: the page lists the questions to settle before the options."""
    reply = server.get("/", [("finding", "ICD10CM:M16.11"), ("allergy", "RXNORM:6387")])
    assert reply.status == 200
    page = reply.text
    assert "Questions to settle first" in page and "another agent of the category" in page
    assert page.index("Questions to settle first") < page.index('id="status-check"')


def test_the_answer_page_shows_each_option_s_guideline_verdict(server):
    page = server.get("/", [("finding", "ICD10CM:M16.11")]).text
    assert "(guidelines: against, " in page and "(guidelines: recommended, " in page


def test_the_home_page_links_example_situations_and_names_goals_by_label(server):
    """#17: a handful of bundled examples as links that answer; the goal by its label; the disclaimer once."""
    page = server.get("/").text
    links = re.findall(r'<section class="examples".*?</section>', page, re.S)[0]
    hrefs = re.findall(r'href="(/\?[^"]+)"', links)
    assert len(hrefs) >= 6 and "diagnostic and therapeutic" in page and page.count('class="disclaimer"') == 1
    answer = server.get(html.unescape(hrefs[0])).text
    assert 'class="matrix"' in answer and answer.count('class="disclaimer"') == 1


@pytest.mark.parametrize("cid", ["hipkg:HipOsteoarthritis", "hipkg:DiabetesMellitus", "hipkg:Lidocaine"])
def test_a_concept_page_draws_its_neighbourhood_and_quotes_its_passages(server, cid):
    """#17: broader and narrower concepts and the rules it triggers, as SVG with named parts; passages as their words."""
    page = server.get(f"/concept/{cid}").text
    picture = re.findall(r'<svg[^>]*class="neighbourhood".*?</svg>', page, re.S)
    assert len(picture) == 1
    root = ET.fromstring(picture[0])
    named = [el.get("aria-label") for el in root.iter() if el.get("aria-label")]
    assert any("this concept" in n for n in named) and any(n.startswith("rule ") for n in named)
    assert "hipkg:Passage_" not in page and page.count('class="disclaimer"') == 1
