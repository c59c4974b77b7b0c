"""CDS Hooks 2.0 (https://cds-hooks.hl7.org/2.0/): the discovery document, cards for a hook call, and feedback.

A call's prefetched FHIR R4 resources are read as any FHIR input is (hipkg.fhir_in) and answered by the recommender;
this module only chooses which options the call asks about (patient-view: all; order-select and order-sign: those the
draft orders' code, bodySite and notes name) and writes the answer as cards: one per status that matters, the
questions to settle as a card of their own, with every reason and its quote in the detail. hipkg never fetches from
the FHIR server: a call without the prefetch the service asks for is refused with 412, as the specification says.
"""
from __future__ import annotations

import copy
import datetime
import functools
import json
import re
import urllib.parse
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from hipkg import DISCLAIMER
from hipkg.errors import EndpointError, HipkgError
from hipkg.recommending.model import OptionResult, Reason, Recommendation
from hipkg.fhir_in import resource_text
from hipkg.recommending.recommender import ALWAYS, KIND_ORDER
from hipkg.report import DECIDING

if TYPE_CHECKING:
    from hipkg.graph import KnowledgeGraph

#: The code system of hipkg's override reasons (ontology/kb/override-reasons.ttl).
OVERRIDE_SYSTEM = "https://w3id.org/hipkg/override-reason"
#: Namespace of the cards' uuids: a card's uuid is made from the hook instance and what the card is about.
CARD_NAMESPACE = uuid.UUID("6f1c2a9e-5b0d-4f53-9a52-3c7b1e8f0d21")
#: CDS Hooks: a summary is "One-sentence, <140-character".
SUMMARY_MAX = 139
#: The hooks of each service; several services may share an id with different hooks (CDS Hooks 2.0, discovery).
SERVICES = (
    ("hip-injection", "order-select", "Hip injection order check",
     "For a draft order of a hip injection: which of the options it names fit the patient's record, which need a question "
     "settled first, and which the source or a guideline says to avoid, with the statements and quotes that apply."),
    ("hip-injection", "order-sign", "Hip injection order check (signing)",
     "As order-select, when the draft order of a hip injection is signed."),
    ("hip-injection-review", "patient-view", "Hip injection options for this patient",
     "On opening a patient's record: which hip injection options the record makes avoid, check (a question to settle), "
     "caution or fit, with the statements and quotes that apply."),
)
#: Card per status: its indicator and the words its summary starts with.
CARDS = {"avoid": ("critical", "Avoid"), "check": ("warning", "Check first"), "caution": ("warning", "Caution"),
         "fits": ("info", "Fits"), "not-indicated": ("info", "Not indicated")}
ORDER_TYPES = ("ServiceRequest", "MedicationRequest", "DeviceRequest", "NutritionOrder", "VisionPrescription")


