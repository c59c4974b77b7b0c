"""The query library: documented .rq files in queries/, parsed once, run with bound values.

Each .rq starts with a comment header that tools can read::

    # summary: One line saying what the query answers.
    # description: Optional longer text (may repeat).
    # param: NAME ?var:iri [?var2:literal ...] [one|optional|many(, default=CURIE)] - what it is
    # example: hipkg query NAME --param NAME=hipkg:Something
    # layout: records          (optional: how `hipkg query` shows it by default; table otherwise)

and, for every parameter, one or more ``VALUES`` blocks in its body whose rows are ``UNDEF``
(so the file runs unchanged anywhere, meaning "any value"). Binding replaces those rows with
RDF terms that were validated and serialised by rdflib; user text is never pasted into a query.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from rdflib import BNode, Literal, URIRef
from rdflib.term import Node

from hipkg.errors import InputError, ParameterError, UnknownQuery, shown
from hipkg.namespaces import PREFIXES
from hipkg.resources import queries_dir, relative_name, walk
from hipkg.results import Result

if TYPE_CHECKING:
    from hipkg.engines import Engine

_PARAM = re.compile(
    r"^#\s*param:\s*(?P<name>[A-Za-z_]\w*)\s+(?P<cols>(?:\?\w+:(?:iri|literal)\s*)+)"
    r"\[(?P<card>one|optional|many)(?:,\s*default=(?P<default>\S+))?\]\s*-\s*(?P<doc>.*)$"
)
_FIELD = re.compile(r"^#\s*(summary|description|example|layout):\s?(.*)$")
#: A codepoint escape as SPARQL 1.1 (19.2) lets a parser expand anywhere in a query, even inside a string.
_CODEPOINT_ESCAPE = re.compile(r"\\[uU]")
_IRI_FORBIDDEN = re.compile(r'[\s<>"{}|^`\\]')
#: Matches nothing: stands in for an empty set, since an empty VALUES block breaks rdflib.
NOTHING = URIRef("urn:hipkg:nothing")


@dataclass(frozen=True)
class Column:
    var: str
    kind: str  # "iri" | "literal"


@dataclass(frozen=True)
class Param:
    name: str
    columns: tuple[Column, ...]
    cardinality: str  # "one" | "optional" | "many"
    default: str | None
    doc: str


@dataclass(frozen=True)
class Query:
    name: str
    text: str
    summary: str
    description: str = ""
    params: tuple[Param, ...] = ()
    examples: tuple[str, ...] = ()
    kind: str = field(default="SELECT")
    layout: str = "table"  # how `hipkg query` shows it by default: table, or records (one block per row, for long texts)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        names = [p.name for p in self.params]
        raise ParameterError(f"query {self.name}: unknown parameter {shown(name)} (parameters: {', '.join(names) or 'none'})",
                             name, "unknown", known=names)

    def bind(self, **values: Any) -> str:
        """The query text with each parameter's VALUES rows replaced by serialised terms."""
        for name in values:
            self.param(name)
        rendered = {p.name: _rows(self, p, values.get(p.name)) for p in self.params}
        out, pos = [], 0
        for start, end, head, name in self._slots:
            rows = rendered[name]
            if rows is not None:
                out += (self.text[pos:start], head, "{ ", rows, " }")
                pos = end
        out.append(self.text[pos:])
        return "".join(out)

    @functools.cached_property
    def _slots(self) -> tuple[tuple[int, int, str, str], ...]:
        """(start, end, VALUES head, parameter) of every VALUES block a parameter binds, in text order: found once."""
        found = [
            (m.start(), m.end(), m.group("head"), p.name)
            for p in self.params
            for m in _values_pattern(p).finditer(self.text)
        ]
        return tuple(sorted(found))

    def run(self, engine: "Engine", **values: Any) -> Result:
        """Bind the values and run on an engine (hipkg.engines: Oxigraph, rdflib, or an endpoint)."""
        return engine.execute(self.bind(**values), self.name)

    def to_json(self) -> dict[str, Any]:
        """The header as data (``hipkg queries --format json`` and ``GET /queries``)."""
        return {
            "name": self.name, "kind": self.kind, "summary": self.summary, "description": self.description,
            "params": [{"name": p.name, "columns": [{"var": c.var, "kind": c.kind} for c in p.columns],
                        "cardinality": p.cardinality, "default": p.default, "doc": p.doc} for p in self.params],
            "examples": list(self.examples), "layout": self.layout,
        }


@functools.lru_cache(maxsize=None)
def _values_pattern(p: Param) -> re.Pattern[str]:
    vars_ = r"\s+".join(re.escape("?" + c.var) for c in p.columns)
    head = rf"VALUES\s+{vars_}\s*" if len(p.columns) == 1 else rf"VALUES\s*\(\s*{vars_}\s*\)\s*"
    return re.compile(rf"(?P<head>{head})\{{[^}}]*\}}", re.IGNORECASE)


