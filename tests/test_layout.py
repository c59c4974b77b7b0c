"""The package's layout: every module imports on its own, nothing imports upward, and every import made inside a
function says why it is not at the top of its module.

The layers, lowest first: a module may import (at module level, and under ``if TYPE_CHECKING:``) only modules of its
own layer or a lower one. A package's submodules share its layer. ``hipkg`` itself, the package entry, imports no
hipkg module at module level, so any module may import it (for ``DISCLAIMER`` and ``__version__``); its ``load()`` and
``recommend()`` import the facade, hipkg.graph, on first use.
"""
from __future__ import annotations

import ast
import io
import pkgutil
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import hipkg

PACKAGE_DIR = Path(hipkg.__file__).resolve().parent

#: The layering, as data: module or package -> layer (a package's submodules are in its layer).
LAYERS: dict[str, int] = {
    "hipkg.errors": 1, "hipkg.namespaces": 1, "hipkg.resources": 1,
    "hipkg.rdfio": 2, "hipkg.report": 2, "hipkg.isolation": 2, "hipkg.results": 2, "hipkg.http": 2, "hipkg.codes": 2, "hipkg.mappings": 2, "hipkg.canonical": 2,
    "hipkg.engines": 3, "hipkg.matrix": 3, "hipkg.concept_svg": 2, "hipkg.queries": 3, "hipkg.safety": 3, "hipkg.vocabulary": 3,
    "hipkg.sparql": 4, "hipkg.store": 4, "hipkg.answer_html": 4,
    "hipkg.situations": 5, "hipkg.validation": 5,
    "hipkg.recommending": 6, "hipkg.push": 6, "hipkg.export": 6, "hipkg.fhir_in": 6,
    "hipkg.batch": 7, "hipkg.columnar": 7, "hipkg.omop": 7,
    "hipkg.graph": 8, "hipkg.cdshooks": 8, "hipkg.cohort": 8, "hipkg.synthetic": 8, "hipkg.spark": 8,
    "hipkg.cli": 9, "hipkg.serve": 9,
    "hipkg.__main__": 10,  # `python -m hipkg`: the command line as a script
}
#: The package entry: importable from every layer, since it imports no hipkg module at module level.
ENTRY = "hipkg"
#: What the entry may import under TYPE_CHECKING (the return types of load() and recommend()).
ENTRY_TYPE_CHECKING = {"hipkg.graph", "hipkg.recommending"}
#: Imports inside functions that go upward on purpose: (importer, imported) -> why.
LAZY_UPWARD = {("hipkg", "hipkg.graph"): "hipkg.load() and hipkg.recommend() build the facade on first use",
               ("hipkg", "hipkg.errors"): "hipkg.InputError and hipkg.HipkgError are handed on on first use"}

_walk_errors: list[str] = []
MODULES: list[str] = [ENTRY, *(m.name for m in pkgutil.walk_packages(hipkg.__path__, "hipkg.", onerror=_walk_errors.append))]


def layer(name: str) -> int | None:
    """The layer of a module (0 for the entry), or None when the table does not place it."""
    if name == ENTRY:
        return 0
    placed = [key for key in LAYERS if name == key or name.startswith(key + ".")]
    return LAYERS[max(placed, key=len)] if placed else None


def source_path(name: str) -> Path:
    parts = name.split(".")[1:]
    package = PACKAGE_DIR.joinpath(*parts, "__init__.py")
    return package if package.is_file() else PACKAGE_DIR.joinpath(*parts[:-1], parts[-1] + ".py")


# ---------------------------------------------------------------------------------------------- (a) each module imports alone


def import_fresh(name: str, cwd: Path = PACKAGE_DIR.parent) -> subprocess.CompletedProcess[str]:
    """``import name`` in a new interpreter, so that nothing imported before hides a circular import. It runs in the
    folder that holds the hipkg this process imported, so the child imports the same one."""
    argv = [sys.executable, "-m", "hipkg", "--version"] if name == "hipkg.__main__" else [sys.executable, "-c", f"import {name}"]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)


def import_problem(process: subprocess.CompletedProcess[str]) -> str | None:
    if process.returncode == 0:
        return None
    tail = "\n".join(process.stderr.strip().splitlines()[-12:])
    if "partially initialized module" in process.stderr:
        return f"circular import:\n{tail}"
    return f"exit code {process.returncode}:\n{tail}"


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_in_a_fresh_interpreter(name: str) -> None:
    problem = import_problem(import_fresh(name))
    assert problem is None, f"import {name}: {problem}"


def test_a_circular_import_is_detected(tmp_path: Path) -> None:
    """The check above does see a cycle: a throwaway package whose two modules import each other."""
    package = tmp_path / "cyclepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclepkg.b import B\nA = 1\n")
    (package / "b.py").write_text("from cyclepkg.a import A\nB = 2\n")
    problem = import_problem(import_fresh("cyclepkg.a", cwd=tmp_path))
    assert problem is not None and problem.startswith("circular import"), problem


def test_every_package_is_walked() -> None:
    assert _walk_errors == [], f"these packages failed to import while walking hipkg: {_walk_errors}"
    assert {"hipkg.cli.query", "hipkg.export.fhir", "hipkg.recommending.model", "hipkg.serve.app"} <= set(MODULES)


