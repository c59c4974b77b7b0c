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
    "a lone surrogate": (b'{"findings": ["\\ud800"]}', "is neither a code"),
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


# ---------------------------------------------------------------------------------------------- signals


def _interrupted_batch(tmp_path, sig: int, lines: int = 3000):
    """A batch in its own session, sent ``sig`` once its first records are out: (exit code, stdout, stderr, spool root,
    session id)."""
    import os
    import subprocess
    import sys
    import time

    path = tmp_path / "many.jsonl"
    codes = [b"ICD10CM:M16.11", b"ICD10CM:M16.12", b"ICD10CM:M70.61", b"ICD10CM:E11.9", b"ICD10CM:Z79.01", b"ICD10CM:R50.9"]
    path.write_bytes(b"".join(b'{"findings": ["%s", "%s"]}\n' % (codes[i % 6], codes[(i * 7 + 1) % 6]) for i in range(lines)))
    spool = tmp_path / "tmp"
    spool.mkdir()
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "hipkg", "recommend", "--batch", str(path), "--chunk", "100", "--jobs", "2"],
                                stdout=handle, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(spool)}, start_new_session=True)
        deadline = time.monotonic() + 60
        while out.stat().st_size == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    return proc.returncode, out.read_bytes(), err.decode(), spool, proc.pid, path


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_leaves_whole_lines_no_spool_and_no_process(sig, tmp_path, capsys):
    import os
    import re
    import signal
    import time

    number = getattr(signal, sig)
    code, out, err, spool, session, path = _interrupted_batch(tmp_path, number)
    if code == 0:
        pytest.skip("the batch finished before the signal came")  # a very fast machine; the assertions need an interruption
    assert code == 128 + number, err
    records = [json.loads(line) for line in out.splitlines()]  # every line whole
    said = re.search(r"lines 1-(\d+) were written, whole; continue with --start-line (\d+)", err)
    assert said and int(said.group(1)) == len(records) and int(said.group(2)) == len(records) + 1, err
    assert not list(spool.glob("hipkg-batch-*"))
    for _ in range(50):  # the workers and the fork server end with the batch
        try:
            os.killpg(session, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("processes of the interrupted batch are still running")
    # and the batch continues where it stopped: both parts together are the whole run
    assert main(["recommend", "--batch", str(path), "--start-line", said.group(2), "--jobs", "1"]) == 0
    rest = capsys.readouterr().out.splitlines()
    assert len(records) + len(rest) == 3000
    assert main(["recommend", "--batch", str(path), "--jobs", "1"]) == 0
    assert out.decode().splitlines() + rest == capsys.readouterr().out.splitlines()


def _session_processes(session: int) -> list[int]:
    import os

    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == session:
                    found.append(int(entry))
            except (ProcessLookupError, PermissionError):
                pass
    return found


@pytest.mark.parametrize("command", ["query", "validate"])
def test_sigterm_leaves_no_evaluation_running(tmp_path, command):
    """hipkg query and hipkg validate work in a child process (hipkg.isolation, for the time and memory limits);
    SIGTERM to hipkg stops the child too, and reaps it."""
    import signal
    import subprocess
    import sys
    import time

    if command == "query":
        slow = tmp_path / "slow.rq"
        slow.write_text("SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }\n")
        argv = ["query", "--file", str(slow), "--timeout", "120"]
    else:  # a long RDF collection: minutes to read and validate
        slow = tmp_path / "slow.ttl"
        slow.write_text("@prefix ex: <http://example.org/> .\nex:s ex:p (" + " ".join(map(str, range(700_000))) + ") .\n")
        argv = ["validate", str(slow), "--timeout", "120"]
    proc = subprocess.Popen([sys.executable, "-m", "hipkg", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(_session_processes(proc.pid)) < 2 and time.monotonic() < deadline:  # the evaluation child has started
        time.sleep(0.05)
    assert len(_session_processes(proc.pid)) >= 2
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    for _ in range(50):
        if not _session_processes(proc.pid):
            break
        time.sleep(0.1)
    assert not _session_processes(proc.pid), f"the child outlived hipkg {command}"


def test_sigterm_right_after_the_fork_still_stops_the_child(tmp_path):
    """Regression (CI, 2026-12-01): a SIGTERM arriving between the fork and the handler's installation ended the
    parent and left the child running. Here the signal is sent at exactly that moment, every time."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "race.py"
    script.write_text(
        "import multiprocessing.process, os, signal, time\n"
        "from hipkg import isolation\n"
        "start = multiprocessing.process.BaseProcess.start\n"
        "def start_then_term(self):\n"
        "    start(self)\n"
        "    print(self.pid, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "multiprocessing.process.BaseProcess.start = start_then_term\n"
        "isolation.run(lambda: time.sleep(60), timeout=60, max_memory=None, timed_out=RuntimeError,\n"
        "              out_of_memory=RuntimeError, failed=lambda *a: RuntimeError())\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == -15, done.stderr[-2000:]
    child = int(done.stdout.split()[0])
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z", "the child outlived its parent"


def test_a_csv_batch_that_is_not_utf8_is_refused_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"findings,allergies\nICD10CM:M16.11,\n\xff\xfe,\n")
    assert main(["recommend", "--batch", str(path), "--on-error", "skip"]) == 2
    err = capsys.readouterr().err
    assert "not valid UTF-8" in err and "Traceback" not in err
