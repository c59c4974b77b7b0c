"""CDS Hooks 2.0 in hipkg serve (issue #16): discovery, cards for patient-view, order-select and order-sign, feedback."""
from __future__ import annotations

import copy
import datetime
import http.server
import json
import threading

import pytest

from conftest import EXAMPLES
from hipkg.cdshooks import CARDS, SUMMARY_MAX, CdsError, CdsHooks
from serve_helpers import Server

INDICATORS = {"info", "warning", "critical"}
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M16.10"}]}}
CONTRAST = {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "385420005", "display": "Contrast media"}]}}
ORDER = {"resourceType": "ServiceRequest", "id": "draft-1", "status": "draft", "intent": "order", "subject": {"reference": "Patient/p1"},
         "code": {"text": "Intra-articular hip injection"}, "note": [{"text": "triamcinolone (corticosteroid), fluoroscopy guidance"}]}


@pytest.fixture(scope="module")
def cds(kg) -> CdsHooks:
    return CdsHooks(kg)


def searchset(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def request(cds: CdsHooks, hook: str, *resources: dict, orders: tuple[dict, ...] = (ORDER,)) -> dict:
    by_key = {"conditions": "Condition", "allergies": "AllergyIntolerance", "observations": "Observation", "procedures": "Procedure",
              "plannedProcedures": "ServiceRequest", "medicationStatements": "MedicationStatement", "medicationRequests": "MedicationRequest"}
    prefetch = {key: searchset(*[r for r in resources if r["resourceType"] == kind]) for key, kind in by_key.items()}
    # the Medications the statements refer to, as a server returns them next to the statements (search mode include)
    prefetch["medicationStatements"]["entry"] += [{"resource": r, "search": {"mode": "include"}} for r in resources
                                                   if r["resourceType"] == "Medication"]
    prefetch["patient"] = {"resourceType": "Patient", "id": "p1"}
    context = {"userId": "Practitioner/u1", "patientId": "p1"}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]}
    if hook == "order-select":
        context["selections"] = [f"{o['resourceType']}/{o['id']}" for o in orders]
    return {"hook": hook, "hookInstance": "2b5c8a10-6a1e-4c44-9b1f-0d8a7f1c9e01", "context": context, "prefetch": prefetch}


def bundle_resources(name: str) -> list[dict]:
    return [e["resource"] for e in json.loads((EXAMPLES / "fhir" / f"{name}.json").read_text())["entry"]]


def well_formed(card: dict) -> None:
    """CDS Hooks 2.0's card rules: required fields, <140 characters, no empty optional values, selectionBehavior with
    suggestions, a display on every override reason."""
    assert card["summary"] and len(card["summary"]) < 140 and card["indicator"] in INDICATORS and card["source"]["label"]
    assert all(v not in (None, "", [], {}) for v in card.values())
    if "suggestions" in card:
        assert card["selectionBehavior"] in ("at-most-one", "any")
        assert all(a["type"] in ("create", "update", "delete") and a["description"] for s in card["suggestions"] for a in s["actions"])
    assert all(r["display"] and r["code"] and r["system"] for r in card.get("overrideReasons", []))


def test_discovery_lists_the_three_hooks_with_prefetch(cds) -> None:
    services = cds.discovery()["services"]
    assert {(s["id"], s["hook"]) for s in services} == {("hip-injection", "order-select"), ("hip-injection", "order-sign"),
                                                       ("hip-injection-review", "patient-view")}
    for s in services:
        assert s["title"] and s["description"] and "{{context.patientId}}" in s["prefetch"]["conditions"]
        assert "http://loinc.org|4548-4" in s["prefetch"]["observations"]  # HbA1c: a code the graph has units for


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_a_blocked_order_gets_a_critical_card_with_a_fitting_alternative(cds, hook) -> None:
    cards = cds.call("hip-injection", request(cds, hook, CONDITION, CONTRAST))["cards"]
    for card in cards:
        well_formed(card)
    avoid = [c for c in cards if c["indicator"] == "critical"]
    assert len(avoid) == 1 and avoid[0]["summary"].startswith("Avoid") and "contrast" in avoid[0]["summary"]
    assert "\u201c" in avoid[0]["detail"] and avoid[0]["overrideReasons"]
    [suggestion] = avoid[0]["suggestions"]
    assert "ultrasound" in suggestion["label"] and suggestion["actions"][0]["resource"]["id"] == "draft-1"


def test_the_card_names_the_decisive_reason(cds) -> None:
    cards = cds.call("hip-injection", request(cds, "order-sign", *bundle_resources("osteoarthritis-diabetes-hyperglycaemia")))["cards"]
    [avoid] = [c for c in cards if c["indicator"] == "critical"]
    assert "poorly controlled diabetes" in avoid["summary"] and "corticosteroid" in avoid["summary"]
    assert "left out Condition/c3-ignored-resolved" in avoid["detail"]


