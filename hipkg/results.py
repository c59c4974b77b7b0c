"""Query answers: the Result type every engine returns, SPARQL 1.1 result terms, and rendering shared by the CLI and
the server.

``render`` gives the CLI's formats (an aligned table, CSV and TSV with IRIs as CURIEs, SPARQL Results JSON, Turtle).
``select_body``, ``ask_body`` and ``graph_body`` give the SPARQL 1.1 Protocol formats (JSON, XML, CSV, TSV; Turtle,
N-Triples, JSON-LD, RDF/XML), written row by row so that a byte cap cuts at a row boundary and the document stays
well-formed; a cut answer says so inside the body where the format has room for it (a ``"hipkg:truncated"`` member in
JSON results, an XML comment, a ``#`` comment line in Turtle and N-Triples).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence
from xml.sax.saxutils import escape, quoteattr

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import XSD
from rdflib.term import Node

from hipkg.errors import InputError
from hipkg.namespaces import curie, new_graph


@dataclass(frozen=True)
class Result:
    """A query answer: rows for SELECT, a graph for CONSTRUCT/DESCRIBE, a boolean for ASK. ``truncated``: evaluation
    stopped at a row (or triple) limit, so there were more."""

    kind: str
    vars: tuple[str, ...] = ()
    rows: tuple[tuple[Node | None, ...], ...] = ()
    graph: Graph | None = None
    boolean: bool | None = None
    truncated: bool = False

    def __iter__(self) -> Iterator[dict[str, Node | None]]:
        for row in self.rows:
            yield dict(zip(self.vars, row))

    def __len__(self) -> int:
        return len(self.rows)

    def to_dicts(self) -> list[dict[str, str | None]]:
        """Rows as plain dicts of strings (IRIs as CURIEs where a prefix is known)."""
        return [{v: plain(t) for v, t in zip(self.vars, row)} for row in self.rows]

    def to_dataframe(self) -> Any:
        """Rows as a pandas DataFrame (pandas is optional and imported only here)."""
        import pandas  # noqa: PLC0415 - optional dependency

        return pandas.DataFrame(self.to_dicts(), columns=list(self.vars))


def plain(term: Node | None) -> str | None:
    """A term as text: IRIs as CURIEs where a prefix is known, literals as their lexical form."""
    if term is None:
        return None
    if isinstance(term, URIRef):
        return curie(term)
    return str(term)


def sparql_json_term(term: Node) -> dict[str, str]:
    """One term as SPARQL 1.1 Query Results JSON (used by the CLI's json format and the server)."""
    if isinstance(term, Literal):
        cell = {"type": "literal", "value": str(term)}
        if term.language:
            cell["xml:lang"] = term.language
        elif term.datatype is not None:
            cell["datatype"] = str(term.datatype)
        return cell
    if isinstance(term, BNode):
        return {"type": "bnode", "value": str(term)}
    return {"type": "uri", "value": str(term)}


def term_from_json(cell: dict | None) -> Node | None:
    """A SPARQL 1.1 Query Results JSON term as an rdflib term."""
    if cell is None:
        return None
    if cell["type"] == "uri":
        return URIRef(cell["value"])
    if cell["type"] == "bnode":
        return BNode(cell["value"])
    if "xml:lang" in cell:
        return Literal(cell["value"], lang=cell["xml:lang"])
    datatype = cell.get("datatype")
    return Literal(cell["value"], datatype=URIRef(datatype)) if datatype and datatype != str(XSD.string) else Literal(cell["value"])


def results_json(result: Result) -> dict:
    """SPARQL 1.1 Query Results JSON for a SELECT or ASK answer."""
    if result.kind == "ASK":
        return {"head": {}, "boolean": bool(result.boolean)}
    bindings = [{v: sparql_json_term(t) for v, t in zip(result.vars, row) if t is not None} for row in result.rows]
    return {"head": {"vars": list(result.vars)}, "results": {"bindings": bindings}}


# ------------------------------------------------------------------------------------------------ text (the CLI)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], width: int | None = None) -> str:
    """An aligned text table that fits the terminal: the last column wraps rather than overflows."""
    rows = [[str(c) for c in r] for r in rows]
    width = width or shutil.get_terminal_size((120, 24)).columns
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    fixed = sum(widths[:-1]) + 2 * (len(headers) - 1)
    widths[-1] = max(20, min(widths[-1], width - fixed)) if len(headers) > 1 else widths[-1]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    for r in rows:
        chunks = textwrap.wrap(r[-1], widths[-1]) or [""]
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1] + [chunks[0]], widths)).rstrip())
        pad = " " * fixed
        lines.extend((pad + c).rstrip() for c in chunks[1:])
    return "\n".join(lines)


