"""Reading and cutting RDF: user Turtle with clean errors, and N-Triples cut out of the cached N-Quads."""
from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Iterable

from rdflib import Graph, URIRef

from hipkg.errors import InputError
from hipkg.namespaces import new_graph


def cut_graphs(nquads: bytes, graphs: Iterable[URIRef]) -> bytes:
    """The triples of ``graphs`` as N-Triples, cut from N-Quads: they keep one quad per line with the graph term last,
    so no RDF parser is needed to select graphs."""
    wanted = {f" <{g}> .".encode() for g in graphs}
    out = []
    for line in nquads.splitlines():
        cut = line.rfind(b" <")
        if cut > 0 and line[cut:] in wanted:
            out.append(line[:cut] + b" .")
    return b"\n".join(out) + b"\n"


def parse_turtle(data: str | bytes, name: str, graph: Graph | None = None) -> Graph:
    """Parse Turtle, turning any parser error into an InputError that names file and line."""
    target = graph if graph is not None else new_graph()
    try:
        target.parse(data=data, format="turtle", publicID="file:///" + urllib.parse.quote(name.lstrip("/")))  # <stdin> is no IRI
    except MemoryError:
        raise  # not the file's fault: a memory limit (hipkg.isolation) names itself
    except Exception as exc:  # rdflib raises many types (BadSyntax, ValueError, ...)
        raise InputError(f"{name}: not valid Turtle: {_parser_message(exc)}") from exc
    return target


def _parser_message(exc: Exception) -> str:
    lines = getattr(exc, "lines", None)
    why = getattr(exc, "_why", None)
    if lines is not None and why:
        return f"line {int(lines) + 1}: {why}"
    return " ".join(str(exc).split())[:300]


#: The largest Turtle file of yours ``hipkg validate`` reads (``--max-bytes``): 10 MiB. Larger files cost minutes and
#: gigabytes in SHACL validation (a 4.4 MB collection took 72 s and 3.3 GB).
MAX_USER_FILE_BYTES = 10 << 20


def read_user_file(path: str | Path, max_bytes: int = MAX_USER_FILE_BYTES) -> Graph:
    """A user's Turtle file, or an InputError naming it (also when it is larger than ``max_bytes``)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise InputError(f"{p}: the file is {size:,} bytes, more than the {max_bytes:,} allowed (--max-bytes)")
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot read file ({exc.strerror or exc})") from exc
    return parse_turtle(data, str(p))
