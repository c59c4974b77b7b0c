"""Batches: many situations answered chunk by chunk (one run of each query per chunk), in worker processes when
there is more than one chunk, written as JSON lines in input order.

A chunk is read, parsed, answered and serialised where it is answered, so that all of that runs in parallel; this
process only reads lines and copies the finished bytes out. Workers load the graph once (from the build cache) and
spool each chunk's answer (some 60 MB per 1,000 situations) to a file that this process copies to the output with
sendfile: sent back through the pool's pipe instead, the same bytes cost this process 18 s of system time per 100,000
situations, taken from the workers' two cores. With one chunk, or ``jobs=1``, nothing is started: the chunk is
answered in this process.
"""
from __future__ import annotations

import csv
import io
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator, NamedTuple

from rdflib import URIRef

from hipkg import situations
from hipkg.errors import HipkgError, InputError, Interrupted, InvalidSituation
from hipkg.fhir_in import FhirReader
from hipkg.recommending import LineWriter, Recommender, error_line, gcpause
from hipkg.store import Store, bundled_nquads, read_mappings
from hipkg.vocabulary import Vocabulary

if TYPE_CHECKING:
    from hipkg.situations import Situation


@dataclass(frozen=True)
class Chunk:
    """Situations to answer: ``lines`` of a batch file as (line number, JSON text or CSV row as a dict), or ``cases``,
    IRIs of situations the store holds. ``source`` names the file in messages; ``stop`` says whether the first bad
    situation ends the chunk (``--on-error fail``) or is written as an error line in its place (``skip``)."""

    source: str
    stop: bool
    lines: tuple[tuple[int, Any], ...] = ()
    cases: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.lines) + len(self.cases)

    @property
    def last_line(self) -> int:
        """The number of the chunk's last input line (0 for cases held in a store)."""
        return self.lines[-1][0] if self.lines else 0


class Answered(NamedTuple):
    data: bytes  # the JSON lines, UTF-8 (empty when spooled)
    skipped: tuple[str, ...]  # a message per bad situation written as an error line
    failed: str | None  # with stop: the message of the bad situation that ended the chunk (nothing after it is written)
    spooled: str | None = None  # the file holding the JSON lines instead, written by a worker


class Unreadable(NamedTuple):
    """A batch line that is no situation before it is even parsed (not UTF-8, blank, too long): it is answered with an
    error record in its place, like any bad situation."""

    problem: str


#: The longest line a JSON-lines batch reads as one situation (the --max-line-bytes default): 1 MiB.
MAX_LINE_BYTES = 1 << 20


def read_lines(path: str, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, Any]]:
    """(line number, situation as dict, raw text, or Unreadable) for every line of a .jsonl or .csv batch.

    A JSON-lines batch is read as bytes and split at "\\n" only (a "\\r" before it is dropped), so that every line,
    whatever its bytes, gets a number and exactly one record: a line that is not UTF-8, blank or longer than
    ``max_line_bytes`` comes back as Unreadable, and the next line keeps its own number."""
    if path.lower().endswith(".csv"):
        yield from _csv_lines(path)
        return
    try:
        stream = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read batch file ({exc.strerror})") from exc
    with stream:
        number = 0
        while True:
            line = stream.readline(max_line_bytes + 2)
            if not line:
                return
            number += 1
            if not line.endswith(b"\n") and len(line) > max_line_bytes:
                while line and not line.endswith(b"\n"):  # skip the rest of the long line, keeping memory bounded
                    line = stream.readline(max_line_bytes)
                yield number, Unreadable(f"line longer than {max_line_bytes:,} bytes (--max-line-bytes)")
                continue
            line = line[:-1] if line.endswith(b"\n") else line
            line = line[:-1] if line.endswith(b"\r") else line
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, Unreadable(f"not valid UTF-8 (byte {exc.start + 1} of the line)")
                continue
            yield number, (text if text.strip() else Unreadable("blank line; expected one JSON situation per line"))


def _csv_lines(path: str) -> Iterator[tuple[int, Any]]:
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read batch file ({exc.strerror})") from exc
    with stream:
        reader = csv.DictReader(stream)
        try:
            yield from _csv_rows(path, reader)
        except UnicodeDecodeError as exc:  # a CSV is decoded as a whole stream: name the place and stop, never a traceback
            raise InputError(f"{path}: not valid UTF-8; a CSV batch must be UTF-8 text (JSON lines are checked line by line, "
                             "each bad line answered in its place)") from exc


