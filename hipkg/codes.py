"""Code syntax: which CURIE prefixes a situation may use and what a well-formed code looks like, so that bad input is
refused with a message before anything is queried, and the codes a code may match (itself, and its ICD-10-CM
ancestors). Which concepts a code names is the mapping table's business (queries/recommend/reached.rq).

This is terminology syntax, not clinical knowledge: what a code *means* lives in the mapping table.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple

from hipkg.errors import InvalidCode

#: Accepted input prefixes (case-insensitive) -> the mapping table's canonical prefix.
FINDING_PREFIXES = {"ICD10CM": "ICD10CM", "SNOMEDCT": "SNOMEDCT", "SNOMEDCT_US": "SNOMEDCT", "SCTID": "SNOMEDCT", "HIPKG": "hipkg"}
ALLERGY_PREFIXES = {"RXNORM": "RXNORM", "SNOMEDCT": "SNOMEDCT", "SNOMEDCT_US": "SNOMEDCT", "SCTID": "SNOMEDCT", "HIPKG": "hipkg"}
MEDICATION_PREFIXES = {"RXNORM": "RXNORM", "ATC": "ATC", "HIPKG": "hipkg"}
PROCEDURE_PREFIXES = {"SNOMEDCT": "SNOMEDCT", "SNOMEDCT_US": "SNOMEDCT", "SCTID": "SNOMEDCT", "HIPKG": "hipkg"}
OBSERVATION_PREFIXES = {"LOINC": "LOINC"}

class FhirSystem(NamedTuple):
    url: str
    title: str
    keep_prefix: bool  # OBO-style codes keep their prefix ("MONDO:0005178"), the others are bare


#: CURIE prefix -> canonical FHIR code system URI (https://hl7.org/fhir/R4/terminologies-systems.html where listed): what
#: a FHIR Coding's system is read as, and what the FHIR export writes.
FHIR_SYSTEMS: dict[str, FhirSystem] = {
    "SNOMEDCT": FhirSystem("http://snomed.info/sct", "SNOMED CT", False),
    "ICD10CM": FhirSystem("http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-CM", False),
    "RXNORM": FhirSystem("http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm", False),
    "LOINC": FhirSystem("http://loinc.org", "LOINC", False),
    "ATC": FhirSystem("http://www.whocc.no/atc", "ATC", False),
    "MONDO": FhirSystem("http://purl.obolibrary.org/obo/mondo.owl", "Mondo Disease Ontology", True),
    "UBERON": FhirSystem("http://purl.obolibrary.org/obo/uberon.owl", "Uberon", True),
    "FMA": FhirSystem("http://purl.obolibrary.org/obo/fma.owl", "Foundational Model of Anatomy", True),
    "MESH": FhirSystem("https://www.nlm.nih.gov/mesh", "MeSH", False),
    "UMLS": FhirSystem("http://terminology.hl7.org/CodeSystem/umls", "UMLS", False),
}

_SYNTAX = {
    "ICD10CM": (re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"), "an ICD-10-CM code such as M16.11 (letter, digit, character, optional dot and 1-4 characters)"),
    "SNOMEDCT": (re.compile(r"^[1-9][0-9]{5,17}$"), "a SNOMED CT concept identifier such as 239872002 (6-18 digits)"),
    "RXNORM": (re.compile(r"^[1-9][0-9]{0,7}$"), "an RxNorm concept identifier such as 6387 (digits)"),
    "ATC": (re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$"), "an ATC code such as B01AA03 (letter, 2 digits, 2 letters, 2 digits, or a leading part)"),
    "LOINC": (re.compile(r"^[1-9][0-9]{0,6}-[0-9]$"), "a LOINC code such as 4548-4 (digits, hyphen, check digit)"),
    "hipkg": (re.compile(r"^[A-Za-z][A-Za-z0-9_]*$"), "a hipkg concept name such as PoorlyControlledDiabetes"),
}

_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def verhoeff_valid(digits: str) -> bool:
    """True when the last digit is the Verhoeff check digit of the others (SNOMED CT identifiers)."""
    check = 0
    for i, ch in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[i % 8][int(ch)]]
    return check == 0


@functools.lru_cache(maxsize=65536)
def snomed_concept_id_valid(sctid: str) -> bool:
    """Verhoeff check digit passes and the partition identifier says 'concept' (00 or 10)."""
    return verhoeff_valid(sctid) and sctid[-3:-1] in ("00", "10")


@dataclass(frozen=True)
class Code:
    """A code the user gave, as given and normalised (``icd10cm:m16.11`` -> ``ICD10CM:M16.11``)."""

    given: str
    curie: str


def candidates(curie: str) -> list[str]:
    """The CURIEs a normalised code may match: itself and, since ICD-10-CM codes nest by truncation, each ICD-10-CM
    ancestor (ICD10CM:M16.11 -> ICD10CM:M16.11, ICD10CM:M16.1, ICD10CM:M16). recommend/reached.rq states the same rule."""
    out = [curie]
    prefix, _, code = curie.partition(":")
    if prefix == "ICD10CM":
        while len(code) > 3:
            code = code[:-1].rstrip(".")
            out.append(f"{prefix}:{code}")
    return out


def parse_code(text: object, prefixes: dict[str, str], field: str) -> Code:
    """Validate one CURIE from a situation, or raise an InvalidCode naming it and what was expected."""
    if not isinstance(text, str):
        raise InvalidCode(field, text, "type", "a CURIE such as ICD10CM:M16.11")
    given = text
    prefix, sep, local = text.strip().partition(":")
    if not sep or not local:
        raise InvalidCode(field, given, "curie", f"PREFIX:CODE with PREFIX one of {', '.join(sorted(prefixes))}")
    canonical = prefixes.get(prefix.upper())
    if canonical is None:
        raise InvalidCode(field, given, "prefix", f"one of {', '.join(sorted(prefixes))}", prefix)
    local = local.strip()
    if canonical in ("ICD10CM", "ATC"):
        local = local.upper()
    pattern, expected = _SYNTAX[canonical]
    if not pattern.match(local):
        raise InvalidCode(field, given, "syntax", expected, local)
    if canonical == "SNOMEDCT" and not snomed_concept_id_valid(local):
        raise InvalidCode(field, given, "check-digit", "", local)
    return Code(given, f"{canonical}:{local}")