class CdsError(HipkgError):
    """A CDS Hooks call that cannot be answered: ``status`` is the HTTP status (400, 404, 412), ``missing`` the
    prefetch keys a 412 needs."""

    def __init__(self, status: int, message: str, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status, self.missing = status, missing


@dataclass(frozen=True)
class Order:
    """A draft order's request as hipkg reads it: the resource, and the targets, categories and guidance it names."""

    ref: str
    resource: dict[str, Any]
    targets: tuple[str, ...]
    categories: tuple[str, ...]
    guidance: tuple[str, ...]

    def asks_about(self, option: OptionResult) -> bool:
        return (option.target in self.targets and all(c in option.medication_categories for c in self.categories)
                and (not self.guidance or option.guidance in self.guidance))


class CdsHooks:
    """The CDS Hooks service of one graph: discovery, calls and the feedback received (the last FEEDBACK_KEPT).

    ``fetch_from``: the FHIR servers (base URLs) the operator allows missing prefetch to be fetched from (none by
    default); a call's ``fhirServer`` must be one of them or below one, so that no caller can make hipkg reach any
    other address. Each fetch is a GET with the call's bearer token, ``timeout`` seconds and ``max_bytes`` at most."""

    FEEDBACK_KEPT = 1000

    def __init__(self, kg: "KnowledgeGraph", fetch_from: tuple[str, ...] = (), timeout: float = 10.0, max_bytes: int = 10_000_000) -> None:
        self.kg, self.fetch_from, self.timeout, self.max_bytes = kg, fetch_from, timeout, max_bytes
        self.feedback_log: deque[dict[str, Any]] = deque(maxlen=self.FEEDBACK_KEPT)

    # ---------------------------------------------------------------- discovery

    @functools.cached_property
    def prefetch(self) -> dict[str, str]:
        """What the rules read, as prefetch templates: the observations are the LOINC codes the graph has units for."""
        loinc = sorted({code.split(":", 1)[1] for code, _ in self.kg.vocabulary.units if code.startswith("LOINC:")})
        patient = "patient={{context.patientId}}"
        return {
            "patient": "Patient/{{context.patientId}}",
            "conditions": f"Condition?{patient}",
            "allergies": f"AllergyIntolerance?{patient}",
            "observations": f"Observation?{patient}&code=" + ",".join(f"http://loinc.org|{c}" for c in loinc) + "&_sort=-date",
            "procedures": f"Procedure?{patient}",
            "plannedProcedures": f"ServiceRequest?{patient}&status=active",
            "medicationStatements": f"MedicationStatement?{patient}&status=active",
            "medicationRequests": f"MedicationRequest?{patient}&status=active",
        }

    def discovery(self) -> dict[str, Any]:
        return {"services": [{"hook": hook, "title": title, "description": description, "id": sid, "prefetch": self.prefetch,
                              "usageRequirements": "Send every prefetch key: hipkg does not fetch from the FHIR server. "
                              + DISCLAIMER} for sid, hook, title, description in SERVICES]}

    # ---------------------------------------------------------------- a call

    def call(self, service: str, body: Any) -> dict[str, Any]:
        """The cards for one hook call, or CdsError (400 a malformed request, 404 no such service, 412 prefetch missing)."""
        hooks = {hook for sid, hook, _, _ in SERVICES if sid == service}
        if not hooks:
            raise CdsError(404, f"no CDS service {service[:60]!r}; GET /cds-services lists them")
        if not isinstance(body, dict):
            raise CdsError(400, "a CDS Hooks request is a JSON object with hook, hookInstance and context")
        hook, instance, context = body.get("hook"), body.get("hookInstance"), body.get("context")
        if hook not in hooks:
            raise CdsError(400, f"service {service} answers the {' and '.join(sorted(hooks))} hook; the request says {str(hook)[:40]!r}")
        if not isinstance(instance, str) or not instance:
            raise CdsError(400, "hookInstance is required: a string (a UUID)")
        if not isinstance(context, dict) or not isinstance(context.get("patientId"), str):
            raise CdsError(400, "context.patientId is required: the FHIR id of the patient")
        prefetch = dict(body.get("prefetch")) if isinstance(body.get("prefetch"), dict) else {}
        missing = tuple(key for key in self.prefetch if key not in prefetch)
        problem = ""
        if missing and self.fetch_from:
            fetched, problem = self.fetch(body, context, missing)
            prefetch.update(fetched)
            missing = tuple(key for key in missing if key not in fetched)
        if missing:
            how = problem or ("hipkg does not fetch from the FHIR server (hipkg serve --allow-fhir-fetch URL allows it)"
                              if not self.fetch_from else "the call's fhirServer is not one hipkg serve allows (--allow-fhir-fetch)")
            raise CdsError(412, f"{how}; send the prefetch keys " + ", ".join(missing), missing)
        orders = self.orders(hook, context) if hook != "patient-view" else None
        resources, notes = self.resources(prefetch)
        reading = self.kg.fhir.read(resources, "prefetch")
        if not reading.situation["findings"]:
            return {"cards": [self.card(instance, "nothing", "info", "No active condition in the record that hipkg reads: "
                                        "nothing indicates a hip injection", self._nothing(reading, notes), {"label": "hipkg"})]}
        recommendation = self.kg.recommend(self.kg.fhir.from_reading(reading, "prefetch"))
        return {"cards": self.cards(instance, recommendation, orders, notes)}

    def fetch(self, body: dict[str, Any], context: dict[str, Any], keys: tuple[str, ...]) -> tuple[dict[str, Any], str]:
        """The prefetch ``keys`` read from the call's fhirServer, if the operator allows that server; and why not, if not."""
        from hipkg.http import Client  # urllib, only when a fetch is allowed and needed (start-up time)

        server = body.get("fhirServer")
        if not isinstance(server, str) or not any(_below(server, allowed) for allowed in self.fetch_from):
            return {}, ""
        auth = body.get("fhirAuthorization")
        token = auth.get("access_token") if isinstance(auth, dict) and isinstance(auth.get("access_token"), str) else None
        client, out = Client(server, self.timeout), {}
        for key in keys:
            path = _render(self.prefetch[key], context)
            if path is None:
                return out, f"prefetch {key}: the context lacks a field its template names"
            try:
                reply = client.send("GET", server.rstrip("/") + "/" + path, None, None, "application/fhir+json", token, self.max_bytes)
                out[key] = json.loads(reply.body)
            except EndpointError as exc:
                return out, f"fetching prefetch {key} from the FHIR server failed ({exc.status or 'not reached'})"
            except (UnicodeDecodeError, json.JSONDecodeError):
                return out, f"the FHIR server's answer for prefetch {key} is not JSON"
        return out, ""

    def orders(self, hook: str, context: dict[str, Any]) -> list[Order]:
        """The draft orders the call is about (order-select: the selections; order-sign: all), as hipkg reads them."""
        bundle = context.get("draftOrders")
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise CdsError(400, "context.draftOrders is required for this hook: a FHIR Bundle of the draft orders")
        selections = context.get("selections")
        if hook == "order-select" and not (isinstance(selections, list) and all(isinstance(s, str) for s in selections)):
            raise CdsError(400, "context.selections is required for order-select: the ids (Type/id) of the selected orders")
        out = []
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict) or resource.get("resourceType") not in ORDER_TYPES:
                continue
            ref = f"{resource['resourceType']}/{resource.get('id', '')}"
            if hook == "order-select" and ref not in selections:
                continue
            text = resource_text(resource, "code", "bodySite", "medicationCodeableConcept", "orderDetail", "note")
            fhir = self.kg.fhir
            out.append(Order(ref, resource, tuple(fhir.named("target", text)), tuple(fhir.named("category", text)),
                             tuple(fhir.named("guidance", text))))
        return out

    @staticmethod
    def resources(prefetch: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
        """Every resource of the prefetch (a resource, or a searchset Bundle's entries; null: none), and notes on
        what could not be used (an OperationOutcome in place of data)."""
        out, notes = [], []
        for key, value in prefetch.items():
            items = [value] if isinstance(value, dict) and value.get("resourceType") != "Bundle" else [
                e.get("resource") for e in (value or {}).get("entry") or [] if isinstance(e, dict)] if isinstance(value, dict) else []
            for item in items:
                if isinstance(item, dict) and item.get("resourceType") == "OperationOutcome":
                    notes.append(f"prefetch {key}: the client could not fetch it (OperationOutcome)")
                elif isinstance(item, dict):
                    out.append(item)
        return out, notes

    # ---------------------------------------------------------------- cards

    def cards(self, instance: str, r: Recommendation, orders: list[Order] | None, notes: list[str]) -> list[dict[str, Any]]:
        if orders is not None and not any(o.targets for o in orders):
            return []  # no draft order names a hip injection: nothing to say
        cards = []
        if r.questions:
            cards.append(self.card(instance, "questions", "warning", _cut(f"{len(r.questions)} question{'s' if len(r.questions) > 1 else ''} "
                                   f"to settle before a hip injection: {r.questions[0].question}"), self._questions(r, notes), {"label": "hipkg"}))
        groups = self._groups(r, orders)
        for status, (indicator, word) in CARDS.items():
            options = groups.get(status)
            if not options or (status == "not-indicated" and (orders is None or len(groups) > 1)):
                continue  # not indicated is news only when it is all an order's options are
            reason = _decisive(options, status)
            summary = _summary(word, options, self.kg.term_labels, reason)
            card = self.card(instance, status, indicator, summary, self._detail(r, options, status, notes),
                             _source(reason) if reason is not None else {"label": "hipkg"})
            if self.override_reasons.get(status):
                card["overrideReasons"] = self.override_reasons[status]
            if status in ("avoid", "check") and orders:
                suggestions = self._suggestions(instance, r, options, orders)
                if suggestions:
                    card["suggestions"], card["selectionBehavior"] = suggestions, "at-most-one"
            cards.append(card)
        return cards

    @staticmethod
    def card(instance: str, key: str, indicator: str, summary: str, detail: str, source: dict[str, Any]) -> dict[str, Any]:
        return {"uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{instance}/{key}")), "summary": summary, "indicator": indicator,
                "detail": detail, "source": source}

    @functools.cached_property
    def override_reasons(self) -> dict[str, list[dict[str, str]]]:
        """Status slug -> the override reasons its cards offer (fhir/override-reasons), as Codings."""
        out: dict[str, list[dict[str, str]]] = {}
        for status, slug, label in self.kg.query("fhir/override-reasons").rows:
            out.setdefault(str(status), []).append({"system": OVERRIDE_SYSTEM, "code": str(slug), "display": str(label)})
        return out

    def _groups(self, r: Recommendation, orders: list[Order] | None) -> dict[str, list[OptionResult]]:
        out: dict[str, list[OptionResult]] = {}
        for option in r.options:
            if orders is None or any(o.asks_about(option) for o in orders):
                out.setdefault(option.status, []).append(option)
        return out

    def _suggestions(self, instance: str, r: Recommendation, blocked: list[OptionResult], orders: list[Order]) -> list[dict[str, Any]]:
        """For a blocked draft order: the same target and medication with another guidance method that fits, as an
        update of the draft order (its notes say which guidance; the order's code is the client's)."""
        out = []
        labels = self.kg.term_labels
        for order in orders:
            mine = [o for o in blocked if order.asks_about(o)]
            for option in r.options:
                if option.status != "fits" or option.guidance in {o.guidance for o in mine}:
                    continue
                if not any(o.target == option.target and o.medication_categories == option.medication_categories
                           and o.purpose == option.purpose for o in mine):
                    continue
                label = labels.get(("guidance", option.guidance), option.guidance)
                updated = copy.deepcopy(order.resource)
                updated["note"] = [*updated.get("note", []), {"text": f"Guidance: {label} (hipkg: {option.label} fits)"}]
                key = f"{order.ref}/{option.guidance}"  # one suggestion per guidance method, whichever options fit with it
                out.append({"label": f"Use {label} instead", "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{instance}/{key}")),
                            "actions": [{"type": "update", "description": f"Note on {order.ref} that the injection is to be done "
                                         f"with {label}", "resource": updated}]})
        return list({s["uuid"]: s for s in out}.values())

    def _detail(self, r: Recommendation, options: list[OptionResult], status: str, notes: list[str]) -> str:
        """Markdown: the options, then each reason once with its quote and source, then the disclaimer."""
        lines = [f"**{CARDS[status][1]}** ({len(options)} option{'s' if len(options) > 1 else ''}):", ""]
        if r.assumed_absent and status in ("fits", "caution"):  # what the status rests on, as the answer says it
            lines[-1:] = ["", "Provided none of these, which the record neither gives nor rules out: "
                          + "; ".join(a.label for a in r.assumed_absent) + ".", ""]
        lines += [f"- {o.label}" for o in options]
        reasons: dict[tuple[str, str], Reason] = {}
        for o in options:
            for reason in o.reasons:
                reasons.setdefault((reason.id, reason.because), reason)
        if reasons:
            lines += ["", "**Why** (each statement once):", ""]
            for reason in sorted(reasons.values(), key=lambda x: (KIND_ORDER.index(x.kind) if x.kind in KIND_ORDER else 9, x.id, x.because)):
                lines.append(f"- *{reason.kind}*: {reason.label} (because {reason.because}): "
                             f"\u201c{reason.source.quote}\u201d \u2014 {reason.source.source}, {reason.source.section}")
        return "\n".join(lines + _notes(r, notes) + ["", f"_{DISCLAIMER}_"])

    def _questions(self, r: Recommendation, notes: list[str]) -> str:
        lines = ["**Questions to settle** (the options they concern are *check* until answered):", ""]
        lines += [f"- {q.question} (raised by {', '.join(q.because)}; asks about: {q.label})" for q in r.questions]
        return "\n".join(lines + _notes(r, notes) + ["", f"_{DISCLAIMER}_"])

    @staticmethod
    def _nothing(reading: Any, notes: list[str]) -> str:
        lines = [f"hipkg read {reading.resources} resources and found no active condition it uses."]
        lines += [f"- left out {i.resource}: {i.why}" for i in reading.ignored] + [f"- {n}" for n in notes]
        return "\n".join(lines + ["", f"_{DISCLAIMER}_"])

    # ---------------------------------------------------------------- feedback

    def feedback(self, service: str, body: Any) -> dict[str, Any]:
        """Record feedback on cards (CDS Hooks 2.0: card, outcome accepted|overridden, acceptedSuggestions for an
        accepted one, an optional overrideReason, outcomeTimestamp)."""
        if not any(sid == service for sid, *_ in SERVICES):
            raise CdsError(404, f"no CDS service {service[:60]!r}; GET /cds-services lists them")
        items = body.get("feedback") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise CdsError(400, "feedback is a JSON object with a non-empty list 'feedback'")
        for i, item in enumerate(items):
            where = f"feedback[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("card"), str):
                raise CdsError(400, f"{where}.card is required: the card's uuid")
            if item.get("outcome") not in ("accepted", "overridden"):
                raise CdsError(400, f"{where}.outcome must be accepted or overridden")
            accepted = item.get("acceptedSuggestions")
            if item["outcome"] == "accepted" and not (isinstance(accepted, list) and accepted
                                                      and all(isinstance(a, dict) and isinstance(a.get("id"), str) for a in accepted)):
                raise CdsError(400, f"{where}.acceptedSuggestions is required for an accepted outcome: a list of {{\"id\": uuid}}")
            reason = item.get("overrideReason")
            if reason is not None and not isinstance(reason, dict):
                raise CdsError(400, f"{where}.overrideReason must be an object with reason (a Coding) and/or userComment")
            stamp = item.get("outcomeTimestamp")
            try:
                datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            except ValueError:
                raise CdsError(400, f"{where}.outcomeTimestamp is required: an ISO 8601 instant such as 2026-12-01T09:30:00Z") from None
        for item in items:
            self.feedback_log.append({"service": service, **item})
        return {"received": len(items)}