# ---------------------------------------------------------------------------------------------- (b) nothing imports upward


@dataclass(frozen=True)
class Import:
    importer: str
    target: str
    line: int
    where: str  # "module", "type-checking" or "function"
    node: ast.Import | ast.ImportFrom

    def __str__(self) -> str:
        tag = {"type-checking": " [TYPE_CHECKING]", "function": " [in a function]"}.get(self.where, "")
        return (f"{source_path(self.importer).relative_to(PACKAGE_DIR.parent)}:{self.line}: {self.importer} (layer "
                f"{layer(self.importer)}) imports {self.target} (layer {layer(self.target)}){tag}")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> list[str]:
    """The hipkg modules an import statement imports (``from pkg import sub`` imports the submodule pkg.sub)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name == ENTRY or a.name.startswith(ENTRY + ".")]
    if node.level:
        base = importer if source_path(importer).name == "__init__.py" else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        module = f"{base}.{node.module}" if node.module else base
    else:
        module = node.module or ""
    if not (module == ENTRY or module.startswith(ENTRY + ".")):
        return []
    return list(dict.fromkeys(f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names))


@cache
def parsed(name: str) -> tuple[ast.Module, str]:
    text = source_path(name).read_text(encoding="utf-8")
    return ast.parse(text, str(source_path(name))), text


@cache
def imports_of(name: str) -> tuple[Import, ...]:
    found: list[Import] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, "function")
            elif isinstance(child, ast.If) and _is_type_checking(child.test) and where != "function":
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), "type-checking")
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), where)
            else:
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    found.extend(Import(name, t, child.lineno, where, child) for t in _targets(child, name))
                visit(child, where)

    visit(parsed(name)[0], "module")
    return tuple(found)


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if layer(m) is None] == [], "add these modules to LAYERS"


def test_module_level_imports_go_to_the_same_or_a_lower_layer() -> None:
    upward = [str(i) for m in MODULES if m != ENTRY for i in imports_of(m)
              if i.where == "module" and layer(i.target) > layer(m)]
    assert upward == [], "\n".join(upward)


def test_type_checking_imports_go_to_the_same_or_a_lower_layer() -> None:
    """Imports that only type checkers make are held to the same rule (the entry's are listed in ENTRY_TYPE_CHECKING)."""
    checked = [i for m in MODULES for i in imports_of(m) if i.where == "type-checking"]
    assert checked, "no TYPE_CHECKING imports found: is the check still looking at the right nodes?"
    upward = [str(i) for i in checked
              if (i.target not in ENTRY_TYPE_CHECKING if i.importer == ENTRY else layer(i.target) > layer(i.importer))]
    assert upward == [], "\n".join(upward)


def test_the_entry_imports_no_hipkg_module_at_module_level() -> None:
    """What makes ``import hipkg`` safe from every layer: importing it never starts importing the rest."""
    assert [str(i) for i in imports_of(ENTRY) if i.where == "module"] == []


def test_imports_inside_functions_go_to_the_same_or_a_lower_layer_too() -> None:
    upward = [str(i) for m in MODULES for i in imports_of(m)
              if i.where == "function" and layer(i.target) > layer(m) and (m, i.target) not in LAZY_UPWARD]
    assert upward == [], "\n".join(upward)
    for importer, target in LAZY_UPWARD:  # the exceptions are still needed
        assert any(i.target == target for i in imports_of(importer) if i.where == "function"), (importer, target)


# ---------------------------------------------------------------------------------------------- (c) lazy imports say why

#: Directives that are not reasons: a comment holding only these does not count.
_DIRECTIVES = re.compile(r"noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^\]]*\])?|pragma:\s*no\s*cover", re.IGNORECASE)


def _comments(text: str) -> tuple[dict[int, str], set[int]]:
    """Line -> comment text, and the lines that hold nothing but a comment."""
    comments, alone = {}, set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            line = tok.start[0]
            comments[line] = tok.string
            if not tok.line[: tok.start[1]].strip():
                alone.add(line)
    return comments, alone


def _is_reason(comment: str) -> bool:
    return re.search(r"[A-Za-z]{3,}", _DIRECTIVES.sub("", comment.lstrip("#"))) is not None


def function_imports(name: str) -> list[ast.Import | ast.ImportFrom]:
    """Every Import / ImportFrom nested (at any depth) in a function of module ``name``."""
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if inside and isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append(child)
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(parsed(name)[0], False)
    return out


def test_every_import_inside_a_function_says_why() -> None:
    """A function-local import (to spare start-up time, for an optional dependency, ...) carries its reason: a
    comment on its line or on the line right above it (a bare ``# noqa`` is no reason)."""
    missing, count = [], 0
    for name in MODULES:
        text = parsed(name)[1]
        comments, alone = _comments(text)
        lines = text.splitlines()
        for node in function_imports(name):
            count += 1
            own = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
            above = [comments[node.lineno - 1]] if node.lineno - 1 in alone else []
            if not any(_is_reason(c) for c in own + above):
                missing.append(f"{source_path(name).relative_to(PACKAGE_DIR.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert count > 0, "no function-local imports found: is the check still looking at the right nodes?"
    assert missing == [], "say why these imports are inside a function (or move them to the top):\n" + "\n".join(missing)