def _csv_rows(path: str, reader: csv.DictReader) -> Iterator[tuple[int, Any]]:
    missing = {"findings"} - set(reader.fieldnames or ())
    if missing:
        raise InputError(f"{path}: CSV header must name a 'findings' column (and optionally 'allergies', 'goal', 'policy'); got {reader.fieldnames}")
    for row in reader:
        data: dict[str, object] = {"findings": (row.get("findings") or "").replace(";", " ").split()}
        if (row.get("allergies") or "").strip():
            data["allergies"] = row["allergies"].replace(";", " ").split()
        for key in ("goal", "policy"):
            if (row.get(key) or "").strip():
                data[key] = row[key].strip()
        extra = sorted(k for k in row if k not in ("findings", "allergies", "goal", "policy"))
        if extra:
            data[extra[0]] = row[extra[0]]  # reported as an unknown key, like in JSON
        yield reader.line_num, data


def parse_line(vocabulary: Vocabulary, raw: Any, where: str, fhir: FhirReader | None = None) -> "Situation":
    """One situation of a batch file (JSON text, a CSV row as a dict, or Unreadable), or an InputError naming ``where``;
    with ``fhir``, a line may be a FHIR Bundle (one patient's resources) instead."""
    if isinstance(raw, Unreadable):
        raise InvalidSituation(f"{where}: {raw.problem}", raw.problem)
    if isinstance(raw, str):
        return situations.from_json(vocabulary, raw, where, fhir=fhir.situation if fhir is not None else None)
    return situations.from_dict(vocabulary, raw, where)


def answer_chunk(recommender: Recommender, chunk: Chunk, writer: LineWriter, fhir: FhirReader) -> Answered:
    """Parse, answer and serialise one chunk: an answer per situation; {"line": N, "error": ...} per bad line;
    {"case": IRI, ...} per situation held in the store, or {"case": IRI, "error": ...} when it cannot be answered.
    ``writer`` and ``fhir`` (a line may be a FHIR Bundle) live as long as the recommender, so that later chunks reuse
    the texts of earlier ones and the reader's tables. The collector
    is paused meanwhile, parsing and serialising included (hipkg.recommending.gcpause)."""
    with gcpause.paused():
        return _stored(recommender, chunk, writer) if chunk.cases else _lines(recommender, chunk, writer, fhir)


def _lines(recommender: Recommender, chunk: Chunk, writer: LineWriter, fhir: FhirReader) -> Answered:
    parsed: list[tuple[int, Any]] = []  # (line, Situation or error message)
    failed = None
    for number, raw in chunk.lines:
        where = f"{chunk.source}:{number}"
        try:
            parsed.append((number, parse_line(recommender.vocabulary, raw, where, fhir)))
        except InputError as exc:
            if chunk.stop:
                failed = str(exc)
                break
            parsed.append((number, str(exc)))
    answers = iter(recommender.recommend_many([item for _, item in parsed if not isinstance(item, str)]))
    lines = [error_line("line", number, item) if isinstance(item, str) else writer.line(next(answers)) for number, item in parsed]
    return Answered(_text(lines), tuple(item for _, item in parsed if isinstance(item, str)), failed)


def _text(lines: list[str]) -> bytes:
    """The chunk's lines as bytes, each ending in a newline: one join and one encoding (a chunk is tens of megabytes)."""
    lines.append("")
    return "\n".join(lines).encode("utf-8") if len(lines) > 1 else b""


def _stored(recommender: Recommender, chunk: Chunk, writer: LineWriter) -> Answered:
    out, skipped, failed = [], [], None
    for case, answer in recommender.recommend_stored([URIRef(c) for c in chunk.cases]):
        if isinstance(answer, str):
            if chunk.stop:
                failed = answer
                break
            skipped.append(answer)
            out.append(error_line("case", str(case), answer))
        else:
            out.append(writer.case_line(str(case), answer))
    return Answered(_text(out), tuple(skipped), failed)


_worker: Recommender | None = None
_writer = LineWriter()
_fhir: FhirReader | None = None


def _start_worker(engine: str, endpoint: str | None, update_endpoint: str | None) -> None:
    global _worker, _fhir
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops the workers
    mapping_set = read_mappings()
    _worker = Recommender(Store(bundled_nquads(mapping_set), mapping_set, engine, endpoint, update_endpoint))
    _fhir = FhirReader(_worker.store)
    gcpause.freeze()


def _work(chunk: Chunk, spool: str) -> Answered:
    if _worker is None or _fhir is None:
        raise HipkgError("a batch worker started without a graph")
    answered = answer_chunk(_worker, chunk, _writer, _fhir)
    with tempfile.NamedTemporaryFile(dir=spool, suffix=".jsonl", delete=False) as handle:
        handle.write(answered.data)
    return answered._replace(data=b"", spooled=handle.name)


