"""Batches and the fast path: workers give the same bytes, situations come and go from the store, the status memo and
the JSON-lines writer change nothing, and the status rule reads the same as recommend/effects."""
from __future__ import annotations

import gc
import json

import pytest
from rdflib import URIRef

from conftest import EXAMPLES
from hipkg.cli import main
from hipkg.recommending import LineWriter, gcpause, json_lines

NAMES = sorted(p.stem for p in EXAMPLES.glob("*.json") if not p.name.endswith(".expected.json"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture()
def batch_file(tmp_path):
    """Every example, with a bad line third from the end."""
    lines = [json.dumps(example(n)) for n in NAMES]
    lines.insert(len(lines) - 2, '{"findings": ["ICD10CM:M16.ZZ!"]}')
    path = tmp_path / "all.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, len(lines) - 2  # the bad line's number


@pytest.fixture()
def spool_root(tmp_path, monkeypatch):
    """Where the workers' spool directory goes, to check that nothing is left behind."""
    import tempfile

    root = tmp_path / "spool-root"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def test_workers_write_the_same_bytes_as_one_process(batch_file, spool_root, capsys):
    path, _ = batch_file
    one = run(capsys, "recommend", "--batch", str(path), "--on-error", "skip", "--jobs", "1")
    two = run(capsys, "recommend", "--batch", str(path), "--on-error", "skip", "--jobs", "2", "--chunk", "4")
    assert one[0] == two[0] == 0
    assert one[1] == two[1]
    assert len(one[1].splitlines()) == len(NAMES) + 1
    assert not list(spool_root.glob("hipkg-batch-*"))  # (multiprocessing keeps its own pymp-* there)


def test_workers_stop_at_a_bad_line_after_writing_what_came_before(batch_file, spool_root, capsys):
    path, bad = batch_file
    code, out, err = run(capsys, "recommend", "--batch", str(path), "--jobs", "2", "--chunk", "3")
    assert code == 2 and f"all.jsonl:{bad}" in err and "M16.ZZ!" in err
    assert len(out.splitlines()) == bad - 1
    assert not list(spool_root.glob("hipkg-batch-*"))  # (multiprocessing keeps its own pymp-* there)


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_jobs_and_chunk_must_be_positive_whole_numbers(value, capsys):
    for option in ("--jobs", "--chunk"):
        with pytest.raises(SystemExit) as exit_:
            main(["recommend", "--batch", "x.jsonl", option, value])
        assert exit_.value.code == 2 and repr(value) in capsys.readouterr().err


@pytest.mark.parametrize("name", NAMES)
def test_json_line_is_the_answer_as_json(kg, name):
    answer = kg.recommend(example(name))
    assert next(json_lines([answer])) == json.dumps(answer.to_json())


def test_a_writer_kept_across_chunks_writes_the_same_lines_when_it_forgets(kg, monkeypatch):
    """A batch keeps one LineWriter for every chunk; once its texts pass LIMIT it forgets them, and writes the same."""
    answers = kg.recommend_many([example(n) for n in NAMES] * 2)
    monkeypatch.setattr(LineWriter, "LIMIT", 50_000)  # a few answers' texts: it forgets several times over
    writer = LineWriter()
    assert [writer.line(a) for a in answers] == [json.dumps(a.to_json()) for a in answers]
    assert writer._held <= LineWriter.LIMIT + max(len(json.dumps(a.to_json())) for a in answers)


@pytest.mark.parametrize("on", [True, False])
def test_the_collector_pause_restores_what_it_found(on):
    """hipkg.recommending.gcpause: paused inside a batch, and left off for an application that turned it off."""
    was = gc.isenabled()
    (gc.enable if on else gc.disable)()
    try:
        with gcpause.paused():
            assert not gc.isenabled()
            with gcpause.paused():  # nested, as recommend --batch around recommend_many
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled() is on
    finally:
        (gc.enable if was else gc.disable)()


def test_situations_leave_the_store_as_they_came(kg):
    store = kg.engine.store
    before = len(store)
    kg.recommend_many([kg.situation(example(n)) for n in NAMES])
    assert len(store) == before
    triples = kg.situation(example(NAMES[0])).triples(URIRef("urn:example:held"), kg.vocabulary.purposes["therapeutic"])
    with pytest.raises(RuntimeError):
        with kg.engine.hold(triples):
            assert len(store) == before + len(triples)
            raise RuntimeError("the situations still leave")
    assert len(store) == before


def test_rebuilding_the_store_keeps_every_answer(monkeypatch):
    from hipkg.graph import KnowledgeGraph
    from hipkg.store import bundled_nquads, read_mappings as _read_mappings

    mappings = _read_mappings()
    fresh = KnowledgeGraph(bundled_nquads(mappings), mappings)
    expected = [fresh.recommend(example(n)).to_json() for n in NAMES]
    monkeypatch.setattr(fresh.engine, "REBUILD_AFTER", 1)
    first = fresh.engine.store
    assert [fresh.recommend(example(n)).to_json() for n in NAMES] == expected
    assert fresh.engine.store is not first and fresh.engine.removed == 0
    assert len(fresh.engine.store) == len(first)


def test_threads_share_one_graph_while_the_store_is_rebuilt(monkeypatch):
    """A rebuild waits until no request has situations in the store: none loses its situations half-way."""
    from concurrent.futures import ThreadPoolExecutor

    from hipkg.graph import KnowledgeGraph
    from hipkg.store import bundled_nquads, read_mappings as _read_mappings

    mappings = _read_mappings()
    shared = KnowledgeGraph(bundled_nquads(mappings), mappings)
    expected = {n: shared.recommend(example(n)).to_json() for n in NAMES}
    monkeypatch.setattr(shared.engine, "REBUILD_AFTER", 1)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: (n, shared.recommend(example(n)).to_json()), NAMES * 4))
    assert all(answer == expected[n] for n, answer in answers)
    assert shared.engine.holding == 0


