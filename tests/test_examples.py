"""Examples that are tests: examples/NAME.json in, the statuses (and guideline verdicts) of examples/NAME.expected.json out."""
from __future__ import annotations

import json
import pytest

from conftest import EXAMPLES
from hipkg.cli import main

CASES = sorted(p.name[: -len(".expected.json")] for p in EXAMPLES.glob("*.expected.json"))


def matches(option: dict, where: dict) -> bool:
    cats = option["medication_categories"]
    return (
        all(option[k] == v for k, v in where.items() if k in ("target", "guidance", "purpose"))
        and ("includes" not in where or where["includes"] in cats)
        and ("excludes" not in where or where["excludes"] not in cats)
        and ("medication" not in where or cats == [where["medication"]])
    )


def answer(name: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["recommend", str(EXAMPLES / f"{name}.json"), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_there_are_at_least_twelve_examples() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("name", CASES)
def test_example(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = json.loads((EXAMPLES / f"{name}.expected.json").read_text())
    result = answer(name, capsys)
    for check in expected["options"]:
        chosen = [o for o in result["options"] if matches(o, check["where"])]
        assert chosen, f"no option matches {check['where']}"
        for key, value in (("status", lambda o: o["status"]), ("verdict", lambda o: o["guidelines"]["verdict"])):
            if key not in check:
                continue
            ok = [value(o) in check[key] for o in chosen]
            if check["quantifier"] == "all":
                assert all(ok), [(o["id"], value(o)) for o in chosen if value(o) not in check[key]]
            elif check["quantifier"] == "some":
                assert any(ok), sorted({value(o) for o in chosen})
            else:
                assert not any(ok), [o["id"] for o in chosen if value(o) in check[key]]
    advice_ids = {a["id"] for a in result["advice"]}
    assert set(expected.get("advice", [])) <= advice_ids
    assert result["unrecognized"] == expected.get("unrecognized", [])
    asked = {q["check"] for q in result["questions"]}
    assert set(expected.get("questions", [])) == asked, sorted(asked)
    assert set(expected.get("rules", [])) <= {r["id"] for r in result["rules"]}
    listed = {r["id"] for o in result["options"] for r in o["guidelines"]["recommendations"]}
    assert set(expected.get("recommendations", [])) <= listed, sorted(listed)
