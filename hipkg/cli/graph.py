"""hipkg graph: the concept graph as a network (counts, hubs, components) and chains between two concepts."""
from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING, Any

import hipkg
from hipkg.cli._common import add_format, print_json
from hipkg.errors import InputError
from hipkg.namespaces import curie
from hipkg.results import table

if TYPE_CHECKING:
    import networkx as nx


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "graph",
        help="network view of the concepts: stats, or the path between two concepts",
        description="Look at hipkg's concepts as a network: nodes are concepts, edges the statements linking them "
        "(see `hipkg export --to graphml`). Source passages, literals and closure properties are left out.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    stats = actions.add_parser("stats", help="node and edge counts, top-10 degree leaders, weakly connected components",
                               description="Counts by type and predicate, the 10 best-connected concepts and the "
                               "weakly connected components.")
    add_format(stats, ("table", "json"), "table")
    stats.set_defaults(run=run_stats)
    path = actions.add_parser(
        "path", help="shortest chain of statements linking two concepts",
        description="The shortest chain of statements linking concept A to concept B, each step labelled with its "
        "predicate; edges may be followed in either direction (shown by the arrow).",
        epilog="exit codes: 0 path found, 1 no path, 2 unknown concept\n"
        "example: hipkg graph path hipkg:HipOsteoarthritis \"trochanteric bursitis\"",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    path.add_argument("source", metavar="A", help="a concept as CURIE (hipkg:HipPain), IRI or label")
    path.add_argument("target", metavar="B", help="a concept as CURIE, IRI or label")
    add_format(path, ("table", "json"), "table")
    path.set_defaults(run=run_path)


def stats(graph: "nx.MultiDiGraph") -> dict[str, Any]:
    import networkx as nx  # networkx only when asked for: it takes ~70 ms to import, and --help imports this module

    components = sorted(nx.weakly_connected_components(graph), key=lambda c: (-len(c), min(c)))
    degree = sorted(graph.degree(), key=lambda nd: (-nd[1], nd[0]))[:10]
    return {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "nodes_by_type": dict(sorted(Counter(t for _, t in graph.nodes(data="type")).items())),
        "edges_by_predicate": dict(sorted(Counter(k for _, _, k in graph.edges(keys=True)).items())),
        "top_degree": [{"id": n, "label": graph.nodes[n]["label"], "degree": d,
                        "in": graph.in_degree(n), "out": graph.out_degree(n)} for n, d in degree],
        "weakly_connected_components": len(components),
        "component_sizes": [len(c) for c in components],
        "isolated": sorted(nx.isolates(graph)),
    }


def run_stats(args: argparse.Namespace) -> int:
    data = stats(hipkg.load().to_networkx())
    if args.format == "json":
        print_json(data)
        return 0
    print(f"{data['nodes']} concepts, {data['edges']} edges, {data['weakly_connected_components']} weakly connected "
          f"components (sizes {', '.join(map(str, data['component_sizes']))})")
    print("\ntop 10 by degree:")
    print(table(("id", "degree", "in", "out", "label"),
                ((d["id"], str(d["degree"]), str(d["in"]), str(d["out"]), d["label"]) for d in data["top_degree"])))
    print("\nedges by predicate:")
    print(table(("predicate", "count"), ((k, str(v)) for k, v in data["edges_by_predicate"].items())))
    print("\nconcepts by type:")
    print(table(("type", "count"), ((k, str(v)) for k, v in data["nodes_by_type"].items())))
    return 0


def resolve(graph: "nx.MultiDiGraph", text: str) -> str:
    """A node id from a CURIE, full IRI or (case-insensitive) label; InputError if unknown or ambiguous."""
    for candidate in (text, curie(text), f"hipkg:{text}"):
        if candidate in graph:
            return candidate
    wanted = " ".join(text.split()).casefold()
    matches = sorted(n for n, lab in graph.nodes(data="label") if str(lab).casefold() == wanted)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InputError(f"{text!r} is the label of several concepts: {', '.join(matches)}; give a CURIE")
    raise InputError(f"{text!r}: no concept with this CURIE, IRI or label (try `hipkg export --to csv` for the list)")


def shortest_chain(graph: "nx.MultiDiGraph", source: str, target: str) -> list[dict[str, str]] | None:
    """Steps of a shortest undirected path, each as the stated triple (subject, predicate, object)."""
    import networkx as nx  # networkx only when asked for (start-up time, as in stats)

    try:
        nodes = nx.shortest_path(graph.to_undirected(as_view=True), source, target)
    except nx.NetworkXNoPath:
        return None
    steps = []
    for a, b in zip(nodes, nodes[1:]):
        forward = sorted(graph.get_edge_data(a, b, default={}))
        if forward:
            steps.append({"subject": a, "predicate": forward[0], "object": b, "direction": "forward"})
        else:
            steps.append({"subject": b, "predicate": sorted(graph.get_edge_data(b, a))[0], "object": a,
                          "direction": "backward"})
    return steps


def run_path(args: argparse.Namespace) -> int:
    graph = hipkg.load().to_networkx()
    source, target = resolve(graph, args.source), resolve(graph, args.target)
    steps = shortest_chain(graph, source, target)
    if args.format == "json":
        print_json({"source": source, "target": target, "path": steps})
        return 0 if steps is not None else 1
    if steps is None:
        print(f"no chain of statements links {source} and {target}")
        return 1
    lines = [f"{source}  ({graph.nodes[source]['label']})"]
    for step in steps:
        nxt = step["object"] if step["direction"] == "forward" else step["subject"]
        arrow = f"--{step['predicate']}-->" if step["direction"] == "forward" else f"<--{step['predicate']}--"
        lines.append(f"  {arrow} {nxt}  ({graph.nodes[nxt]['label']})")
    print("\n".join(lines))
    print(f"{len(steps)} statement{'s' if len(steps) != 1 else ''}")
    return 0
