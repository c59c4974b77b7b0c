"""Batches under bad bytes: every line of a JSON-lines batch gets exactly one record, in order, whatever it holds
(issue #14). One case per kind of bad line, then all of them mixed into 2,000 lines, in one process and in workers."""
from __future__ import annotations

import json
import random

import pytest

from hipkg.cli import main

GOOD = b'{"findings": ["ICD10CM:M16.11"]}'

#: kind -> (the line's bytes, a fragment its error record must hold; None: it is answered)
BAD_LINES: dict[str, tuple[bytes, str | None]] = {
    "invalid UTF-8": (b"\xff\xfe not utf-8", "not valid UTF-8 (byte 1 of the line)"),
    "invalid UTF-8 later in the line": (b'{"findings": ["\xc3\x28"]}', "not valid UTF-8 (byte 16 of the line)"),
    "nested 1,000 deep": (b"[" * 1000 + b"]" * 1000, "nested too deeply to read"),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply to read"),
    "a number of 5,000 digits": (b'{"findings": [' + b"1" * 5000 + b"]}", "a number too long to read"),
    "goal that is a list": (b'{"findings": ["ICD10CM:M16.11"], "goal": []}', "unknown goal []"),
    "blank": (b"", "blank line"),
    "only spaces": (b"   \t ", "blank line"),
    "JSON null": (b"null", "expected a JSON object"),
    "a number": (b"42", "expected a JSON object"),
    "findings as a string": (b'{"findings": "ICD10CM:M16.11"}', "'findings' must be a non-empty list"),
    "a code that is a number": (b'{"findings": [{"code": 5}]}', "5 is not a string"),
    "truncated JSON": (b'{"findings": ["ICD10CM:M16.11"]', "not valid JSON"),
    "a lone surrogate": (b'{"findings": ["\\ud800"]}', "is not a CURIE"),
    "a NUL in a code": (b'{"findings": ["ICD10CM:M16.11\\u0000"]}', "is malformed"),
    "a bare CR inside the line": (GOOD + b"\r" + GOOD, "not valid JSON"),
    "a 200 KB unknown key's value": (b'{"findings": ["ICD10CM:M16.11"], "x": "' + b"a" * 200_000 + b'"}', "unknown key 'x'"),
    "CRLF line end": (GOOD + b"\r", None),
}


def records(capsys: pytest.CaptureFixture[str], path, *flags: str) -> tuple[int, list[dict], str]:
    code = main(["recommend", "--batch", str(path), *flags])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.mark.parametrize("kind", BAD_LINES)
def test_a_bad_line_gets_one_record_in_its_place(kind, tmp_path, capsys):
    line, fragment = BAD_LINES[kind]
    path = tmp_path / "batch.jsonl"
    path.write_bytes(GOOD + b"\n" + line + b"\n" + GOOD + b"\n")
    code, out, err = records(capsys, path, "--on-error", "skip", "--jobs", "1")
    assert code == 0, err
    assert len(out) == 3 and "options" in out[0] and "options" in out[2]
    if fragment is None:
        assert "options" in out[1]
    else:
        assert out[1]["line"] == 2 and fragment in out[1]["error"], out[1]
        assert len(json.dumps(out[1])) < 600  # the echoed value is cut, not the 200 KB line


@pytest.mark.parametrize("kind", [k for k, (_, fragment) in BAD_LINES.items() if fragment])
def test_a_bad_line_stops_the_run_with_its_number(kind, tmp_path, capsys):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(GOOD + b"\n" + BAD_LINES[kind][0] + b"\n" + GOOD + b"\n")
    code, out, err = records(capsys, path, "--jobs", "1")
    assert code == 2 and len(out) == 1
    assert "batch.jsonl:2:" in err and "Traceback" not in err and len(err) < 600


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_two_thousand_mixed_lines_give_two_thousand_records_in_order(jobs, tmp_path, capsys):
    rng = random.Random(14)
    kinds = list(BAD_LINES)
    chosen = [None if rng.random() < 0.5 else rng.choice(kinds) for _ in range(2000)]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(GOOD if k is None else BAD_LINES[k][0] for k in chosen) + b"\n")
    code, out, err = records(capsys, path, "--on-error", "skip", "--jobs", jobs, "--chunk", "250")
    assert code == 0, err[-500:]
    assert len(out) == 2000
    for number, (kind, record) in enumerate(zip(chosen, out), start=1):
        fragment = None if kind is None else BAD_LINES[kind][1]
        if fragment is None:
            assert "options" in record, (number, kind)
        else:
            assert record["line"] == number and fragment in record["error"], (number, kind, record)


def test_a_line_longer_than_the_limit_is_not_read(tmp_path, capsys):
    path = tmp_path / "long.jsonl"
    long = b'{"findings": ["ICD10CM:M16.11"], "x": "' + b"a" * 5000 + b'"}'
    path.write_bytes(GOOD + b"\n" + long + b"\n" + GOOD + b"\n")
    code, out, err = records(capsys, path, "--on-error", "skip", "--jobs", "1", "--max-line-bytes", "1000")
    assert code == 0
    assert [r.get("line") for r in out] == [None, 2, None]
    assert "longer than 1,000 bytes" in out[1]["error"]


def test_the_last_line_needs_no_newline(tmp_path, capsys):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(GOOD + b"\n" + GOOD)
    code, out, _ = records(capsys, path, "--jobs", "1")
    assert code == 0 and len(out) == 2
