"""Bound values reach the engine unchanged (issue #14): quotes, backslashes, line breaks, tabs, NUL and non-BMP
characters come back as given on both engines, and a backslash before u or U, which a parser may expand as a codepoint
escape anywhere in a query (rdflib does), is refused on both rather than changed on one."""
from __future__ import annotations

import pytest
from rdflib import XSD, Literal

import hipkg
from hipkg.errors import InputError

SAME = ['q"uote', "back\\slash", "two\\\\backslashes", "line\nbreak", "cr\rx", "tab\tx", "nul\x00x", "emoji\U0001F600",
        "\u00e9t\u00e9", "end\\", Literal("3.5", datatype=XSD.decimal), Literal("t\tab", lang="en")]
REFUSED = ["a\\u0022b", "a\\u005Cb", "a\\U0001F600b", "a\\\\u0022b"]


@pytest.fixture(scope="module", params=["oxigraph", "rdflib"])
def kg(request):
    return hipkg.load(engine=request.param)


@pytest.mark.parametrize("value", SAME, ids=repr)
def test_a_bound_value_comes_back_as_given(kg, value):
    (row,) = kg.sparql("SELECT ?x WHERE { }", x=value).rows
    assert (row[0] == value) if isinstance(value, Literal) else (str(row[0]) == value and row[0].datatype is None)


@pytest.mark.parametrize("value", REFUSED, ids=repr)
def test_a_value_a_parser_could_change_is_refused(kg, value):
    with pytest.raises(InputError, match="backslash followed by u or U"):
        kg.sparql("SELECT ?x WHERE { }", x=value)


def test_the_cli_refuses_it_with_exit_2(capsys):
    from hipkg.cli import main

    assert main(["query", "knowledge/pros-cons", "--param", "kind=a\\u0022b"]) == 2
    assert "backslash followed by u or U" in capsys.readouterr().err
