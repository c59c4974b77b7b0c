"""hipkg info: what the bundled graph holds."""
from __future__ import annotations

import argparse

from rdflib.namespace import RDF, RDFS

import hipkg
from hipkg.cli._common import add_format, print_json
from hipkg.namespaces import HIPKG, curie
from hipkg.results import table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="counts by class, sources and version of the bundled graph",
                       description="Summarise the bundled knowledge graph: version, sources, named graphs and concept counts by class.")
    add_format(p, ("table", "json"), "table")
    p.set_defaults(run=run)


def summary() -> dict:
    kg = hipkg.load()
    sources = sorted(
        ({"id": curie(s), "title": str(kg.data.value(s, RDFS.label) or "")} for s in kg.data.subjects(RDF.type, HIPKG.Source)),
        key=lambda d: d["id"],
    )
    return {
        "version": hipkg.__version__,
        "triples": {curie(g.identifier): len(g) for g in sorted(kg.dataset.graphs(), key=lambda g: str(g.identifier)) if len(g)},
        "sources": sources,
        "mappings": sum(1 for m in kg.mapping_set.mappings if not m.is_no_term_found),
        "counts": kg.counts_by_class(),
    }


def run(args: argparse.Namespace) -> int:
    data = summary()
    if args.format == "json":
        print_json(data)
        return 0
    print(f"hipkg {data['version']}  ({data['mappings']} code mappings)")
    print("\nnamed graphs:")
    print(table(("graph", "triples"), ((k, str(v)) for k, v in data["triples"].items())))
    print("\nsources:")
    print(table(("id", "title"), ((s["id"], s["title"]) for s in data["sources"])))
    print("\nconcepts by class:")
    print(table(("class", "count"), ((k, str(v)) for k, v in data["counts"].items())))
    return 0
