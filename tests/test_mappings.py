"""The mapping table: every code real, every label as its terminology spells it, every concept covered."""
from __future__ import annotations

import pytest
from rdflib.namespace import RDF

from hipkg.codes import snomed_concept_id_valid
from hipkg.namespaces import HIPKG

PREDICATES = {"skos:exactMatch", "skos:closeMatch", "skos:broadMatch", "skos:narrowMatch"}
COVERED = ("AnatomicalStructure", "NonHipPainSource", "Condition", "MedicationCategory", "Medication",
           "ImagingGuidanceMethod", "InjectionTarget", "Procedure")


def rows(kg, prefix: str):
    return [m for m in kg.mapping_set.mappings if m.object_id.startswith(prefix + ":")]


def test_every_row_uses_an_honest_skos_predicate_and_curation(kg) -> None:
    for m in kg.mapping_set.mappings:
        assert m.predicate_id in PREDICATES, m
        assert m.mapping_justification == "semapv:ManualMappingCuration", m
        assert m.comment, f"{m.subject_id} -> {m.object_id}: say where it was verified"


def test_every_subject_is_a_concept_of_the_graph(kg) -> None:
    for m in kg.mapping_set.mappings:
        assert (kg.mapping_set.expand(m.subject_id), RDF.type, None) in kg.data, m.subject_id


@pytest.mark.parametrize("cls", COVERED)
def test_every_concept_of_class_has_a_mapping_or_a_no_term_found_record(kg, cls: str) -> None:
    mapped = {m.subject_id for m in kg.mapping_set.mappings}
    missing = sorted(f"hipkg:{s[len(HIPKG):]}" for s in kg.data.subjects(RDF.type, HIPKG[cls]) if f"hipkg:{s[len(HIPKG):]}" not in mapped)
    assert not missing


def test_icd10cm_codes_exist_with_their_labels(kg) -> None:
    icd = pytest.importorskip("simple_icd_10_cm")
    for m in rows(kg, "ICD10CM"):
        code = m.object_id.split(":", 1)[1]
        assert icd.is_valid_item(code), m.object_id
        assert icd.get_description(code) == m.object_label, (m.object_id, m.object_label)


def test_snomed_identifiers_pass_verhoeff_and_partition(kg) -> None:
    ids = [m.object_id.split(":", 1)[1] for m in rows(kg, "SNOMEDCT")]
    assert ids
    assert [i for i in ids if not snomed_concept_id_valid(i)] == []


@pytest.mark.parametrize("trap", ["SNOMEDCT:202882003", "ATC:C01BB01"])
def test_known_traps_are_absent(kg, trap: str) -> None:
    assert trap not in {m.object_id for m in kg.mapping_set.mappings}


def test_lidocaine_and_hyaluronic_acid_atc(kg) -> None:
    pairs = {(m.subject_id, m.object_id) for m in kg.mapping_set.mappings}
    assert ("hipkg:Lidocaine", "ATC:N01BB02") in pairs
    assert ("hipkg:HyaluronicAcid", "ATC:M09AX01") in pairs


def test_mapping_triples_are_generated_from_the_table(kg) -> None:
    """A skos:*Match triple per row that names a code, and each code's CURIE as the table writes it."""
    from rdflib import Literal

    from hipkg.namespaces import HIPKG

    real = [m for m in kg.mapping_set.mappings if not m.is_no_term_found]
    graph = kg.mapping_set.to_graph()
    matches = {(m.subject_id, m.predicate_id, m.object_id) for m in real}
    curies = {(kg.mapping_set.expand(m.object_id), HIPKG.curie, Literal(m.object_id)) for m in real}
    assert set(graph.triples((None, HIPKG.curie, None))) == curies
    assert len(graph) == len(matches) + len(curies)
