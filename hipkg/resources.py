"""Where the bundled data lives: inside the installed package, read with importlib.resources."""
from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable


def ontology_dir() -> Traversable:
    return files("hipkg") / "ontology"


def queries_dir() -> Traversable:
    return files("hipkg") / "queries"


def examples_dir() -> Traversable:
    """The example situations (examples/ of the repository, shipped in the package): the home page links to them."""
    return files("hipkg") / "examples"


def walk(root: Traversable, suffix: str) -> list[Traversable]:
    """Every file under ``root`` ending in ``suffix``, in a stable (sorted path) order."""
    found: list[tuple[str, Traversable]] = []

    def visit(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            path = f"{prefix}{child.name}"
            if child.is_dir():
                visit(child, path + "/")
            elif child.name.endswith(suffix):
                found.append((path, child))

    visit(root, "")
    return [t for _, t in sorted(found, key=lambda item: item[0])]


def relative_name(root: Traversable, node: Traversable) -> str:
    """Path of ``node`` below ``root`` as a/b/c.ttl (for messages and query names)."""
    return str(node).replace(str(root), "", 1).lstrip("/\\").replace("\\", "/")
