"""Typed errors: each carries the fields a caller needs, so the CLI (exit codes) and the server (HTTP statuses and
wordings that quote nothing the user sent) decide from the type and the fields, never from the message text.

``str(error)`` is the full message for a terminal: it names the bad value (cut to a bounded length). ``error.public``
is the wording for a reply to a remote caller: it says where the problem is and what is expected, without the value.
"""
from __future__ import annotations

from typing import Any, Sequence

#: The longest a message quotes any value the user gave.
SHOWN = 120


def shown(value: object) -> str:
    """``repr(value)``, cut to SHOWN characters: a message never copies a whole large input."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "\u2026"


class HipkgError(Exception):
    """Base class: something the user can act on, with a message that names it."""

    exit_code = 2

    @property
    def public(self) -> str:
        """The message without anything the user sent (subclasses that quote input override this)."""
        return str(self)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its fields, not by calling ``__init__`` again: errors cross from a query's child process."""
        return _rebuilt, (type(self), self.args, self.__dict__)


def _rebuilt(cls: type[HipkgError], args: tuple[Any, ...], fields: dict[str, Any]) -> HipkgError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(fields)
    return error


class Interrupted(HipkgError):
    """A batch stopped by SIGTERM or SIGINT after writing whole lines only: ``signal`` names it, ``last_line`` is the
    last input line whose record was written (0: none). Exit code 128 + the signal's number, as a shell reports it."""

    def __init__(self, signal: int, name: str, last_line: int) -> None:
        super().__init__(f"interrupted by {name}: the records of lines 1-{last_line} were written, whole; "
                         f"continue with --start-line {last_line + 1}" if last_line else
                         f"interrupted by {name} before any record was written")
        self.signal, self.name, self.last_line = signal, name, last_line
        self.exit_code = 128 + signal


class InputError(HipkgError):
    """Bad input (unreadable file, malformed code, unknown key): exit code 2."""


class InvalidSituation(InputError):
    """A situation that cannot be read: ``field`` (and ``index`` in a list) names the place, ``public`` says what is
    wrong and what is expected without quoting the value."""

    def __init__(self, message: str, public: str, field: str | None = None, index: int | None = None, problem: str = "") -> None:
        super().__init__(message)
        self.field, self.index, self._public = field, index, public
        self.problem = problem  # with an index: what is wrong with that item, e.g. "not a valid code: expected ..."

    @property
    def public(self) -> str:
        return self._public


class InvalidFhir(InvalidSituation):
    """FHIR input that cannot be read: ``resource`` names the resource (Condition/17, or its place, entry[3]) and
    ``element`` the element at fault (code.coding[0].code); ``public`` says what is wrong without the value."""

    def __init__(self, where: str, resource: str, element: str, problem: str) -> None:
        at = f"{resource}" + (f", {element}" if element else "")
        super().__init__(f"{where}: {at}: {problem}", f"FHIR {at}: {_unquoted(problem)}", field=element or None, problem=problem)
        self.resource, self.element = resource, element


def _unquoted(problem: str) -> str:
    """A problem's wording up to its first quoted value: what a remote caller is told."""
    return problem.split(" '", 1)[0].split(' "', 1)[0]


class InvalidCode(InputError):
    """A code that is not a well-formed CURIE of an accepted terminology.

    ``reason``: "type" (not a string), "curie" (no PREFIX:CODE), "prefix" (unknown prefix), "syntax" (malformed for
    its terminology) or "check-digit" (a SNOMED CT identifier whose check digit or partition fails)."""

    def __init__(self, field: str, value: object, reason: str, expected: str, local: str = "") -> None:
        self.field, self.value, self.reason, self.expected, self.local = field, value, reason, expected, local
        super().__init__(self._message())

    def _message(self) -> str:
        given = shown(self.value)
        if self.reason == "type":
            return f"{self.field}: {given} is not a string; expected {self.expected}"
        if self.reason == "curie":
            return f"{self.field}: {given} is not a CURIE; expected {self.expected}"
        if self.reason == "prefix":
            return f"{self.field}: unknown prefix {shown(self.local)} in {given}; expected {self.expected}"
        if self.reason == "syntax":
            return f"{self.field}: {shown(self.local)} in {given} is malformed; expected {self.expected}"
        return f"{self.field}: {shown(self.local)} in {given} is not a valid SNOMED CT concept identifier (check digit or partition fails)"

    @property
    def problem(self) -> str:
        """What is wrong, without the value."""
        if self.reason == "check-digit":
            return "not a valid SNOMED CT concept identifier (check digit or partition fails)"
        if self.reason in ("prefix", "syntax"):
            return f"expected {self.expected}"
        return "expected PREFIX:CODE such as ICD10CM:M16.11"


class QueryRefused(InputError):
    """A query that would write, fetch or reach out: ``kind`` is "update", "service" or "dataset" (FROM / FROM NAMED);
    ``operations`` names the update operations."""

    def __init__(self, name: str, kind: str, operations: Sequence[str] = ()) -> None:
        self.name, self.kind, self.operations = name, kind, tuple(operations)
        if kind == "update":
            message = f"{name}: updates are refused ({', '.join(self.operations)}); hipkg query only reads the graph"
        elif kind == "service":
            message = f"{name}: SERVICE is refused (it would query a remote endpoint); pass --allow-service to permit it"
        else:
            message = f"{name}: FROM / FROM NAMED are refused: hipkg query never fetches graphs and always runs on the bundled graph"
        super().__init__(message)