def _below(server: str, allowed: str) -> bool:
    """Whether the FHIR base URL ``server`` is ``allowed`` or below it: same scheme, host and port, and its path under."""
    a, b = urllib.parse.urlsplit(server), urllib.parse.urlsplit(allowed)
    if a.username or a.password or (a.scheme, a.hostname, a.port) != (b.scheme, b.hostname, b.port):
        return False
    base = b.path.rstrip("/")
    return a.path.rstrip("/") == base or a.path.startswith(base + "/")


def _render(template: str, context: dict[str, Any]) -> str | None:
    """A prefetch template with its {{context.X}} tokens filled in (URL-quoted), or None if one cannot be."""
    missing = []

    def fill(match: re.Match[str]) -> str:
        value = context.get(match[1])
        if not isinstance(value, str):
            missing.append(match[1])
            return ""
        return urllib.parse.quote(value, safe="")

    out = re.sub(r"\{\{context\.(\w+)\}\}", fill, template)
    return None if missing else out


def _decisive(options: list[OptionResult], status: str) -> Reason | None:
    """The reason that decides the group's status: for avoid a contraindication (or a guideline rule), for check an
    open check, for caution a caution, for fits an indication; the one most of the group's options share."""
    kinds = DECIDING.get(status, ())
    counted: dict[tuple[str, str], tuple[int, Reason]] = {}
    for o in options:
        for reason in o.reasons:
            if reason.kind in kinds:
                n, _ = counted.get((reason.id, reason.because), (0, reason))
                counted[(reason.id, reason.because)] = (n + 1, reason)
    if not counted:
        return None
    return max(counted.values(), key=lambda item: (item[0], -KIND_ORDER.index(item[1].kind), item[1].id))[1]