def _rows(query: Query, p: Param, value: Any) -> str | None:
    if value is None and p.default is not None:
        value = p.default
    if value is None:
        if p.cardinality == "one":
            raise ParameterError(f"query {query.name}: parameter {p.name!r} is required", p.name, "required")
        return None  # keep UNDEF: any value
    items = list(value) if p.cardinality == "many" and not isinstance(value, (str, Node)) else [value]
    if p.cardinality != "many" and len(items) != 1:
        raise ParameterError(f"query {query.name}: parameter {p.name!r} takes one value, got {len(items)}", p.name, "once")
    if not items:
        items = [tuple(NOTHING for _ in p.columns)] if len(p.columns) > 1 else [NOTHING]
    rendered = []
    for item in items:
        cells = item if isinstance(item, tuple) else (item,)
        if len(cells) != len(p.columns):
            raise ParameterError(f"query {query.name}: parameter {p.name!r} takes {len(p.columns)} values per row", p.name, "columns",
                                 columns=[c.var for c in p.columns])
        terms = [to_term(cell, col.kind, f"{p.name}") for cell, col in zip(cells, p.columns)]
        rendered.append(" ".join(terms) if len(terms) == 1 else "(" + " ".join(terms) + ")")
    return " ".join(rendered)


def to_term(value: Any, kind: str, what: str) -> str:
    """Serialise one validated value as a SPARQL term (an IRI or a literal), or refuse it."""
    if kind == "iri":
        iri = expand(value) if not isinstance(value, URIRef) else value
        if isinstance(value, URIRef):
            return _iri_term(str(iri), what)
        if _IRI_FORBIDDEN.search(str(iri)) or ":" not in str(iri):
            raise InputError(f"{what}: {value!r} is not a valid IRI or CURIE")
        return f"<{iri}>"
    if isinstance(value, BNode):
        raise InputError(f"{what}: blank nodes cannot be bound")
    text = str(value)
    if "\\" in text and _CODEPOINT_ESCAPE.search(text):
        raise InputError(f"{what}: {shown(text)} holds a backslash followed by u or U, which a SPARQL parser may read as a "
                         "codepoint escape before anything else (rdflib does), changing the value; write it another way")
    if isinstance(value, Literal) and value.language:
        return f"{_string_term(text)}@{value.language}"
    if isinstance(value, Literal) and value.datatype:
        return f"{_string_term(text)}^^{_iri_term(str(value.datatype), what)}"
    return _string_term(text)


@functools.lru_cache(maxsize=65536)
def _string_term(text: str) -> str:
    """A plain string literal. Escaping backslash, quote, line breaks and tabs (rdflib's parser expands a raw tab into
    spaces) is all SPARQL's STRING_LITERAL2 needs, and much cheaper than rdflib's general serialiser on the hot path."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


@functools.lru_cache(maxsize=65536)
def _iri_term(iri: str, what: str) -> str:
    if _IRI_FORBIDDEN.search(iri) or ":" not in iri:
        raise InputError(f"{what}: {iri!r} is not a valid IRI")
    return f"<{iri}>"


def expand(value: Any) -> URIRef:
    """A full IRI, or a CURIE with a known prefix, as a URIRef."""
    text = str(value).strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    prefix, sep, local = text.partition(":")
    if sep and prefix in PREFIXES and not local.startswith("//"):
        return URIRef(PREFIXES[prefix] + local)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", text) and (prefix in ("http", "https", "urn")):
        return URIRef(text)
    raise InputError(f"{text!r} is not an IRI or a CURIE with a known prefix ({', '.join(sorted(PREFIXES))})")


def parse_query_file(name: str, text: str) -> Query:
    summary, description, examples, params, layout = "", [], [], [], "table"
    for line in text.splitlines():
        if not line.startswith("#"):
            if line.strip():
                break
            continue
        if m := _PARAM.match(line):
            cols = tuple(Column(*c.lstrip("?").split(":")) for c in m["cols"].split())
            params.append(Param(m["name"], cols, m["card"], m["default"], m["doc"].strip()))
        elif m := _FIELD.match(line):
            key, value = m.groups()
            if key == "summary":
                summary = value.strip()
            elif key == "description":
                description.append(value.strip())
            elif key == "layout":
                layout = value.strip()
                if layout not in ("table", "records"):
                    raise ValueError(f"queries/{name}.rq: layout {layout!r}; expected table or records")
            else:
                examples.append(value.strip())
    if not summary:
        raise ValueError(f"queries/{name}.rq: header has no '# summary:' line")
    body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    kind = next((k for k in ("CONSTRUCT", "DESCRIBE", "ASK", "SELECT") if re.search(rf"\b{k}\b", body, re.I)), "SELECT")
    query = Query(name, text, summary, " ".join(description), tuple(params), tuple(examples), kind, layout)
    for p in params:
        if not _values_pattern(p).search(text):
            raise ValueError(f"queries/{name}.rq: parameter {p.name} has no VALUES block")
    return query


class QueryLibrary:
    """All bundled queries by name (path under queries/ without .rq)."""

    def __init__(self, queries: Iterable[Query]) -> None:
        self._queries = {q.name: q for q in queries}

    @classmethod
    @functools.lru_cache(maxsize=1)
    def bundled(cls) -> "QueryLibrary":
        root = queries_dir()
        return cls(
            parse_query_file(relative_name(root, node)[: -len(".rq")], node.read_text(encoding="utf-8"))
            for node in walk(root, ".rq")
        )

    def __iter__(self) -> Iterator[Query]:
        return iter(self._queries[name] for name in sorted(self._queries))

    def names(self) -> list[str]:
        return sorted(self._queries)

    def get(self, name: str) -> Query:
        try:
            return self._queries[name]
        except KeyError:
            raise UnknownQuery(name) from None

    def group(self, folder: str) -> Sequence[Query]:
        return [q for q in self if q.name.startswith(folder + "/")]