class QuerySyntaxError(InputError):
    """A query that does not parse: ``line`` and ``column`` where the parser stopped (None when it did not say)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.line, self.column = line, column

    @property
    def public(self) -> str:
        if self.line is None:
            return "the query cannot be parsed as SPARQL 1.1"
        return f"SPARQL syntax error at line {self.line}, column {self.column}"


class QueryFailed(InputError):
    """The engine could not evaluate a query (a type error, an unsupported feature, ...)."""

    def __init__(self, name: str, detail: str, cause: str = "") -> None:
        super().__init__(f"{name}: {detail}")
        self.name, self.detail, self.cause = name, detail, cause

    @property
    def public(self) -> str:
        return f"query evaluation failed ({self.cause or 'error'})"


class QueryTimeout(InputError):
    """Evaluation ran past ``seconds`` and was stopped."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(f"{name}: timed out after {seconds:g} s and was stopped (raise --timeout, or narrow the query)")
        self.name, self.seconds = name, seconds


class QueryMemoryExceeded(InputError):
    """Evaluation needed more memory than ``max_bytes`` and was stopped."""

    def __init__(self, name: str, max_bytes: int) -> None:
        super().__init__(f"{name}: stopped at the memory limit of {max_bytes / 2**20:,.0f} MiB "
                         "(raise --max-memory, or narrow the query: an ORDER BY or DISTINCT holds every row)")
        self.name, self.max_bytes = name, max_bytes


class ValidationStopped(InputError):
    """Validation ran past its deadline (``limit`` "time", ``value`` seconds) or its memory limit ("memory", bytes)."""

    def __init__(self, limit: str, value: float) -> None:
        if limit == "time":
            message = f"validation stopped after {value:g} s (raise --timeout, or validate fewer or smaller files)"
        else:
            message = f"validation stopped at the memory limit of {value / 2**20:,.0f} MiB (raise --max-memory, or validate fewer or smaller files)"
        super().__init__(message)
        self.limit, self.value = limit, value


class UnknownQuery(InputError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown query {shown(name)}; run 'hipkg queries' to list them")
        self.name = name


class ParameterError(InputError):
    """A library-query parameter that cannot be bound. ``kind``: "unknown" (no such parameter; ``known`` lists them),
    "columns" (wrong number of values in a row), "once" (a one-value parameter given more than once), "required",
    "value" (a value that is no RDF term of the kind the column takes)."""

    def __init__(self, message: str, key: str, kind: str, known: Sequence[str] = (), columns: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.key, self.kind, self.known, self.columns = key, kind, tuple(known), tuple(columns)


class UnknownName(InputError):
    """A value that is neither an IRI, a CURIE with a known prefix, nor the label of anything in the graph; ``key``
    names the parameter it was given for, if any."""

    def __init__(self, what: str, value: str, key: str | None = None, names_nothing: bool = False) -> None:
        super().__init__(f"{what}: {shown(value)} names nothing in the graph (no triple mentions it); check its spelling, or "
                         "give a label" if names_nothing else
                         f"{what}: {shown(value)} is not an IRI, a CURIE with a known prefix, or the label of anything in the graph")
        self.what, self.value, self.key, self.names_nothing = what, value, key, names_nothing


class AmbiguousName(InputError):
    """A label that names several things: ``candidates`` lists them as (CURIE, label)."""

    def __init__(self, what: str, value: str, candidates: Sequence[tuple[str, str]], key: str | None = None) -> None:
        listed = ", ".join(f"{c} ({label})" for c, label in candidates)
        super().__init__(f"{what}: the label {shown(value)} is ambiguous; use one of: {listed}")
        self.what, self.value, self.candidates, self.key = what, value, tuple(candidates), key


class EndpointError(HipkgError):
    """A remote server could not be reached or refused a request. ``url`` never holds credentials; ``status`` is the
    HTTP status (None when the server was not reached); ``committed``, for a push of situations, how many of them were
    stored, whole, before the failure."""

    def __init__(self, message: str, url: str, status: int | None = None, detail: str = "", committed: int | None = None) -> None:
        super().__init__(message)
        self.url, self.status, self.detail, self.committed = url, status, detail, committed


class InvalidCdm(InputError):
    """An OMOP CDM that cannot be read as hipkg needs it: ``table`` and ``column`` name the place, ``row`` the record
    (its id, or None for the table as a whole), ``person`` the person it belongs to, ``problem`` what is wrong."""

    def __init__(self, table: str, column: str | None, problem: str, row: object = None, person: object = None) -> None:
        place = f"{table}.{column}" if column else table
        record = f" (row {table}_id {shown(row)}" + (f", person {shown(person)})" if person is not None else ")") if row is not None else ""
        super().__init__(f"OMOP CDM {place}{record}: {problem}")
        self.table, self.column, self.problem, self.row, self.person = table, column, problem, row, person


class MissingExtra(HipkgError):
    """A feature whose package is not installed: ``package`` names it, ``extra`` the hipkg extra that installs it."""

    def __init__(self, feature: str, package: str, extra: str) -> None:
        super().__init__(f"{feature} needs the {package} package: pip install 'hipkg[{extra}]' (or pip install {package})")
        self.feature, self.package, self.extra = feature, package, extra
