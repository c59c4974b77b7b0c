"""Safety of any SPARQL text: parsed by rdflib and refused when it would write, fetch or reach out.

Used by ``hipkg query`` and ``KnowledgeGraph.sparql`` alike: updates are refused, SERVICE unless allowed,
and FROM / FROM NAMED always (rdflib would otherwise fetch those graphs from the web).
"""
from __future__ import annotations

from typing import Any, Iterator, NamedTuple

from hipkg.errors import QueryRefused, QuerySyntaxError

#: Update operations as rdflib's update grammar names them, for the refusal message.
_UPDATE_NAMES = {
    "Load": "LOAD", "Clear": "CLEAR", "Drop": "DROP", "Create": "CREATE", "Add": "ADD", "Move": "MOVE", "Copy": "COPY",
    "InsertData": "INSERT DATA", "DeleteData": "DELETE DATA", "DeleteWhere": "DELETE WHERE", "Modify": "DELETE/INSERT",
}


def _walk(node: Any) -> Iterator[Any]:
    """Every node of an rdflib/pyparsing parse tree (ParseResults, CompValue, lists), depth first."""
    from pyparsing import ParseResults  # pyparsing comes with rdflib's SPARQL parser, imported on first use (see check_query)

    stack = [node]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, dict):  # CompValue is an OrderedDict
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, ParseResults)):
            stack.extend(item)


def _syntax_error(name: str, exc: Any, text: str) -> QuerySyntaxError:
    line, col = getattr(exc, "lineno", None), getattr(exc, "col", None)
    where = f"line {line}, column {col}" if line is not None else "unknown position"
    msg = " ".join(str(getattr(exc, "msg", "") or exc).split())
    source_line = text.splitlines()[line - 1] if line and 0 < line <= len(text.splitlines()) else ""
    pointer = f"\n  {source_line}\n  {' ' * (max(col or 1, 1) - 1)}^" if source_line.strip() else ""
    return QuerySyntaxError(f"{name}: SPARQL syntax error at {where}: {msg}{pointer}", line, col)


class Checked(NamedTuple):
    form: str  # SELECT, ASK, CONSTRUCT or DESCRIBE
    has_values: bool  # the query ends with a VALUES clause


def check_query(text: str, allow_service: bool = False, name: str = "query") -> Checked:
    """Parse ``text`` with rdflib and refuse what is unsafe; returns the query form and whether it ends with VALUES.

    Raises QuerySyntaxError (naming line and column) or QueryRefused (an update, SERVICE unless allowed, FROM / FROM
    NAMED).
    """
    from pyparsing import ParseBaseException  # start-up time: pyparsing takes ~30 ms to import
    from rdflib.plugins.sparql.parser import parseQuery, parseUpdate  # start-up time: rdflib builds its SPARQL grammar on import (~60 ms)

    try:
        tree = parseQuery(text)
    except ParseBaseException as exc:
        try:
            update = parseUpdate(text)
        except Exception:  # not an update either: report the query syntax error
            raise _syntax_error(name, exc, text) from None
        ops = [_UPDATE_NAMES.get(getattr(op, "name", ""), getattr(op, "name", "update")) for op in update.get("request", [])]
        if not ops:  # an empty update (only a prologue) still is no query
            raise _syntax_error(name, exc, text) from None
        raise QueryRefused(name, "update", ops) from None
    except Exception as exc:  # rdflib can raise other errors while parsing (e.g. bad escapes)
        raise QuerySyntaxError(f"{name}: cannot parse query: {' '.join(str(exc).split())[:300]}") from None
    form, has_values = "SELECT", False
    for node in _walk(tree):
        node_name = getattr(node, "name", None)
        if not isinstance(node, dict) or node_name is None:
            continue
        if node_name == "ServiceGraphPattern" and not allow_service:
            raise QueryRefused(name, "service")
        if node_name in ("SelectQuery", "AskQuery", "ConstructQuery", "DescribeQuery"):
            form = node_name[: -len("Query")].upper()
            has_values = has_values or dict.get(node, "valuesClause") is not None
            if dict.get(node, "datasetClause"):  # CompValue.get returns the key itself when absent
                raise QueryRefused(name, "dataset")
    return Checked(form, has_values)