def _fit(rows: list[list[str]], headers: tuple[str, ...], note: Callable[[str], None]) -> list[list[str]]:
    """Shorten the widest cells of all but the last column (which the table wraps) until the table fits the terminal."""
    width = shutil.get_terminal_size((120, 24)).columns
    ncols = len(headers)
    rows = [[" ".join(c.split()) if i < ncols - 1 else c for i, c in enumerate(r)] for r in rows]
    widths = [max([len(headers[i])] + [len(r[i]) for r in rows]) for i in range(ncols - 1)]
    budget = width - 2 * (ncols - 1) - 26  # the wrapped last column keeps >= 24 characters
    floors = [max(8, len(h)) for h in headers[:-1]]  # the table never makes a column narrower than its header
    while sum(widths) > budget:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    shortened = False
    for r in rows:
        for i, w in enumerate(widths):
            if len(r[i]) > w:
                r[i], shortened = r[i][: w - 1] + "\u2026", True
    if shortened:
        note("long values are shortened in the table; use --format csv, tsv or json for full values")
    return rows


def render(result: Result, fmt: str, note: Callable[[str], None] = lambda _: None) -> str:
    """The CLI's formats: table, records (a block per row), csv, tsv (IRIs as CURIEs), json (SPARQL Results JSON),
    turtle; ``note`` hears what
    the reader should know (values shortened in the table)."""
    graph_result = result.graph is not None
    if fmt == "turtle" or (fmt == "table" and graph_result):
        if not graph_result:
            raise InputError("--format turtle is for CONSTRUCT and DESCRIBE results; use table, csv, tsv or json")
        return result.graph.serialize(format="turtle")
    if graph_result:
        raise InputError(f"--format {fmt} is for SELECT and ASK results; use --format turtle for a {result.kind} query")
    if fmt == "json":
        return json.dumps(results_json(result), indent=2, ensure_ascii=False) + "\n"
    if result.kind == "ASK":
        return ("true" if result.boolean else "false") + "\n"
    rows = [[plain(t) or "" for t in row] for row in result.rows]
    if fmt == "records":  # one block per row, each value wrapped under its name: for answers of long texts
        width = min(shutil.get_terminal_size((100, 24)).columns, 100)
        pad = max(len(v) for v in result.vars) + 2 if result.vars else 2
        blocks = ["\n".join(textwrap.fill(value, width, initial_indent=f"{var + ':':{pad}}", subsequent_indent=" " * pad)
                            for var, value in zip(result.vars, row) if value) for row in rows]
        return "\n\n".join(blocks) + "\n" if blocks else "(no rows)\n"
    if fmt == "table":
        if not result.vars:
            return "(no columns)\n"
        # table() indents wrapped lines of the last column by 2 more than its first line: give it 2 less width.
        width = shutil.get_terminal_size((120, 24)).columns - 2
        return table(result.vars, _fit(rows, result.vars, note), width) + "\n"
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer, lineterminator="\r\n")
    else:  # tsv: tabs and line breaks inside values are escaped, as SPARQL 1.1 TSV does
        writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
        rows = [[c.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r") for c in r] for r in rows]
    writer.writerow(result.vars)
    writer.writerows(rows)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ SPARQL 1.1 Protocol bodies


@dataclass(frozen=True)
class Cut:
    """Why and where an answer was cut."""

    reason: str  # "rows" | "bytes"
    limit: int
    kept: int

    def header(self) -> str:
        return f"{self.reason}; limit={self.limit}; kept={self.kept}"

    def note(self) -> str:
        unit = "rows or triples" if self.reason == "rows" else "bytes"
        return (f"answer truncated: only the first {self.kept} results are included "
                f"(the server's cap is {self.limit} {unit}); narrow the query or add LIMIT")


# ------------------------------------------------------------------------------------------------ SELECT / ASK


def _xml_term(term: Any) -> str:
    if isinstance(term, Literal):
        attrs = ""
        if term.language:
            attrs = f" xml:lang={quoteattr(term.language)}"
        elif term.datatype is not None:
            attrs = f" datatype={quoteattr(str(term.datatype))}"
        return f"<literal{attrs}>{escape(str(term))}</literal>"
    if isinstance(term, BNode):
        return f"<bnode>{escape(str(term))}</bnode>"
    return f"<uri>{escape(str(term))}</uri>"


def _csv_line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(list(cells))
    return buffer.getvalue()


def _tsv_term(term: Any) -> str:
    if term is None:
        return ""
    if isinstance(term, BNode):
        return f"_:{term}"
    text = term.n3()  # <iri> or "literal"@lang / ^^<datatype>, with \t \n escaped by rdflib's n3()
    return text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def select_body(fmt: str, vars_: Sequence[str], rows: Sequence[Sequence[Any]], row_cut: Cut | None,
                max_bytes: int) -> tuple[bytes, Cut | None]:
    """A SELECT answer in ``fmt`` (json, xml, csv, tsv), cut at a row boundary to stay within ``max_bytes``."""
    if fmt == "json":
        head = '{"head": {"vars": ' + json.dumps(list(vars_)) + '}, "results": {"bindings": [\n'
        sep = ",\n"

        def piece(row: Sequence[Any]) -> str:
            return json.dumps({v: sparql_json_term(t) for v, t in zip(vars_, row) if t is not None}, ensure_ascii=False)

        def tail(cut: Cut | None) -> str:
            note = f', "hipkg:truncated": {json.dumps({"reason": cut.reason, "limit": cut.limit, "kept": cut.kept, "message": cut.note()})}' if cut else ""
            return "\n]}" + note + "}\n"
    elif fmt == "xml":
        head = ('<?xml version="1.0" encoding="utf-8"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n<head>'
                + "".join(f"<variable name={quoteattr(v)}/>" for v in vars_) + "</head>\n<results>\n")
        sep = ""

        def piece(row: Sequence[Any]) -> str:
            cells = "".join(f"<binding name={quoteattr(v)}>{_xml_term(t)}</binding>" for v, t in zip(vars_, row) if t is not None)
            return f"<result>{cells}</result>\n"

        def tail(cut: Cut | None) -> str:
            note = f"<!-- {escape(cut.note())} -->\n" if cut else ""
            return "</results>\n" + note + "</sparql>\n"
    elif fmt == "csv":
        head, sep = _csv_line(vars_), ""

        def piece(row: Sequence[Any]) -> str:
            return _csv_line("" if t is None else str(t) for t in row)

        def tail(cut: Cut | None) -> str:
            return ""
    elif fmt == "tsv":
        head, sep = "\t".join(f"?{v}" for v in vars_) + "\n", ""

        def piece(row: Sequence[Any]) -> str:
            return "\t".join(_tsv_term(t) for t in row) + "\n"

        def tail(cut: Cut | None) -> str:
            return ""
    else:  # pragma: no cover - negotiate() only offers the formats above
        raise ValueError(fmt)

    reserve = len(tail(Cut("bytes", max_bytes, len(rows))).encode()) + 40
    parts = [head.encode()]
    size = len(parts[0])
    cut = row_cut
    for index, row in enumerate(rows):
        chunk = ((sep if index else "") + piece(row)).encode()
        if size + len(chunk) + reserve > max_bytes:
            cut = Cut("bytes", max_bytes, index)
            break
        parts.append(chunk)
        size += len(chunk)
    parts.append(tail(cut).encode())
    return b"".join(parts), cut


def ask_body(fmt: str, value: bool) -> bytes:
    if fmt == "json":
        return (json.dumps({"head": {}, "boolean": bool(value)}) + "\n").encode()
    return ('<?xml version="1.0" encoding="utf-8"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n'
            f"<head/>\n<boolean>{'true' if value else 'false'}</boolean>\n</sparql>\n").encode()


# ------------------------------------------------------------------------------------------------ CONSTRUCT / DESCRIBE




def graph_body(fmt: str, triples: Sequence[tuple[Any, Any, Any]], row_cut: Cut | None, max_bytes: int) -> tuple[bytes, Cut | None]:
    """A graph answer in ``fmt`` (turtle, nt, json-ld, xml), shortened by triples until it fits ``max_bytes``."""
    cut = row_cut
    keep = list(triples)
    for _ in range(12):
        body = new_graph(keep).serialize(format=fmt, encoding="utf-8")
        if cut is not None and fmt in ("turtle", "nt"):
            body = f"# {cut.note()}\n".encode() + body
        if len(body) <= max_bytes:
            return body, cut
        # Too big: keep proportionally fewer triples (a little fewer than needed, for the note and the prefixes).
        count = int(len(keep) * max_bytes / len(body) * 0.9) - 1
        keep = keep[: max(count, 0)]
        cut = Cut("bytes", max_bytes, len(keep))
    return b"", Cut("bytes", max_bytes, 0)
