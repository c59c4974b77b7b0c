"""The knowledge base itself: canonical files, verbatim quotes, every concept of the source findable, and validation."""
from __future__ import annotations

from pathlib import Path

import pytest
from rdflib.namespace import RDF, RDFS, SKOS

from conftest import REPO
from hipkg.canonical import canonical_turtle
from hipkg.namespaces import HIPKG

TTL = sorted((REPO / "ontology").rglob("*.ttl"))
SOURCE = (REPO / "ontology" / "sources" / "therapeutic-hip-injection.txt").read_text(encoding="utf-8")
SOURCE_LINES = set(SOURCE.splitlines())

# An independent list of the concepts the source names, as a user would type them.
SOURCE_CONCEPTS = [
    # purposes and uses
    "therapeutic", "diagnostic and therapeutic", "symptom relief", "reducing inflammation inside the joint", "targeted pain relief",
    "confirming or refining the pain source", "avoiding or delaying more invasive treatment", "managing flare-ups",
    # indications
    "hip osteoarthritis", "suspected intra-articular hip pain", "inflammatory arthritis", "greater trochanteric pain syndrome", "GTPS",
    "trochanteric bursitis", "iliopsoas bursitis", "iliopsoas-related pain", "hip pain persisting despite conservative care",
    "diagnostic clarification of overlapping pain sources", "prehabilitation or rehabilitation support",
    # contraindications
    "septic arthritis", "systemic infection", "fever", "severe acute hip pain", "overlying skin infection", "open wound",
    "dermatitis", "uncontrolled bleeding risk", "blood thinners", "allergy to local anaesthetic", "allergy to corticosteroid",
    "allergy to antiseptic", "allergy to contrast dye", "poorly controlled diabetes", "recent hip arthroplasty", "hip fracture",
    "rapidly worsening hip pain", "red-flag symptoms", "pregnancy", "inability to tolerate the imaging modality",
    "pain primarily from a non-hip source", "referred pain from the lumbar spine",
    # anatomy
    "hip joint", "femoral head", "acetabulum", "articular cartilage", "synovium", "joint capsule", "labrum", "trochanteric bursa",
    "gluteus medius tendon", "gluteus minimus tendon", "iliopsoas tendon", "iliopsoas bursa", "lumbar spine", "sacroiliac joint", "groin",
    # types
    "intra-articular hip joint injection", "trochanteric bursa injection", "iliopsoas region injection", "periarticular injection",
    "ultrasound-guided injection", "fluoroscopy-guided injection", "landmark-guided injection",
    "local anaesthetic", "local anesthetic", "corticosteroid", "cortisone shot", "hyaluronic acid", "viscosupplementation",
    "platelet-rich plasma", "PRP", "lidocaine", "bupivacaine", "ropivacaine", "triamcinolone", "methylprednisolone",
    "betamethasone", "dexamethasone",
    # risks, aftercare, alternatives
    "bleeding", "infection", "pain flare", "vasovagal response", "physical therapy", "hip replacement", "hip arthroscopy",
    "observation", "cane",
]


@pytest.mark.parametrize("path", TTL, ids=[str(p.relative_to(REPO)) for p in TTL])
def test_file_is_canonical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert canonical_turtle(text, str(path)) == text, f"run: hipkg fmt {path.relative_to(REPO)}"


def test_every_quote_of_the_bundled_source_is_verbatim(kg) -> None:
    passages = list(kg.data.subjects(RDF.type, HIPKG.SourcePassage))
    bundled = [p for p in passages if kg.data.value(p, HIPKG.quote) and
               (p, None, HIPKG.Source_TherapeuticHipInjection) in kg.data]
    assert len(bundled) > 250
    for p in bundled:
        assert str(kg.data.value(p, HIPKG.quote)) in SOURCE, p
        assert str(kg.data.value(p, HIPKG.section)) in SOURCE_LINES, p


@pytest.fixture(scope="module")
def names(kg) -> set[str]:
    return {str(o).casefold() for p in (RDFS.label, SKOS.altLabel) for o in kg.data.objects(None, p)}


@pytest.mark.parametrize("term", SOURCE_CONCEPTS)
def test_concept_of_the_source_is_found_by_label_or_synonym(names: set[str], term: str) -> None:
    assert any(term.casefold() in n for n in names), term


@pytest.mark.parametrize("cls, count", [("Indication", 8), ("IntendedBenefit", 5), ("Pro", 6), ("Con", 6), ("OutcomeFactor", 7),
                                         ("FAQEntry", 9), ("InjectionTarget", 4), ("ImagingGuidanceMethod", 3), ("InjectionPurpose", 2),
                                         ("AftercareExpectation", 3)])
def test_source_lists_are_complete(kg, cls: str, count: int) -> None:
    assert len(set(kg.data.subjects(RDF.type, HIPKG[cls]))) == count


def test_procedure_has_five_ordered_steps_with_sub_steps(kg) -> None:
    steps = sorted(int(kg.data.value(s, HIPKG.stepNumber)) for s in kg.data.subjects(HIPKG.stepOf, HIPKG.TherapeuticHipInjection))
    assert steps == [1, 2, 3, 4, 5]
    assert len(set(kg.data.subjects(HIPKG.subStepOf, None))) == 14


def test_every_contraindication_has_scope_and_severity(kg) -> None:
    for c in kg.data.subjects(RDF.type, HIPKG.Contraindication):
        assert kg.data.value(c, HIPKG.scope) is not None, c
        assert kg.data.value(c, HIPKG.severity) in (HIPKG.Avoid, HIPKG.Caution), c


def test_bundled_graph_conforms(kg) -> None:
    report = kg.validate()
    assert report.conforms, report.violations()[:5]


def test_validation_does_not_mutate_the_graph(kg) -> None:
    before = len(kg.data)
    kg.validate()
    assert len(kg.data) == before


def test_shapes_are_never_in_the_queried_data(kg) -> None:
    from rdflib.namespace import SH

    assert (None, RDF.type, SH.NodeShape) not in kg.data


def test_version_has_one_source(kg) -> None:
    import hipkg
    from rdflib.namespace import OWL

    assert str(kg.schema.value(HIPKG.ontology, OWL.versionInfo)) == hipkg.__version__
    assert str(kg.schema.value(HIPKG.ontology, OWL.versionIRI)).endswith("/" + hipkg.__version__)


def test_query_index_properties_are_never_written_by_hand(kg) -> None:
    """Validation leaves out hipkg:QueryIndexProperty values, so none may be authored: they are all derived at load
    (queries/derive/) or, for hipkg:curie, generated from the mapping table."""
    from hipkg.namespaces import DERIVED_GRAPH, KB_GRAPH, MAPPINGS_GRAPH

    index = set(kg.schema.subjects(RDF.type, HIPKG.QueryIndexProperty))
    assert {HIPKG.within, HIPKG.appliesToOption, HIPKG.curie} <= index
    for prop in index:
        assert not set(kg.graph(KB_GRAPH).triples((None, prop, None))), prop
        assert set(kg.graph(DERIVED_GRAPH).triples((None, prop, None))) or set(kg.graph(MAPPINGS_GRAPH).triples((None, prop, None))), prop