def test_status_is_asked_once_per_rules_and_goal(kg, monkeypatch):

    situation = kg.situation({"findings": ["ICD10CM:M16.12", "ICD10CM:E11.65"], "allergies": ["RXNORM:6387"]})
    first = kg.recommend(situation)
    asked = []
    query = kg.query
    monkeypatch.setattr(kg, "query", lambda name, **kw: asked.append(name) or query(name, **kw))
    assert kg.recommend(situation) == first
    assert "recommend/status" not in asked
    kg.recommender.statuses.clear()
    assert kg.recommend(situation) == first
    assert "recommend/status" in asked


def test_situations_with_the_same_codes_and_goal_share_their_options(kg):

    first = kg.recommend({"findings": ["ICD10CM:M16.12", "ICD10CM:E11.65"]})
    second = kg.recommend({"findings": ["ICD10CM:E11.65", "ICD10CM:M16.12"]})
    assert second.options is first.options
    kg.recommender.option_sets.clear()
    kg.recommender.statuses.clear()
    assert kg.recommend({"findings": ["ICD10CM:M16.12", "ICD10CM:E11.65"]}) == first


@pytest.mark.parametrize("name", NAMES)
def test_status_follows_the_documented_rule_from_the_effects(kg, name):
    """recommend/status against its description, applied here to recommend/effects: not-indicated without an
    indication; otherwise avoid with a contraindication; otherwise check with an open check; otherwise caution with a
    caution; otherwise fits. A reason of kind guideline stands for its severity."""
    answer = kg.recommend(example(name))
    for option in answer.options:
        kinds = {{"avoid": "contraindication"}.get(r.severity, r.severity) if r.kind == "guideline" else r.kind for r in option.reasons}
        expected = ("not-indicated" if "indication" not in kinds else "avoid" if "contraindication" in kinds
                    else "check" if "check" in kinds else "caution" if "caution" in kinds else "fits")
        assert option.status == expected, option.id
    assert [kg.vocabulary.status_order.index(o.status) for o in answer.options] == sorted(kg.vocabulary.status_order.index(o.status) for o in answer.options)


def test_reached_gives_the_same_rows_with_and_without_candidates(kg):
    """The bound candidates (hipkg.codes.candidates) only turn the FILTER's scan into lookups: same rows either way."""
    from hipkg.codes import candidates

    held = [kg.situation(example(n)) for n in NAMES]
    codes = sorted({c.curie for s in held
                    for c in (*s.findings, *s.suspected, *s.absent, *s.allergies, *s.medications, *(p.code for p in s.procedures))})
    bound = [(code, kg.mapping_set.expand(c)) for code in codes for c in candidates(code)]
    fast = kg.query("recommend/reached", candidates=bound).rows
    scan = kg.query("recommend/reached", codes=codes).rows
    assert fast and sorted(fast) == sorted(scan)


def test_what_a_code_reaches_is_asked_once_per_process(kg, monkeypatch):
    """The code memo: a second batch with the same codes asks recommend/reached nothing."""
    first = kg.recommend_many([kg.situation(example(n)) for n in NAMES])
    asked = []
    store = kg.recommender.store
    run = store.query
    monkeypatch.setattr(store, "query", lambda name, **kw: (asked.append(name), run(name, **kw))[1])
    again = kg.recommend_many([kg.situation(example(n)) for n in NAMES])
    assert "recommend/reached" not in asked
    assert [a.to_json() for a in again] == [a.to_json() for a in first]


def test_query_engine_option_gives_the_same_answer(capsys):
    args = ("query", "knowledge/contraindications", "--format", "csv")
    oxigraph = run(capsys, *args)
    rdflib = run(capsys, *args, "--engine", "rdflib")
    assert oxigraph[0] == rdflib[0] == 0
    assert sorted(oxigraph[1].splitlines()) == sorted(rdflib[1].splitlines())


def test_push_situations_checks_every_line_before_sending(batch_file, capsys):
    path, bad = batch_file
    code, _, err = run(capsys, "push", "--endpoint", "http://127.0.0.1:9/store", "--situations", str(path))
    assert code == 2 and f"all.jsonl:{bad}" in err and "cannot reach" not in err
    code, _, err = run(capsys, "push", "--endpoint", "http://127.0.0.1:9/store", "--base", "urn:x:")
    assert code == 2 and "--situations" in err
