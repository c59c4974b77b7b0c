"""Fuzzed situations (issue #14): 300 through the Python API and 30 through the CLI, built from valid, malformed and
odd values of every field. Each is answered or refused with a typed error: no traceback, and nothing given is
silently dropped (every code given comes back, recognised or under "unrecognized")."""
from __future__ import annotations

import json
import random

import pytest

import hipkg
from hipkg.cli import main
from hipkg.errors import InputError

CODES = ["ICD10CM:M16.11", "ICD10CM:M16.12", "ICD10CM:Z96.641", "ICD10CM:E11.9", "ICD10CM:R50.9", "ICD10CM:A41.9",
         "SNOMEDCT:239872002", "SNOMEDCT:52734007", "hipkg:SepticArthritis", "hipkg:Fever", "RXNORM:6387", "RXNORM:11289",
         "ICD10CM:Q99.9", "SNOMEDCT:1", "LOINC:4548-4", "M16.11", "ICD10CM:", "", " ", "hipkg:", "ICD10CM:M16.ZZ!"]
ODD = [None, True, 0, -1, 3.5, 1e308, "x" * 300, "\u0000", "\ud800", [], {}, [[]], {"code": None}, "2026-02-30", "\\u0022"]
DATES = ["2026-12-01", "2026-11-30", "2027-01-15", "2025-01-01", "1 Dec", "2026-13-01", ""]


def value(rng: random.Random, pool: list[str] | None = None) -> object:
    if rng.random() < 0.02:
        return rng.choice(ODD)
    return rng.choice(pool or CODES[:10]) if rng.random() < 0.9 else rng.choice(CODES[10:])


def finding(rng: random.Random) -> object:
    if rng.random() < 0.6:
        return value(rng)
    item = {"code": value(rng)}
    for key, options in (("certainty", ["confirmed", "suspected", "absent"] * 10 + ["maybe", 1]), ("date", ["2026-11-30", "2025-01-01"] * 8 + DATES)):
        if rng.random() < 0.5:
            item[key] = rng.choice(options)
    return item


def situation(rng: random.Random) -> object:
    if rng.random() < 0.05:
        return rng.choice(ODD)
    data: dict = {}
    if rng.random() < 0.95:
        data["findings"] = [finding(rng) for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4]))]
    if rng.random() < 0.4:
        data["allergies"] = [value(rng, ["RXNORM:6387", "RXNORM:6902", "hipkg:LocalAnesthetic"]) for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.3:
        data["medications"] = [value(rng, ["RXNORM:11289", "ATC:B01AA03"]) for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.15:
        data["observations"] = [{"code": rng.choice(["LOINC:4548-4", "LOINC:8310-5", "LOINC:1-8", 5]),
                                 "value": rng.choice([9.1, 38.6, "high", None, 1e400]), "unit": rng.choice(["%", "Cel", "mmol/mol", "K", None]),
                                 "date": rng.choice(DATES)} for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.15:
        data["procedures"] = [{"code": value(rng, ["SNOMEDCT:52734007", "SNOMEDCT:443435007"]), "date": rng.choice(DATES), "planned": rng.choice([True, False, "yes"])}
                              for _ in range(rng.randint(0, 2))]
    if rng.random() < 0.1:
        data["injections"] = [{"date": rng.choice(DATES), "target": rng.choice(["intra-articular", "knee", 3]),
                               "medications": [rng.choice(["corticosteroid", "water"])]}]
    if rng.random() < 0.3:
        data["date"] = rng.choice(["2026-12-01"] * 6 + DATES + [None, 20261201])
    if rng.random() < 0.2:
        data["goal"] = rng.choice(["therapeutic", "diagnostic-and-therapeutic", "cosmetic", [], None])
    if rng.random() < 0.05:
        data[rng.choice(["entry", "Findings", "x"])] = 1
    return data


def given_codes(data: dict) -> list[str]:
    out = []
    for key in ("findings", "allergies", "medications"):
        for item in data.get(key, []):
            out.append(item["code"] if isinstance(item, dict) else item)
    out += [p["code"] for p in data.get("procedures", [])]
    return out


@pytest.fixture(scope="module")
def kg():
    return hipkg.load()


def test_three_hundred_fuzzed_situations_through_the_api(kg):
    rng = random.Random(1401)
    answered = refused = 0
    for _ in range(300):
        data = situation(rng)
        try:
            answer = kg.recommend(data).to_json()
        except InputError as exc:
            assert str(exc) and len(str(exc)) < 1000
            refused += 1
            continue
        answered += 1
        head = answer["situation"]
        back = {c["code"] for key in ("findings", "allergies", "medications") for c in head.get(key, [])}
        back |= {p["code"] for p in head.get("procedures", [])}
        for code in given_codes(data):  # normalised forms may differ in case or spacing; each is accounted for
            assert any(code.strip().upper() == b.upper() for b in back) or code in answer["unrecognized"], (code, data)
        assert answer["options"] and answer["disclaimer"]
    assert answered >= 50 and refused >= 50  # both paths were exercised


def test_thirty_fuzzed_situations_through_the_cli(tmp_path, capsys):
    rng = random.Random(1402)
    for i in range(30):
        path = tmp_path / f"s{i}.json"
        path.write_text(json.dumps(situation(rng)))
        code = main(["recommend", str(path), "--format", "json"])
        out, err = capsys.readouterr()
        assert code in (0, 2), err
        assert "Traceback" not in err
        if code == 0:
            assert json.loads(out)["options"]
        else:
            assert err.startswith("hipkg: error: ") and len(err) < 1000
