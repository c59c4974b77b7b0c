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
import json
import multiprocessing
import os
import pickle
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
from hipkg.columnar import Columns, ParquetSink, arrow
from hipkg.errors import HipkgError, InputError, Interrupted, InvalidSituation, shown
from hipkg.fhir_in import FhirReader
from hipkg.recommending import LineWriter, Recommender, error_line, gcpause
from hipkg.store import Store, bundled_nquads, read_mappings
from hipkg.vocabulary import Vocabulary

if TYPE_CHECKING:
    from hipkg.situations import Situation


@dataclass(frozen=True)
class Chunk:
    """Situations to answer: ``lines`` of a batch file as (line number, JSON text or a CSV or Parquet row as a dict),
    or a cohort's persons as (person_id, the Situation read, or Unreadable), or ``cases``,
    IRIs of situations the store holds. ``source`` names the file in messages; ``stop`` says whether the first bad
    situation ends the chunk (``--on-error fail``) or is written as an error line in its place (``skip``)."""

    source: str
    stop: bool
    lines: tuple[tuple[int, Any], ...] = ()
    cases: tuple[str, ...] = ()
    columnar: bool = False  # answered as the tables of hipkg.columnar rather than JSON lines
    unit: str = ""  # what a line's number counts when it is no line of a file ("person": a cohort's person_id)

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
    spooled: str | None = None  # the file holding the JSON lines (or the pickled tables) instead, written by a worker
    tables: Any = None  # a columnar chunk: its per-case tables (hipkg.columnar.Columns.tables)


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
    if path.lower().endswith(".parquet"):
        yield from _parquet_lines(path)
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


def _parquet_lines(path: str) -> Iterator[tuple[int, Any]]:
    """The rows of a Parquet file of situations, numbered from 1: a column per situation key (``findings``, ...,
    nested lists and structs as JSON has them; a null is a key not given) and ``case``; or ``situation``, JSON text,
    with ``case``. Read a row group at a time."""
    arrow()
    import pyarrow.parquet as pq  # optional (hipkg[cohort]): imported where it is used

    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow: ArrowInvalid (a ValueError) for a file that is no Parquet
        raise InputError(f"{path}: cannot read Parquet batch file ({str(exc)[:200]})") from exc
    names = parquet.schema_arrow.names
    known = {"case", "situation", *situations.KEYS}
    unknown = [n for n in names if n not in known]
    if unknown or not names or ("situation" in names and set(names) - {"situation", "case"}):
        raise InputError(f"{path}: Parquet columns must be 'case' and either 'situation' (JSON text) or situation keys "
                         f"({', '.join(situations.KEYS)}); got {', '.join(names)[:300]}")
    number = 0
    for batch in parquet.iter_batches(batch_size=1000):
        for row in batch.to_pylist():
            number += 1
            yield number, row_situation(row)


def row_situation(row: dict[str, Any]) -> Any:
    """A row of a table of situations (Parquet, Spark) as a batch line: a dict of situation keys with its "case", from
    the keys' columns or from JSON text in ``situation``; Unreadable when ``situation`` holds no text."""
    if "situation" not in row:
        return _given(row)
    text = row.get("situation")
    if not isinstance(text, str):
        return Unreadable("no 'situation' text in this row")
    inner = _object(text)
    if inner is None:
        return text
    return {**inner, "case": row["case"]} if row.get("case") is not None else inner


