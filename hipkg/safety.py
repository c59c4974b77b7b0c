"""Safety of any SPARQL text: parsed by rdflib and refused when it would write, fetch or reach out.

Used by ``hipkg query`` and ``KnowledgeGraph.sparql`` alike: updates are refused, SERVICE unless allowed,
and FROM / FROM NAMED always (rdflib would otherwise fetch those graphs from the web).
"""
from __future__ import annotations

from typing import Any, Iterator

from hipkg.errors import InputError

#: Update operations as rdflib's update grammar names them, for the refusal message.
_UPDATE_NAMES = {
    "Load": "LOAD", "Clear": "CLEAR", "Drop": "DROP", "Create": "CREATE", "Add": "ADD", "Move": "MOVE", "Copy": "COPY",
    "InsertData": "INSERT DATA", "DeleteData": "DELETE DATA", "DeleteWhere": "DELETE WHERE", "Modify": "DELETE/INSERT",
}


def _walk(node: Any) -> Iterator[Any]:
    """Every node of an rdflib/pyparsing parse tree (ParseResults, CompValue, lists), depth first."""
    from pyparsing import ParseResults

    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):  # CompValue is an OrderedDict
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, ParseResults)):
            stack.extend(item)


def _location(exc: Any, text: str) -> str:
    line, col = getattr(exc, "lineno", None), getattr(exc, "col", None)
    where = f"line {line}, column {col}" if line is not None else "unknown position"
    msg = " ".join(str(getattr(exc, "msg", "") or exc).split())
    source_line = text.splitlines()[line - 1] if line and 0 < line <= len(text.splitlines()) else ""
    pointer = f"\n  {source_line}\n  {' ' * (max(col or 1, 1) - 1)}^" if source_line.strip() else ""
    return f"SPARQL syntax error at {where}: {msg}{pointer}"


def check_query(text: str, allow_service: bool = False, name: str = "query") -> str:
    """Parse ``text`` with rdflib and refuse what is unsafe; returns the query form (SELECT, ASK, ...).

    Raises InputError for a syntax error (naming line and column), an update, SERVICE (unless allowed),
    and FROM / FROM NAMED.
    """
    from pyparsing import ParseBaseException
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate

    try:
        tree = parseQuery(text)
    except ParseBaseException as exc:
        try:
            update = parseUpdate(text)
        except Exception:  # not an update either: report the query syntax error
            raise InputError(f"{name}: {_location(exc, text)}") from None
        ops = [_UPDATE_NAMES.get(getattr(op, "name", ""), getattr(op, "name", "update")) for op in update.get("request", [])]
        if not ops:  # an empty update (only a prologue) still is no query
            raise InputError(f"{name}: {_location(exc, text)}") from None
        raise InputError(f"{name}: updates are refused ({', '.join(ops)}); hipkg query only reads the graph") from None
    except Exception as exc:  # rdflib can raise other errors while parsing (e.g. bad escapes)
        raise InputError(f"{name}: cannot parse query: {' '.join(str(exc).split())[:300]}") from None
    form = "SELECT"
    for node in _walk(tree):
        node_name = getattr(node, "name", None)
        if not isinstance(node, dict) or node_name is None:
            continue
        if node_name == "ServiceGraphPattern" and not allow_service:
            raise InputError(f"{name}: SERVICE is refused (it would query a remote endpoint); pass --allow-service to permit it")
        if node_name in ("SelectQuery", "AskQuery", "ConstructQuery", "DescribeQuery"):
            form = node_name[: -len("Query")].upper()
            if dict.get(node, "datasetClause"):  # CompValue.get returns the key itself when absent
                raise InputError(f"{name}: FROM / FROM NAMED are refused: hipkg query never fetches graphs and always runs on the bundled graph")
    return form