def _copy(path: str, out: BinaryIO) -> None:
    """Copy a spooled chunk to ``out``: in the kernel (sendfile) when ``out`` is a file descriptor, else by reading."""
    with open(path, "rb") as source:
        try:
            target = out.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            target = None
        if target is not None:
            out.flush()
            size, sent = os.fstat(source.fileno()).st_size, 0
            try:
                while sent < size:
                    step = os.sendfile(target, source.fileno(), sent, size - sent)
                    if not step:
                        break
                    sent += step
            except OSError:
                pass  # an output sendfile cannot write to: copy the rest by reading
            source.seek(sent)
        shutil.copyfileobj(source, out, 1 << 20)
    os.unlink(path)


class Batch:
    """Collects situations, answers them a chunk at a time and writes each chunk's JSON lines to ``out`` in input order,
    then calls ``report(answered, situations)``, which may raise (for example on ``answered.failed``): nothing after
    that is written."""

    def __init__(self, recommender: Recommender, out: BinaryIO, report: Callable[[Answered, int], None], source: str, stop: bool,
                 chunk: int = 1000, jobs: int = 1) -> None:
        self.recommender, self.out, self.report, self.source, self.stop, self.chunk, self.jobs = recommender, out, report, source, stop, chunk, jobs
        self.writer = LineWriter()
        self.fhir = FhirReader(recommender.store)
        self.pending: list[Any] = []
        self.stored = False
        self.held: Chunk | None = None  # the first chunk, kept until a second one says workers are worth it
        self.running: deque[tuple[Future[Answered], Chunk]] = deque()
        self.pool: ProcessPoolExecutor | None = None
        self.spool: str | None = None
        self.last_line = 0  # the last input line whose record is written
        self._writing = False  # a chunk's records are being written: a signal waits (interrupt)
        self._pending: int | None = None

    def add_line(self, number: int, raw: Any) -> None:
        self._add((number, raw))

    def add_case(self, iri: str) -> None:
        self.stored = True
        self._add(iri)

    def _add(self, item: Any) -> None:
        self.pending.append(item)
        if len(self.pending) >= self.chunk:
            self._submit(self._take())

    def _take(self) -> Chunk:
        items, self.pending = tuple(self.pending), []
        return Chunk(self.source, self.stop, cases=items) if self.stored else Chunk(self.source, self.stop, lines=items)

    def close(self) -> None:
        """Answer and write everything added so far, then stop the workers."""
        try:
            if self.pending:
                self._submit(self._take())
            if self.held is not None:  # only ever one chunk: answer it here
                held, self.held = self.held, None
                self._emit(answer_chunk(self.recommender, held, self.writer, self.fhir), held)
            self._drain(0)
        finally:
            self.abort()

    def abort(self) -> None:
        """Stop the workers, cancelling the chunks not started, and remove the spool. The chunks under way are waited
        for (a chunk at most per worker): a worker still writing its spool file would otherwise leave it behind."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        if self.spool is not None:
            shutil.rmtree(self.spool, ignore_errors=True)
            self.spool = None

    def interrupt(self, signum: int, _frame: object = None) -> None:
        """A signal handler (SIGTERM, SIGINT): stop now with Interrupted, or, while a chunk's records are being
        written, once they are out, so that the output holds whole lines only."""
        if self._writing:
            self._pending = signum
            return
        raise Interrupted(signum, signal.Signals(signum).name, self.last_line)

    def _emit(self, answered: Answered, chunk: Chunk) -> None:
        self._writing = True
        try:
            if answered.spooled:
                _copy(answered.spooled, self.out)
            else:
                self.out.write(answered.data)
            self.out.flush()
            if answered.failed is None:
                self.last_line = chunk.last_line
        finally:
            self._writing = False
        if self._pending is not None:
            self.interrupt(self._pending)
        self.report(answered, len(chunk))

    def _submit(self, chunk: Chunk) -> None:
        if self.jobs <= 1:
            self._emit(answer_chunk(self.recommender, chunk, self.writer, self.fhir), chunk)
            return
        if self.pool is None and self.held is None:
            self.held = chunk
            return
        if self.pool is None:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            store = self.recommender.store
            engine = store.engine_name if store.endpoint is None else "oxigraph"
            self.spool = tempfile.mkdtemp(prefix="hipkg-batch-")
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_start_worker,
                                            initargs=(engine, store.endpoint, store.update_endpoint))
            held, self.held = self.held, None
            self.running.append((self.pool.submit(_work, held, self.spool), held))
        self.running.append((self.pool.submit(_work, chunk, self.spool), chunk))
        self._drain(2 * self.jobs)

    def _drain(self, keep: int) -> None:
        """Write finished chunks in order, waiting while more than ``keep`` are in flight (bounds memory and spool)."""
        while self.running and (len(self.running) > keep or self.running[0][0].done()):
            future, chunk = self.running.popleft()
            try:
                answered = future.result()
            except BrokenProcessPool as exc:
                raise HipkgError(f"a batch worker process ended unexpectedly ({exc}); the answers before its chunk were "
                                 "written. Run again with --jobs 1 to answer in one process") from None
            self._emit(answered, chunk)