def test_open_questions_come_as_a_card_of_their_own(cds) -> None:
    resources = bundle_resources("v2-hba1c-ifcc-units")  # diabetes, and no cited HbA1c threshold: a question
    cards = cds.call("hip-injection-review", request(cds, "patient-view", *resources))["cards"]
    questions = [c for c in cards if c["summary"].split()[1:3] == ["question", "to"] or "questions to" in c["summary"]]
    assert len(questions) == 1 and questions[0]["indicator"] == "warning" and "**Questions to settle**" in questions[0]["detail"]
    assert any(c["summary"].startswith("Check first") for c in cards)
    for card in cards:
        well_formed(card)


def test_an_order_that_names_no_hip_injection_gets_no_cards(cds) -> None:
    other = {**ORDER, "code": {"text": "Knee MRI"}, "note": []}
    assert cds.call("hip-injection", request(cds, "order-sign", CONDITION, orders=(other,))) == {"cards": []}


BUNDLES = sorted(p.stem for p in (EXAMPLES / "fhir").glob("*.json"))
WORDS = {word: status for status, (_, word) in CARDS.items()}


def card_statuses(cards: list[dict]) -> set[str]:
    """The statuses the cards stand for (by the words their summaries start with), and "questions"."""
    out = set()
    for card in cards:
        word = next((w for w in WORDS if card["summary"].startswith(w + " ")), None)
        out.add(WORDS[word] if word else "questions")
    return out


def json_statuses(kg, name: str) -> set[str]:
    """What the JSON twin's answer (as of today, as a CDS call is) says: its statuses but not-indicated, and questions."""
    data = json.loads((EXAMPLES / f"{name}.json").read_text())
    data["date"] = datetime.date.today().isoformat()
    answer = kg.recommend(data).to_json()
    return {o["status"] for o in answer["options"]} - {"not-indicated"} | ({"questions"} if answer["questions"] else set())


@pytest.mark.parametrize("name", BUNDLES)
def test_each_example_bundle_as_prefetch_gives_the_statuses_of_its_json_twin(kg, cds, name) -> None:
    cards = cds.call("hip-injection-review", request(cds, "patient-view", *bundle_resources(name)))["cards"]
    for card in cards:
        well_formed(card)
    assert card_statuses(cards) == json_statuses(kg, name)


def test_cards_are_the_same_for_the_same_request(cds) -> None:
    body = request(cds, "order-sign", *bundle_resources("osteoarthritis-diabetes-hyperglycaemia"))
    assert cds.call("hip-injection", copy.deepcopy(body)) == cds.call("hip-injection", body)


def test_a_record_without_a_condition_gets_one_info_card(cds) -> None:
    [card] = cds.call("hip-injection-review", request(cds, "patient-view"))["cards"]
    assert card["indicator"] == "info" and "No active condition" in card["summary"]


def test_missing_prefetch_is_412_naming_the_keys(cds) -> None:
    body = request(cds, "patient-view", CONDITION)
    del body["prefetch"]["observations"]
    with pytest.raises(CdsError) as error:
        cds.call("hip-injection-review", body)
    assert error.value.status == 412 and error.value.missing == ("observations",)


@pytest.mark.parametrize("change, status", [
    (lambda b: b.update(hook="encounter-start"), 400), (lambda b: b.pop("hookInstance"), 400),
    (lambda b: b["context"].pop("patientId"), 400), (lambda b: b["context"].pop("draftOrders"), 400),
    (lambda b: b["context"].pop("selections"), 400),
])
def test_malformed_calls_are_400(cds, change, status) -> None:
    body = request(cds, "order-select", CONDITION)
    change(body)
    with pytest.raises(CdsError) as error:
        cds.call("hip-injection", body)
    assert error.value.status == status


def test_feedback_is_checked_and_kept(cds) -> None:
    good = {"feedback": [{"card": "c-1", "outcome": "overridden", "overrideReason": {"userComment": "discussed"},
                          "outcomeTimestamp": "2026-12-01T09:30:00Z"},
                         {"card": "c-2", "outcome": "accepted", "acceptedSuggestions": [{"id": "s-1"}], "outcomeTimestamp": "2026-12-01T09:31:00Z"}]}
    assert cds.feedback("hip-injection", good) == {"received": 2} and cds.feedback_log[-1]["card"] == "c-2"
    for bad in ({"feedback": []}, {"feedback": [{"card": "c", "outcome": "maybe", "outcomeTimestamp": "2026-12-01T09:30:00Z"}]},
                {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-12-01T09:30:00Z"}]},
                {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}]}):
        with pytest.raises(CdsError) as error:
            cds.feedback("hip-injection", copy.deepcopy(bad))
        assert error.value.status == 400
    with pytest.raises(CdsError) as error:
        cds.feedback("no-such-service", good)
    assert error.value.status == 404


def test_summaries_are_cut_below_140_characters(cds) -> None:
    cards = cds.call("hip-injection-review", request(cds, "patient-view", *bundle_resources("osteoarthritis-diabetes-hyperglycaemia")))["cards"]
    assert cards and all(len(c["summary"]) <= SUMMARY_MAX for c in cards)


# ---------------------------------------------------------------------------------------------------- fetching prefetch