def _summary(word: str, options: list[OptionResult], labels: dict[tuple[str, str], str], reason: Reason | None) -> str:
    """Under 140 characters, naming the decisive reason: the group described in less detail until it fits."""
    why = f": {_because(reason)}" if reason is not None else ""
    candidates = [f"{word} {_subject(options, labels, detail)}{why}" for detail in (3, 2, 1, 0)]
    return next((c for c in candidates if len(c) <= SUMMARY_MAX), _cut(candidates[-1]))


def _subject(options: list[OptionResult], labels: dict[tuple[str, str], str], detail: int = 3) -> str:
    """What the group is: its target (when it has one), then (as ``detail`` allows) the medication categories and
    the guidance all its options share, and how many options it holds."""
    targets = sorted({o.target for o in options})
    what = labels.get(("target", targets[0]), targets[0]) if len(targets) == 1 else "hip injection"
    shared = [c for c in options[0].medication_categories if all(c in o.medication_categories for o in options)]
    if shared and detail >= 1:
        what += " with " + " and ".join(labels.get(("category", c), c) for c in shared)
    guidance = {o.guidance for o in options}
    if len(guidance) == 1 and detail >= 2:
        what += ", " + labels.get(("guidance", next(iter(guidance))), next(iter(guidance)))
    return what + (f" ({len(options)} option{'s' if len(options) > 1 else ''})" if detail >= 3 else "")


def _because(reason: Reason) -> str:
    """The decisive reason in a summary: its label, after what triggered it unless every situation triggers it."""
    return reason.label if reason.because == ALWAYS else f"{reason.because} ({reason.label})"


def _source(reason: Reason) -> dict[str, Any]:
    return {"label": _cut(f"{reason.source.source} \u2014 {reason.source.section}", 200)}


def _notes(r: Recommendation, notes: Iterable[str]) -> list[str]:
    reading = r.reading
    lines = [f"- left out {i.resource}: {i.why}" for i in (reading.ignored if reading is not None else ())] + [f"- {n}" for n in notes]
    return ["", "**Not used from the record:**", "", *lines] if lines else []


def _cut(text: str, limit: int = SUMMARY_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"
