"""OpenAPI 3.1 description of the non-SPARQL routes (the SPARQL endpoint follows the SPARQL 1.1 Protocol instead)."""
from __future__ import annotations

from typing import Any

from hipkg import DISCLAIMER, __version__
from hipkg.serve.config import Limits
from hipkg.vocabulary import Vocabulary

_ERROR = {"description": "refused, with a short message that does not repeat the request",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def spec(base_url: str, limits: Limits, vocabulary: Vocabulary) -> dict[str, Any]:
    goals, certainties, default_goal = sorted(vocabulary.purposes), sorted(vocabulary.certainty), vocabulary.default_goal
    sparql_answer = {
        "description": "the query's answer (negotiated: SPARQL Results JSON by default, or XML/CSV/TSV with Accept); "
                       "a cut answer carries the Hipkg-Truncated header",
        "content": {t: {} for t in ("application/sparql-results+json", "application/sparql-results+xml", "text/csv",
                                    "text/tab-separated-values", "text/turtle", "application/n-triples", "application/ld+json")},
        "headers": {"Hipkg-Truncated": {"schema": {"type": "string"}, "description": "present when the answer was cut: reason; limit; kept"}},
    }
    limits_text = (f"Limits: {limits.timeout:g} s per query (504 after), {limits.max_rows} rows, {limits.max_bytes} bytes per "
                   f"answer, {limits.max_request_bytes}-byte requests (413), {limits.max_concurrent} queries at once (503).")
    return {
        "openapi": "3.1.0",
        "info": {"title": "hipkg", "version": __version__,
                 "description": f"Therapeutic hip injections as a knowledge graph: which options fit a situation, and why. "
                                f"SPARQL 1.1 Protocol endpoint at /sparql (not described here). {limits_text}\n\n{DISCLAIMER}"},
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": {
            "/recommend": {"post": {
                "summary": "Which injection options fit a situation, and why",
                "description": "A hipkg situation, or FHIR R4 JSON (a Bundle, a resource, or a list of resources; the answer's "
                               "`read` lists what was left out and why).",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"oneOf": [{"$ref": "#/components/schemas/Situation"}, {"type": "object", "required": ["resourceType"]}]},
                    "example": {"findings": ["ICD10CM:M16.12"], "allergies": ["RXNORM:6387"], "goal": "therapeutic"}}}},
                "responses": {
                    "200": {"description": "every option with its status (fits, caution, check, avoid, not-indicated), the reasons, "
                                           "their source quotes, advice and the disclaimer (the JSON of `hipkg recommend --format json`)",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                    "400": _ERROR, "413": _ERROR, "415": _ERROR, "503": _ERROR, "504": _ERROR},
            }},
            "/queries": {"get": {
                "summary": "The query library: name, kind, summary, parameters and examples of every bundled query",
                "responses": {"200": {"description": "a list of queries", "content": {"application/json": {"schema": {
                    "type": "array", "items": {"$ref": "#/components/schemas/Query"}}}}}},
            }},
            "/queries/{name}": {"get": {
                "summary": "Run a library query; each query parameter binds one of its parameters",
                "description": "Repeat a parameter for more rows; a multi-column parameter takes comma-separated values. "
                               "IRI values may be a full IRI, a CURIE (hipkg:X) or a label naming exactly one thing.",
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
                                "example": "knowledge/contraindications"}],
                "responses": {"200": sparql_answer, "400": {"description": "bad parameter (text/plain)"},
                              "404": {"description": "unknown query (text/plain)"}, "503": {"description": "busy"},
                              "504": {"description": "stopped at the time limit"}},
            }},
            "/cds-services": {"get": {"summary": "CDS Hooks 2.0 discovery: the services, their hooks and prefetch templates",
                                      "responses": {"200": {"description": "{services: [...]}", "content": {"application/json": {}}}}}},
            "/cds-services/{id}": {"post": {
                "summary": "CDS Hooks 2.0 call: cards for patient-view, order-select or order-sign",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}, "example": "hip-injection"}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["hook", "hookInstance", "context"]}}}},
                "responses": {"200": {"description": "{cards: [...]}", "content": {"application/json": {}}}, "400": _ERROR, "404": _ERROR,
                              "412": {"description": "a prefetch key is missing: hipkg does not fetch from the FHIR server",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}, "503": _ERROR},
            }},
            "/cds-services/{id}/feedback": {"post": {
                "summary": "CDS Hooks 2.0 feedback on cards (accepted or overridden)",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "required": ["feedback"]}}}},
                "responses": {"200": {"description": "{received: N}", "content": {"application/json": {}}}, "400": _ERROR, "404": _ERROR},
            }},
            "/healthz": {"get": {"summary": "Liveness, worker count, restarts and limits",
                                 "responses": {"200": {"description": "status", "content": {"application/json": {}}}}}},
            "/": {"get": {"summary": "Web page: build a situation and read the answer (finding, allergy, goal query parameters)",
                          "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}}}},
            "/concept/{id}": {"get": {"summary": "Web page of one concept: label, definition, synonyms, codes, rules",
                                      "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
                                                      "example": "hipkg:HipOsteoarthritis"}],
                                      "responses": {"200": {"description": "HTML"}, "404": {"description": "no such concept"}}}},
        },
        "components": {"schemas": {
            "Situation": {"type": "object", "additionalProperties": False, "required": ["findings"], "properties": {
                "date": {"type": "string", "format": "date", "description": "the reference date (default: today)"},
                "findings": {"type": "array", "minItems": 1, "maxItems": 50, "items": {"oneOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": False, "required": ["code"], "properties": {
                        "code": {"type": "string"}, "certainty": {"type": "string", "enum": certainties},
                        "date": {"type": "string", "format": "date"}}}]},
                             "description": "CURIEs: ICD10CM, SNOMEDCT (SCTID, SNOMEDCT_US) or hipkg; or {code, certainty, date}"},
                "allergies": {"type": "array", "maxItems": 50, "items": {"type": "string"},
                              "description": "CURIEs: RXNORM, SNOMEDCT or hipkg"},
                "medications": {"type": "array", "maxItems": 50, "items": {"type": "string"}, "description": "CURIEs: RXNORM, ATC or hipkg"},
                "observations": {"type": "array", "maxItems": 50, "items": {"type": "object", "required": ["code", "value", "unit"]},
                                 "description": "{code: LOINC CURIE, value: number, unit: UCUM, date}"},
                "procedures": {"type": "array", "maxItems": 50, "items": {"type": "object", "required": ["code"]},
                               "description": "{code: SNOMEDCT or hipkg CURIE, date, planned}"},
                "injections": {"type": "array", "maxItems": 50, "items": {"type": "object", "required": ["date", "target"]},
                               "description": "{date, target: target slug, medications: category slugs}"},
                "goal": {"type": "string", "enum": goals, "default": default_goal}}},
            "Query": {"type": "object", "properties": {
                "name": {"type": "string"}, "kind": {"type": "string"}, "summary": {"type": "string"},
                "description": {"type": "string"}, "params": {"type": "array", "items": {"type": "object"}},
                "examples": {"type": "array", "items": {"type": "string"}}, "url": {"type": "string"}}},
            "Error": {"type": "object", "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
        }},
    }