def _given(value: Any) -> Any:
    """A Parquet row as JSON would give it: a null (a struct field or column the row leaves empty) is no key at all."""
    if isinstance(value, dict):
        return {k: _given(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_given(v) for v in value]
    return value


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
        raise InputError(f"{path}: CSV header must name a 'findings' column (and optionally 'allergies', 'goal', 'policy', 'case'); "
                         f"got {reader.fieldnames}")
    for row in reader:
        data: dict[str, object] = {"findings": (row.get("findings") or "").replace(";", " ").split()}
        if (row.get("allergies") or "").strip():
            data["allergies"] = row["allergies"].replace(";", " ").split()
        for key in ("goal", "policy", "case"):
            if (row.get(key) or "").strip():
                data[key] = row[key].strip()
        extra = sorted(k for k in row if k not in ("findings", "allergies", "goal", "policy", "case"))
        if extra:
            data[extra[0]] = row[extra[0]]  # reported as an unknown key, like in JSON
        yield reader.line_num, data


def parse_line(vocabulary: Vocabulary, raw: Any, where: str, fhir: FhirReader | None = None) -> tuple[str | None, "Situation"]:
    """One situation of a batch file (JSON text, a CSV or Parquet row as a dict, or Unreadable) with its "case" id when
    it gives one, or an InputError naming ``where``; with ``fhir``, a line may be a FHIR Bundle (one patient's
    resources, whose case is its line) instead."""
    if isinstance(raw, Unreadable):
        raise InvalidSituation(f"{where}: {raw.problem}", raw.problem)
    if isinstance(raw, situations.Situation):  # read already (a cohort's person, by hipkg.omop)
        return None, raw
    if isinstance(raw, str):
        data = _object(raw)
        if data is None or "case" not in data:
            return None, situations.from_json(vocabulary, raw, where, fhir=fhir.situation if fhir is not None else None)
        raw = data
    if isinstance(raw, dict) and "case" in raw:
        raw = dict(raw)
        case = raw.pop("case")
        if isinstance(case, bool) or not isinstance(case, (str, int)) or not str(case).strip() or len(str(case)) > MAX_CASE:
            raise InvalidSituation(f"{where}: \"case\" {shown(case)} is not a usable case id; expected a string or whole number of "
                                   f"at most {MAX_CASE} characters", "\"case\" is not a usable case id", field="case")
        return str(case), situations.from_dict(vocabulary, raw, where)
    return None, situations.from_dict(vocabulary, raw, where)


#: The longest case id a batch line may give.
MAX_CASE = 200


def _object(text: str) -> dict[str, Any] | None:
    """The JSON object a line holds, or None when it is no object (from_json then says what is wrong)."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def answer_chunk(recommender: Recommender, chunk: Chunk, writer: LineWriter, fhir: FhirReader, columns: Columns) -> Answered:
    """Parse, answer and serialise one chunk. As JSON lines: an answer per situation (with its "case" when the line
    gives one); {"line": N, "error": ...} per bad line; {"case": IRI, ...} per situation held in the store, or {"case":
    IRI, "error": ...} when it cannot be answered. In columns (``chunk.columnar``): the per-case tables of
    hipkg.columnar, an error in the case's row. ``writer``, ``columns`` and ``fhir`` (a line may be a FHIR Bundle) live
    as long as the recommender, so that later chunks reuse the texts of earlier ones and the reader's tables. The
    collector is paused meanwhile, parsing and serialising included (hipkg.recommending.gcpause)."""
    with gcpause.paused():
        items, failed = _stored(recommender, chunk) if chunk.cases else _lines(recommender, chunk, fhir)
        skipped = tuple(item for _, _, item in items if isinstance(item, str))
        if chunk.columnar:
            rows = [(case if case is not None else str(number), None if chunk.unit else number, item) for number, case, item in items]
            return Answered(b"", skipped, failed, tables=columns.tables(rows))
        if chunk.cases:
            lines = [error_line("case", case, item) if isinstance(item, str) else writer.case_line(case, item) for _, case, item in items]
        else:
            lines = [error_line("line", number, item) if isinstance(item, str) else
                     writer.line(item) if case is None else writer.case_line(case, item) for number, case, item in items]
        return Answered(_text(lines), skipped, failed)


#: What a chunk's situations come back as: (line number or 0, case id or None, the answer or the error message).
Items = list[tuple[int, "str | None", Any]]


def _lines(recommender: Recommender, chunk: Chunk, fhir: FhirReader) -> tuple[Items, str | None]:
    parsed: Items = []
    failed = None
    for number, raw in chunk.lines:
        where = f"{chunk.source} {chunk.unit} {number}" if chunk.unit else f"{chunk.source}:{number}"
        try:
            case, situation = parse_line(recommender.vocabulary, raw, where, fhir)
            parsed.append((number, case, situation))
        except InputError as exc:
            if chunk.stop:
                failed = str(exc)
                break
            parsed.append((number, _given_case(raw), str(exc)))
    answers = iter(recommender.recommend_many([item for _, _, item in parsed if not isinstance(item, str)]))
    return [(n, c, item if isinstance(item, str) else next(answers)) for n, c, item in parsed], failed


def _given_case(raw: Any) -> str | None:
    """The "case" id of a line that could not be read as a situation, when it gives a usable one (its error row keeps it)."""
    data = _object(raw) if isinstance(raw, str) else raw if isinstance(raw, dict) else None
    case = data.get("case") if data is not None else None
    return str(case) if isinstance(case, (str, int)) and not isinstance(case, bool) and 0 < len(str(case)) <= MAX_CASE else None


def _text(lines: list[str]) -> bytes:
    """The chunk's lines as bytes, each ending in a newline: one join and one encoding (a chunk is tens of megabytes)."""
    lines.append("")
    return "\n".join(lines).encode("utf-8") if len(lines) > 1 else b""


def _stored(recommender: Recommender, chunk: Chunk) -> tuple[Items, str | None]:
    out: Items = []
    for case, answer in recommender.recommend_stored([URIRef(c) for c in chunk.cases]):
        if isinstance(answer, str) and chunk.stop:
            return out, answer
        out.append((0, str(case), answer))
    return out, None


_worker: Recommender | None = None
_writer = LineWriter()
_columns = Columns()
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
    answered = answer_chunk(_worker, chunk, _writer, _fhir, _columns)
    with tempfile.NamedTemporaryFile(dir=spool, suffix=".pickle" if chunk.columnar else ".jsonl", delete=False) as handle:
        if chunk.columnar:
            pickle.dump(answered.tables, handle, protocol=5)  # Arrow tables pickle as their buffers
        else:
            handle.write(answered.data)
    return answered._replace(data=b"", spooled=handle.name, tables=None)


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


def _unspooled(path: str) -> Any:
    """The tables a worker spooled (pickled by _work), removing the file."""
    with open(path, "rb") as source:
        tables = pickle.load(source)
    os.unlink(path)
    return tables


class Batch:
    """Collects situations, answers them a chunk at a time and writes each chunk to ``out`` in input order (JSON lines
    to a binary stream, or tables to a hipkg.columnar.ParquetSink), then calls ``report(answered, situations)``, which
    may raise (for example on ``answered.failed``): nothing after that is written. ``unit`` names what the numbers
    of added lines count when they are no line numbers ("person")."""

    def __init__(self, recommender: Recommender, out: BinaryIO | ParquetSink, report: Callable[[Answered, int], None], source: str,
                 stop: bool, chunk: int = 1000, jobs: int = 1, unit: str = "") -> None:
        self.recommender, self.out, self.report, self.source, self.stop, self.chunk, self.jobs = recommender, out, report, source, stop, chunk, jobs
        self.unit = unit
        self.writer = LineWriter()
        self.columns = Columns()
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
        columnar = isinstance(self.out, ParquetSink)
        if self.stored:
            return Chunk(self.source, self.stop, cases=items, columnar=columnar)
        return Chunk(self.source, self.stop, lines=items, columnar=columnar, unit=self.unit)

    def close(self) -> None:
        """Answer and write everything added so far, then stop the workers."""
        try:
            if self.pending:
                self._submit(self._take())
            if self.held is not None:  # only ever one chunk: answer it here
                held, self.held = self.held, None
                self._emit(answer_chunk(self.recommender, held, self.writer, self.fhir, self.columns), held)
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
            if isinstance(self.out, ParquetSink):
                self.out.write(_unspooled(answered.spooled) if answered.spooled else answered.tables)
            elif answered.spooled:
                _copy(answered.spooled, self.out)
                self.out.flush()
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
            self._emit(answer_chunk(self.recommender, chunk, self.writer, self.fhir, self.columns), chunk)
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