@pytest.fixture()
def fhir_server():
    """A FHIR server on loopback answering every search with CONDITION and CONTRAST; it records what it was asked."""
    seen: list[tuple[str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append((self.path, self.headers.get("Authorization")))
            if "fail" in self.path:
                self.send_error(500)
                return
            kind = self.path.split("/fhir/", 1)[1].split("?", 1)[0].split("/", 1)[0]
            body = {"resourceType": "Patient", "id": "p1"} if kind == "Patient" else searchset(
                *[r for r in (CONDITION, CONTRAST) if r["resourceType"] == kind])
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/fhir", seen
    httpd.shutdown()


def test_missing_prefetch_is_fetched_from_an_allowed_server_only(kg, fhir_server) -> None:
    base, seen = fhir_server
    body = request(CdsHooks(kg), "order-sign", CONDITION, CONTRAST)
    expected = CdsHooks(kg).call("hip-injection", body)
    del body["prefetch"]
    body.update(fhirServer=base, fhirAuthorization={"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 300,
                                                    "scope": "patient/*.read", "subject": "hipkg"})
    with pytest.raises(CdsError) as error:  # nothing allowed: no request reaches the server
        CdsHooks(kg).call("hip-injection", body)
    assert error.value.status == 412 and not seen
    with pytest.raises(CdsError) as error:  # another path on the same host is not allowed either
        CdsHooks(kg, (base.replace("/fhir", "/other"),)).call("hip-injection", body)
    assert error.value.status == 412 and not seen
    assert CdsHooks(kg, (base,)).call("hip-injection", body) == expected
    assert {auth for _, auth in seen} == {"Bearer t0k3n"} and any("patient=p1" in path for path, _ in seen)


def test_a_failing_fetch_is_412_saying_so(kg, fhir_server) -> None:
    base, _ = fhir_server
    body = request(CdsHooks(kg), "patient-view", CONDITION)
    del body["prefetch"]
    body["context"]["patientId"] = "fail"
    body["fhirServer"] = base
    with pytest.raises(CdsError) as error:
        CdsHooks(kg, (base,)).call("hip-injection-review", body)
    assert error.value.status == 412 and "failed (500)" in str(error.value)


# ---------------------------------------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def server():
    s = Server("--timeout", "15", "--workers", "1")
    yield s
    s.stop()


@pytest.mark.parametrize("name", BUNDLES)
def test_http_a_call_per_example(server, kg, cds, name) -> None:
    body = json.dumps(request(cds, "patient-view", *bundle_resources(name))).encode()
    reply = server.request("POST", "/cds-services/hip-injection-review", body, {"Content-Type": "application/json"})
    assert reply.status == 200 and card_statuses(reply.json()["cards"]) == json_statuses(kg, name)


def test_http_discovery_call_and_feedback(server, cds) -> None:
    reply = server.request("GET", "/cds-services")
    assert reply.status == 200 and reply.json() == cds.discovery()
    body = json.dumps(request(cds, "order-sign", CONDITION, CONTRAST)).encode()
    reply = server.request("POST", "/cds-services/hip-injection", body, {"Content-Type": "application/json"})
    assert reply.status == 200 and [c["indicator"] for c in reply.json()["cards"]][0] == "critical"
    feedback = {"feedback": [{"card": reply.json()["cards"][0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-01T09:30:00Z"}]}
    reply = server.request("POST", "/cds-services/hip-injection/feedback", json.dumps(feedback).encode(), {"Content-Type": "application/json"})
    assert reply.status == 200 and reply.json() == {"received": 1}


@pytest.mark.parametrize("path, body, status", [
    ("/cds-services/nope", {"hook": "patient-view"}, 404),
    ("/cds-services/hip-injection-review", {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p1"}}, 412),
    ("/cds-services/hip-injection-review", [1, 2], 400),
])
def test_http_errors(server, path, body, status) -> None:
    reply = server.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    assert reply.status == status and reply.json()["status"] == status and "Traceback" not in reply.text


def test_http_recommend_reads_a_fhir_bundle(server) -> None:
    data = (EXAMPLES / "fhir" / "v2-warfarin-medication.json").read_bytes()
    reply = server.request("POST", "/recommend", data, {"Content-Type": "application/fhir+json"})
    assert reply.status == 200 and reply.json()["read"]["ignored"]
    broken = json.loads(data)
    broken["entry"][1]["resource"]["clinicalStatus"] = "active"
    reply = server.request("POST", "/recommend", json.dumps(broken).encode(), {"Content-Type": "application/json"})
    assert reply.status == 400 and "Condition/c1" in reply.json()["error"]


@pytest.mark.parametrize("url", ["http://10.0.0.1/fhir", "ftp://ehr.example.org/fhir", "https://user:pw@ehr.example.org/fhir", "not a url"])
def test_allow_fhir_fetch_takes_only_https_or_loopback_base_urls(url, capsys) -> None:
    from hipkg.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--allow-fhir-fetch", url])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "https, or http on loopback" in err and "user:pw" not in err
