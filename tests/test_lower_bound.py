"""bench/lower_bound.py is a lower bound for the same work only while it gives the same answers: statuses, reasons,
advice and open checks agree with hipkg on generated situations (a regression test: it once missed an indication's
own-purpose rule and a concept's advice, and bench/run.py reported 973/1000)."""
from __future__ import annotations

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

from lower_bound import Rules  # noqa: E402 - bench/ is not a package
from run import generate  # noqa: E402

import hipkg  # noqa: E402
from hipkg.namespaces import curie  # noqa: E402
from hipkg.situations import from_dict  # noqa: E402


@pytest.fixture(scope="module")
def kg():
    return hipkg.load()


@pytest.mark.parametrize("seed", [0, 1])
def test_the_lower_bound_agrees_with_hipkg(kg, seed):
    rules = Rules(kg)
    goals = {k: str(v) for k, v in kg.vocabulary.purposes.items()}
    for data in generate(kg, 400, seed=seed):
        s = from_dict(kg.vocabulary, data)
        answer = kg.recommend(s)
        status, reasons, advice, checks = rules.evaluate(s, goals[s.goal])
        assert {o.id: o.status for o in answer.options} == {curie(k): v for k, v in status.items()}, data
        assert ({(o.id, r.id, r.kind, r.because, r.rule) for o in answer.options for r in o.reasons}
                == {(curie(o), curie(r), k, b, curie(a) if a else None) for o, r, k, b, a in reasons}), data
        assert {a.id: set(a.because) for a in answer.advice} == {curie(k): v for k, v in advice.items()}, data
        assert {(q.check, q.id, b) for q in answer.questions for b in q.because} == {(curie(c), curie(r), b) for c, r, b in checks}, data
