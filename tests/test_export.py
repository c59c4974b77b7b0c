"""hipkg export and hipkg graph: every format written through the CLI, read back and checked.

RDF formats must read back isomorphic to what was exported; SKOS, SSSOM and FHIR must keep
every mapping row of the table; graph formats must load back into networkx unchanged.
No network: the sssom validator and fhir.resources models run locally.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Callable

import networkx as nx
import pytest
from rdflib import Graph
from rdflib.compare import isomorphic
from rdflib.namespace import OWL, RDF, SH, SKOS

from hipkg.cli import main
from hipkg.export import EXPORTERS
from hipkg.export._common import concepts, knowledge_graph
from hipkg.export.owl import owl_graph
from hipkg.namespaces import HIPKG, curie


def code_rows(kg) -> set[tuple[str, str, str]]:
    """Distinct (subject, predicate, object) of the mapping rows that name a code."""
    return {(m.subject_id, m.predicate_id, m.object_id) for m in kg.mapping_set.mappings if not m.is_no_term_found}


def check_rdf(fmt: str, expected: Callable) -> Callable:
    def check(kg, path: Path) -> None:
        graph = Graph().parse(path, format=fmt)
        assert isomorphic(graph, expected(kg))
        assert not set(graph.subjects(RDF.type, SH.NodeShape)), "shapes must not be exported"
        assert not set(graph.subject_objects(HIPKG.fullText)), "source full texts must not be exported"
        assert len(set(graph.triples((None, SKOS.exactMatch, None)))) > 0

    return check


def check_jsonld(kg, path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data["@context"], dict) and data["@context"]["hipkg"] == str(HIPKG)
    check_rdf("json-ld", knowledge_graph)(kg, path)


def check_owl(kg, path: Path) -> None:
    check_rdf("xml", owl_graph)(kg, path)
    graph = Graph().parse(path, format="xml")
    assert len(set(graph.subjects(RDF.type, OWL.Ontology))) == 1
    individuals = set(graph.subjects(RDF.type, OWL.NamedIndividual))
    assert set(concepts(kg)) <= individuals
    used = set(graph.predicates()) - {p for p in graph.predicates() if str(p).startswith(
        (str(RDF), "http://www.w3.org/2000/01/rdf-schema#", str(OWL)))}
    declared = {s for t in (OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty)
                for s in graph.subjects(RDF.type, t)}
    assert used <= declared, f"undeclared properties: {sorted(map(curie, used - declared))}"


def check_skos(kg, path: Path) -> None:
    graph = Graph().parse(path, format="turtle")
    scheme = HIPKG.ConceptScheme
    assert (scheme, RDF.type, SKOS.ConceptScheme) in graph
    members = set(graph.subjects(SKOS.inScheme, scheme))
    assert members == set(concepts(kg))
    for c in members:
        assert len(list(graph.objects(c, SKOS.prefLabel))) == 1
        has_broader = any(graph.objects(c, SKOS.broader))
        assert ((c, SKOS.topConceptOf, scheme) in graph) != has_broader
    matches = {(curie(s, kg.mapping_set.curie_map), curie(p, kg.mapping_set.curie_map), curie(o, kg.mapping_set.curie_map))
               for p in (SKOS.exactMatch, SKOS.closeMatch, SKOS.broadMatch, SKOS.narrowMatch, SKOS.relatedMatch)
               for s, o in graph.subject_objects(p)}
    assert matches == code_rows(kg)
    objects = {str(o) for _, _, o in graph.triples((None, SKOS.exactMatch, None))}
    assert any(o.startswith("http://snomed.info/id/") for o in objects)


def check_sssom(kg, path: Path) -> None:
    from sssom.constants import DEFAULT_VALIDATION_TYPES
    from sssom.parsers import parse_sssom_table
    from sssom.validators import validate

    msdf = parse_sssom_table(path)
    validate(msdf, DEFAULT_VALIDATION_TYPES, fail_on_error=True)
    assert msdf.metadata["mapping_set_id"]
    assert msdf.metadata["license"]
    assert len(msdf.df) == len(kg.mapping_set.mappings)
    assert (msdf.df["object_id"] == "sssom:NoTermFound").sum() == sum(m.is_no_term_found for m in kg.mapping_set.mappings)
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")][0].split("\t")
    assert set(header) <= {"subject_id", "subject_label", "predicate_id", "object_id", "object_label",
                           "mapping_justification", "comment"}


CANONICAL = {
    "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm",
    "http://www.nlm.nih.gov/research/umls/rxnorm", "http://www.whocc.no/atc",
}
R4_EQUIVALENCE = {"relatedto", "equivalent", "equal", "wider", "subsumes", "narrower", "specializes", "inexact",
                  "unmatched", "disjoint"}


def check_fhir(kg, path: Path) -> None:
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.codesystem import CodeSystem
    from fhir.resources.R4B.conceptmap import ConceptMap
    from fhir.resources.R4B.plandefinition import PlanDefinition
    from fhir.resources.R4B.valueset import ValueSet

    data = json.loads(path.read_text(encoding="utf-8"))
    Bundle.model_validate(data)
    assert data["type"] == "collection"
    models = {"CodeSystem": CodeSystem, "ConceptMap": ConceptMap, "ValueSet": ValueSet, "PlanDefinition": PlanDefinition}
    resources = [e["resource"] for e in data["entry"]]
    for resource in resources:
        models[resource["resourceType"]].model_validate(resource)
        assert {"system": "http://hl7.org/fhir/FHIR-version", "code": "4.3.0", "display": "R4B"} in resource["meta"]["tag"]
    (cs,) = [r for r in resources if r["resourceType"] == "CodeSystem"]
    assert cs["url"] == "https://w3id.org/hipkg/fhir/CodeSystem/hipkg" and cs["content"] == "complete"
    assert cs["count"] == len(cs["concept"]) == len(concepts(kg))
    assert any(p["code"] == "parent" for c in cs["concept"] for p in c.get("property", []))
    assert any(c.get("designation") for c in cs["concept"])
    maps = [r for r in resources if r["resourceType"] == "ConceptMap"]
    targets = [t for m in maps for g in m["group"] for e in g["element"] for t in e["target"]]
    assert len(targets) == len(kg.mapping_set.mappings)
    assert {t["equivalence"] for t in targets} <= R4_EQUIVALENCE
    assert all(t.get("comment") for t in targets if t["equivalence"] in ("narrower", "inexact"))
    systems = {g.get("target") for m in maps for g in m["group"]}
    used = {m.object_id.split(":")[0] for m in kg.mapping_set.mappings if not m.is_no_term_found}
    expected = {"SNOMEDCT": "http://snomed.info/sct", "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
                "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm", "ATC": "http://www.whocc.no/atc"}
    assert {expected[p] for p in used if p in expected} <= systems
    valuesets = {r["id"] for r in resources if r["resourceType"] == "ValueSet"}
    assert valuesets == {"hipkg-indication-triggers", "hipkg-contraindication-triggers"}
    plans = [r for r in resources if r["resourceType"] == "PlanDefinition"]  # one per guideline recommendation
    assert len(plans) == len(kg.query("recommend/guideline-recommendations").rows) >= 25
    ratings = [x["valueCodeableConcept"] for p in plans for a in p["action"] for x in a["extension"]
               if x["url"] == "http://hl7.org/fhir/StructureDefinition/cqf-strengthOfRecommendation"]
    assert len(ratings) == len(plans) and {c["code"] for r in ratings for c in r.get("coding", ())} == {"strong", "weak"}


def check_graph(load: Callable[[Path], nx.Graph]) -> Callable:
    def check(kg, path: Path) -> None:
        expected = kg.to_networkx()
        graph = load(path)
        assert set(graph.nodes) == set(expected.nodes)
        assert sorted((u, v, d["predicate"]) for u, v, d in graph.edges(data=True)) == \
            sorted((u, v, d["predicate"]) for u, v, d in expected.edges(data=True))
        node = next(iter(expected.nodes))
        assert graph.nodes[node]["label"] == expected.nodes[node]["label"]
        assert graph.nodes[node]["type"] == expected.nodes[node]["type"]

    return check


def load_nodelink(path: Path) -> nx.Graph:
    return nx.node_link_graph(json.loads(path.read_text(encoding="utf-8")), edges="edges")


def check_csv(kg, path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    columns = {"exact_match": "skos:exactMatch", "close_match": "skos:closeMatch", "narrow_match": "skos:narrowMatch",
               "broad_match": "skos:broadMatch", "related_match": "skos:relatedMatch"}
    assert list(rows[0]) == ["id", "type", "label", "definition", "synonyms", *columns]
    assert [r["id"] for r in rows] == [curie(c) for c in concepts(kg)]
    codes = {(r["id"], p, c) for r in rows for column, p in columns.items() for c in r[column].split("|") if c}
    assert codes == code_rows(kg)  # each code under the predicate the mapping table gives it
    assert any("|" in r["synonyms"] for r in rows)


CHECKS: dict[str, Callable] = {
    "turtle": check_rdf("turtle", knowledge_graph),
    "ntriples": check_rdf("nt", knowledge_graph),
    "jsonld": check_jsonld,
    "owl": check_owl,
    "skos": check_skos,
    "sssom": check_sssom,
    "fhir": check_fhir,
    "graphml": check_graph(lambda p: nx.read_graphml(p, force_multigraph=True)),
    "nodelink": check_graph(load_nodelink),
    "csv": check_csv,
}


def test_every_registered_format_is_tested() -> None:
    assert set(CHECKS) == set(EXPORTERS)


@pytest.mark.parametrize("fmt", list(EXPORTERS))
def test_export_format(fmt: str, kg, tmp_path: Path) -> None:
    """`hipkg export --to FMT -o PATH` writes the format and it reads back intact."""
    suffix = {"sssom": ".sssom.tsv"}.get(fmt, f".{fmt}")
    path = tmp_path / f"hipkg{suffix}"
    assert main(["export", "--to", fmt, "-o", str(path)]) == 0
    assert path.stat().st_size > 0
    CHECKS[fmt](kg, path)


def test_export_to_stdout(kg, capsys) -> None:
    assert main(["export", "--to", "ntriples"]) == 0
    out = capsys.readouterr().out
    assert isomorphic(Graph().parse(data=out, format="nt"), knowledge_graph(kg))


def test_export_binary_to_stdout(capsysbinary) -> None:
    assert main(["export", "--to", "graphml"]) == 0
    assert capsysbinary.readouterr().out.startswith(b"<?xml")


def test_unknown_format_lists_known_ones(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["export", "--to", "docx"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "docx" in err and all(name in err for name in EXPORTERS)


def test_help_lists_formats(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["export", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(e.description in " ".join(out.split()) for e in EXPORTERS.values())


def test_unwritable_output_names_the_path(tmp_path: Path, capsys) -> None:
    target = tmp_path / "missing-dir" / "out.ttl"
    assert main(["export", "--to", "csv", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and "Traceback" not in err


def test_to_networkx_scope(kg) -> None:
    graph = kg.to_networkx()
    assert isinstance(graph, nx.MultiDiGraph)
    assert set(graph.nodes) == {curie(c) for c in concepts(kg)}
    predicates = {k for _, _, k in graph.edges(keys=True)}
    assert "skos:broader" in predicates
    assert "hipkg:within" not in predicates and "rdf:type" not in predicates
    assert not any(n.startswith("hipkg:Passage_") for n in graph.nodes)
    assert all(graph.nodes[n]["label"] and graph.nodes[n]["type"] for n in graph.nodes)


def test_graph_stats(capsys) -> None:
    assert main(["graph", "stats", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nodes"] > 0 and data["edges"] > 0
    assert len(data["top_degree"]) == 10
    assert data["weakly_connected_components"] == len(data["component_sizes"]) >= 1
    assert sum(data["component_sizes"]) == data["nodes"]


def test_graph_stats_table(capsys) -> None:
    assert main(["graph", "stats"]) == 0
    assert "top 10 by degree" in capsys.readouterr().out


def _linked_pair(kg) -> tuple[str, str, str, str]:
    """Two concepts two statements apart (found in the data, so the test holds as the kb grows)."""
    graph = kg.to_networkx()
    for a, b, key in sorted(graph.edges(keys=True)):
        for _, c, key2 in sorted(graph.out_edges(b, keys=True)):
            if c != a and not graph.has_edge(a, c) and not graph.has_edge(c, a):
                return a, c, graph.nodes[c]["label"], key
    pytest.skip("no two-step chain in the graph")


def test_graph_path_by_curie_and_label(kg, capsys) -> None:
    a, c, c_label, first = _linked_pair(kg)
    assert main(["graph", "path", a, c_label.upper(), "--format", "json"]) in (0, 2)
    out, err = capsys.readouterr()
    if err:  # label shared by several concepts: fall back to the CURIE
        assert main(["graph", "path", a, c, "--format", "json"]) == 0
        out = capsys.readouterr().out
    data = json.loads(out)
    assert data["source"] == a and data["target"] == c
    assert len(data["path"]) == 2
    assert all(step["predicate"] for step in data["path"])
    assert main(["graph", "path", a, c]) == 0
    assert "2 statements" in capsys.readouterr().out


def test_graph_path_unknown_concept(capsys) -> None:
    assert main(["graph", "path", "hipkg:NoSuchThing", "hip pain"]) == 2
    err = capsys.readouterr().err
    assert "hipkg:NoSuchThing" in err and "Traceback" not in err


def test_owl_export_loads_in_owlready2_and_py_horned_owl(kg, tmp_path) -> None:
    """#17: no query-index vocabulary (a class of properties, which owlready2 refused with a metaclass conflict); the
    same classes in both readers as the export declares."""
    import owlready2
    import pyhornedowl
    from rdflib.namespace import OWL, RDF

    from hipkg.export.owl import owl_graph

    path = tmp_path / "hipkg.owl"
    graph = owl_graph(kg)
    path.write_text(graph.serialize(format="pretty-xml"), encoding="utf-8")
    assert "QueryIndexProperty" not in path.read_text(encoding="utf-8")
    declared = {c for c in graph.subjects(RDF.type, OWL.Class) if str(c).startswith("https://w3id.org/hipkg/")}
    world = owlready2.World()
    onto = world.get_ontology(path.as_uri()).load()
    assert {c.iri for c in onto.classes()} >= {str(c) for c in declared}
    horned = pyhornedowl.open_ontology(str(path), "rdf")
    assert set(horned.get_classes()) >= {str(c) for c in declared}
