"""FHIR R4 JSON: hipkg as a CodeSystem, its mapping table as ConceptMaps, rule triggers as ValueSets, and each guideline
recommendation as a PlanDefinition (type clinical-protocol) whose action carries the cqf-strengthOfRecommendation
extension, in one Bundle.

Everything is generated from the graph and the SSSOM table. The per-system table below is
terminology metadata (canonical system URIs and code forms), not clinical knowledge.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable

from rdflib import URIRef
from rdflib.namespace import DCTERMS, RDF, SKOS

from hipkg import __version__
from hipkg.export._common import alt_labels, concept_type, concepts, definition, label, local_name
from hipkg.codes import FHIR_SYSTEMS as SYSTEMS, FhirSystem
from hipkg.namespaces import HIPKG, curie

if TYPE_CHECKING:
    from hipkg.store import Store
    from hipkg.mappings import Mapping

BASE = "https://w3id.org/hipkg/fhir"
CODESYSTEM_URL = f"{BASE}/CodeSystem/hipkg"
#: SNOMED CT's designation use code for a synonym.
SYNONYM_USE = {"system": "http://snomed.info/sct", "code": "900000000000013009", "display": "Synonym"}


#: SKOS mapping predicate -> R4 ConceptMapEquivalence (read "the target is <equivalence> the source").
#: closeMatch -> inexact follows the sssom toolkit's FHIR writer; inexact and narrower need a comment.
EQUIVALENCE = {
    "skos:exactMatch": "equivalent",
    "skos:closeMatch": "inexact",
    "skos:broadMatch": "wider",
    "skos:narrowMatch": "narrower",
    "skos:relatedMatch": "relatedto",
}
NEEDS_COMMENT = {"inexact", "narrower"}

#: HL7's extension for a recommendation's strength (R4), its rating system, and the PlanDefinition type used.
STRENGTH_EXTENSION = "http://hl7.org/fhir/StructureDefinition/cqf-strengthOfRecommendation"
STRENGTH_SYSTEM = "http://terminology.hl7.org/CodeSystem/recommendation-strength"
PLAN_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/plan-definition-type", "code": "clinical-protocol",
             "display": "Clinical Protocol"}


def _system(prefix: str, kg: "Store") -> FhirSystem:
    if prefix in SYSTEMS:
        return SYSTEMS[prefix]
    return FhirSystem(kg.mapping_set.curie_map.get(prefix, prefix), prefix, False)


def _slug(prefix: str) -> str:
    return prefix.lower().replace("_", "-")


def codesystem(kg: "Store") -> dict[str, Any]:
    """All hipkg concepts, flat, with skos:broader as the `parent` property (poly-hierarchy allowed)."""
    nodes = concepts(kg)
    members = set(nodes)
    entries = []
    for node in nodes:
        concept: dict[str, Any] = {"code": local_name(node), "display": label(kg, node)}
        if text := definition(kg, node):
            concept["definition"] = text
        if synonyms := alt_labels(kg, node):
            concept["designation"] = [{"language": "en", "use": SYNONYM_USE, "value": s} for s in synonyms]
        props: list[dict[str, Any]] = [{"code": "type", "valueString": concept_type(kg, node)}]
        props += [{"code": "parent", "valueCode": local_name(b)}
                  for b in sorted(kg.data.objects(node, SKOS.broader), key=str) if b in members]
        concept["property"] = props
        entries.append(concept)
    return {
        "resourceType": "CodeSystem",
        "id": "hipkg",
        "url": CODESYSTEM_URL,
        "version": __version__,
        "name": "Hipkg",
        "title": "hipkg concepts",
        "status": "active",
        "experimental": False,
        "description": "Concepts of the hipkg knowledge graph of therapeutic hip injections. Informational only.",
        "caseSensitive": True,
        # skos:broader mixes is-a and grouping links, which is what grouped-by means.
        "hierarchyMeaning": "grouped-by",
        "content": "complete",
        "count": len(entries),
        "property": [
            {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent", "type": "code",
             "description": "skos:broader"},
            {"code": "type", "type": "string", "description": "hipkg class of the concept (CURIE)"},
        ],
        "concept": entries,
    }


def _elements(rows: Iterable["Mapping"], kg: "Store", prefix: str | None) -> list[dict[str, Any]]:
    """ConceptMap elements grouped by hipkg code, one target per mapping row."""
    elements: dict[str, dict[str, Any]] = {}
    for row in rows:
        code = row.subject_id.split(":", 1)[1] if row.subject_id.startswith("hipkg:") else row.subject_id
        element = elements.setdefault(code, {"code": code, "display": row.subject_label, "target": []})
        if prefix is None:
            target: dict[str, Any] = {"equivalence": "unmatched"}
        else:
            local = row.object_id.split(":", 1)[1]
            target = {"code": row.object_id if _system(prefix, kg).keep_prefix else local,
                      "equivalence": EQUIVALENCE.get(row.predicate_id, "relatedto")}
            if row.object_label:
                target["display"] = row.object_label
        comment = row.comment or (f"{row.predicate_id} in the hipkg mapping table"
                                  if target["equivalence"] in NEEDS_COMMENT else "")
        if comment:
            target["comment"] = comment
        element["target"].append(target)
    for element in elements.values():
        if not element["display"]:
            del element["display"]
    return [elements[k] for k in sorted(elements)]


def conceptmaps(kg: "Store") -> list[dict[str, Any]]:
    """One ConceptMap per target system, plus one of unmatched (sssom:NoTermFound) rows."""
    by_prefix: dict[str | None, list["Mapping"]] = {}
    for row in kg.mapping_set.mappings:
        by_prefix.setdefault(None if row.is_no_term_found else row.object_id.split(":", 1)[0], []).append(row)
    order = [p for p in SYSTEMS if p in by_prefix] + sorted(p for p in by_prefix if p and p not in SYSTEMS)
    maps = []
    for prefix in order + ([None] if None in by_prefix else []):
        slug = "unmatched" if prefix is None else _slug(prefix)
        group: dict[str, Any] = {"source": CODESYSTEM_URL, "sourceVersion": __version__}
        if prefix is None:
            title = "hipkg concepts with no code found (sssom:NoTermFound)"
        else:
            system = _system(prefix, kg)
            group["target"] = system.url
            title = f"hipkg to {system.title}"
        group["element"] = _elements(by_prefix[prefix], kg, prefix)
        maps.append({
            "resourceType": "ConceptMap",
            "id": f"hipkg-{slug}",
            "url": f"{BASE}/ConceptMap/hipkg-{slug}",
            "version": __version__,
            "name": "Hipkg" + ("Unmatched" if prefix is None else prefix.title().replace("_", "")),
            "title": title,
            "status": "active",
            "experimental": False,
            "description": "Generated from the hipkg SSSOM mapping table.",
            "sourceUri": CODESYSTEM_URL,
            "group": [group],
        })
    return maps


def _valueset(kg: "Store", slug: str, title: str, rule_class: URIRef, predicates: tuple[URIRef, ...]) -> dict[str, Any]:
    rules = set(kg.data.subjects(RDF.type, rule_class))
    triggers = {o for r in rules for p in predicates for o in kg.data.objects(r, p) if isinstance(o, URIRef)}
    return {
        "resourceType": "ValueSet",
        "id": slug,
        "url": f"{BASE}/ValueSet/{slug}",
        "version": __version__,
        "name": "".join(w.title() for w in slug.split("-")),
        "title": title,
        "status": "active",
        "experimental": False,
        "description": f"hipkg concepts that trigger a {curie(rule_class)} ({', '.join(curie(p) for p in predicates)}).",
        "compose": {"include": [{
            "system": CODESYSTEM_URL,
            "version": __version__,
            "concept": [{"code": local_name(t), "display": label(kg, t)} for t in sorted(triggers, key=str)],
        }]},
    }


def valuesets(kg: "Store") -> list[dict[str, Any]]:
    return [
        _valueset(kg, "hipkg-indication-triggers", "hipkg indication triggers", HIPKG.Indication, (HIPKG.triggeredBy,)),
        _valueset(kg, "hipkg-contraindication-triggers", "hipkg contraindication triggers", HIPKG.Contraindication,
                  (HIPKG.triggeredBy, HIPKG.triggeredByAllergyTo)),
    ]


def plandefinitions(kg: "Store") -> list[dict[str, Any]]:
    """A PlanDefinition per guideline recommendation (recommend/guideline-recommendations): what it bears on is its
    action's description; the statement, the guideline and the locator are its related artifacts; an unverified one is
    marked in its description and has no statement."""
    out = []
    for r in kg.query("recommend/guideline-recommendations"):
        iri = r["recommendation"]
        rid = local_name(iri)
        strength = kg.data.value(iri, HIPKG.strength)
        code = kg.data.value(strength, HIPKG.hl7StrengthCode) if strength is not None else None
        rating: dict[str, Any] = {"text": f"{r['strength']} ({r['strengthAsWritten']})"}
        if code is not None:
            rating["coding"] = [{"system": STRENGTH_SYSTEM, "code": str(code)}]
        verified = bool(r["verified"].toPython())
        scope = ", ".join(sorted(label(kg, s) for s in kg.data.objects(iri, HIPKG.scope)))
        population = str(r["population"]) if r["population"] is not None else "every population the guideline covers"
        artifacts = [{"type": "citation", "display": str(r["guideline"]),
                      "citation": str(kg.data.value(kg.data.value(iri, HIPKG.guideline), DCTERMS.bibliographicCitation) or r["guideline"])},
                     {"type": "documentation", "display": "where the statement was read", "url": str(r["locator"])}
                     if str(r["locator"]).startswith("http") else {"type": "documentation", "display": str(r["locator"])}]
        if r["statement"] is not None:
            artifacts.insert(0, {"type": "justification", "display": "the guideline's statement", "citation": str(r["statement"])})
        out.append({
            "resourceType": "PlanDefinition",
            "id": rid.replace("_", "-"),
            "url": f"{BASE}/PlanDefinition/{rid}",
            "version": __version__,
            "name": rid.replace("_", ""),
            "title": str(r["label"]),
            "type": {"coding": [PLAN_TYPE]},
            "status": "active",
            "experimental": False,
            "description": (f"{r['body']} {r['year']}: {r['direction']} ({r['strength']}), for {population}; aspect {r['aspect']}."
                            + ("" if verified else f" Unverified: {r['reason']}") + " Informational; no substitute for a clinician."),
            "relatedArtifact": artifacts,
            "action": [{
                "title": str(r["label"]),
                "description": f"{r['direction']}: {scope}",
                "extension": [{"url": STRENGTH_EXTENSION, "valueCodeableConcept": rating}],
            }],
        })
    return out


#: The FHIR version the export is written in and parses as (R4B, 4.3.0), tagged on every resource: the code system of
#: FHIR versions is http://hl7.org/fhir/FHIR-version (read at https://hl7.org/fhir/R4B/codesystem-FHIR-version.html).
FHIR_VERSION_TAG = {"system": "http://hl7.org/fhir/FHIR-version", "code": "4.3.0", "display": "R4B"}


def bundle(kg: "Store") -> dict[str, Any]:
    """A collection Bundle: CodeSystem, ConceptMaps, ValueSets, PlanDefinitions, each tagged with its FHIR version."""
    resources = [{**r, "meta": {"tag": [FHIR_VERSION_TAG]}} for r in (codesystem(kg), *conceptmaps(kg), *valuesets(kg), *plandefinitions(kg))]
    return {
        "resourceType": "Bundle",
        "id": "hipkg",
        "meta": {"tag": [FHIR_VERSION_TAG]},
        "type": "collection",
        "entry": [{"fullUrl": r["url"], "resource": r} for r in resources],
    }


def export(kg: "Store") -> str:
    return json.dumps(bundle(kg), indent=2, ensure_ascii=False) + "\n"
