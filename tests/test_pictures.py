"""#17: the option matrix as SVG (hipkg.matrix), the answer read by rule (hipkg.report) and the HTML report."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from conftest import EXAMPLES
from hipkg.cli import main
from hipkg.report import by_rule

CASES = ("osteoarthritis-diabetes-hyperglycaemia", "osteoarthritis-lidocaine-allergy", "v2-everything", "septic-arthritis",
         "guidelines-hip-osteoarthritis")


def run(capsys, name: str, fmt: str) -> str:
    assert main(["recommend", str(EXAMPLES / f"{name}.json"), "--format", fmt]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", CASES)
def test_svg_parses_and_has_one_labelled_cell_per_option(kg, capsys, name) -> None:
    root = ET.fromstring(run(capsys, name, "svg"))
    cells = [el for el in root.iter() if el.get("aria-label") is not None]
    answer = kg.recommend(json.loads((EXAMPLES / f"{name}.json").read_text())).to_json()
    assert len(cells) == len(answer["options"])
    named = {c.get("aria-label").split(": ", 1)[1].split(" \u2014 ")[0] for c in cells}
    assert named == {o["status"] for o in answer["options"]}  # each cell says its status in words, not only by colour


@pytest.mark.parametrize("name", CASES)
def test_html_report_is_self_contained_with_each_quote_and_the_disclaimer_once(capsys, name) -> None:
    page = run(capsys, name, "html")
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert not re.search(r'(src|href)="(https?:|/)', page), "the report refers to something outside itself"
    assert page.count("Clinical disclaimer") == 1
    quotes = re.findall(r'<blockquote class="quote"><p>(.*?)</p>', page)
    assert quotes and len(quotes) == len(set(quotes))


@pytest.mark.parametrize("name", CASES)
def test_each_rule_is_read_once_with_every_option_it_concerns(kg, name) -> None:
    answer = kg.recommend(json.loads((EXAMPLES / f"{name}.json").read_text())).to_json()
    rules = by_rule(answer)
    assert len({(r.kind, r.id) for r in rules}) == len(rules)
    for rule in rules:
        concerned = {o["id"] for o in answer["options"] if any((x["kind"], x["id"]) == (rule.kind, rule.id) for x in o["reasons"])}
        assert set(rule.options) == concerned
    kinds = [r.kind for r in rules]
    assert kinds == sorted(kinds, key=["check", "contraindication", "guideline", "caution", "indication"].index)


def test_batch_refuses_pictures(capsys) -> None:
    assert main(["recommend", "--batch", "x.jsonl", "--format", "svg"]) == 2
    assert "--format svg is for one situation" in capsys.readouterr().err
