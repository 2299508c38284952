"""Which of the project's source files a Lambda handler imports, read from the source (no import).

A function that needs a few modules ships those, not both packages: the intake Lambda's asset is
the closure of ``scheduler_host.service.intake`` over the project's own imports.  Parsing with
:mod:`ast` instead of importing keeps the synth free of the handler's dependencies, and sees
imports inside functions too.  Imports under ``if TYPE_CHECKING:`` never run and are skipped.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

#: The project's top-level packages; every other import is a dependency.
PROJECT_PACKAGES = frozenset(("runtime", "scheduler_host"))


@dataclass(frozen=True)
class ImportClosure:
    """What a module needs at run time.

    Attributes
    ----------
    files:
        Paths relative to the repository root, sorted: the modules reached and the
        ``__init__.py`` of every package on their way.
    dependencies:
        Top-level names of the third-party packages those files import (not the standard
        library's, not the project's), sorted.
    """

    files: tuple[str, ...]
    dependencies: tuple[str, ...]


def import_closure(module: str, *, root: Path) -> ImportClosure:
    """The project files ``module`` imports, transitively, and the dependencies they import.

    Parameters
    ----------
    module:
        A dotted module name under one of :data:`PROJECT_PACKAGES`, e.g. a handler's module.
    root:
        The repository root holding the packages.
    """
    files: set[Path] = set()
    dependencies: set[str] = set()
    pending = [(module, True)]
    seen: set[str] = set()
    while pending:
        name, required = pending.pop()
        if name in seen:
            continue
        path = _source(name, root)
        if path is None:
            if required:
                raise ModuleNotFoundError(f"{name} is not a module under {root}")
            continue  # ``from package import name`` of a function or class
        seen.add(name)
        files.add(path)
        parts = name.split(".")
        for depth in range(1, len(parts)):  # the packages' __init__ run first
            pending.append((".".join(parts[:depth]), True))
        is_package = path.name == "__init__.py"
        package = name if is_package else ".".join(parts[:-1])
        for imported, must_exist in _imports(path, package=package):
            top = imported.split(".")[0]
            if top in PROJECT_PACKAGES:
                pending.append((imported, must_exist))
            elif top not in sys.stdlib_module_names and top:
                dependencies.add(top)
    relative = sorted(str(path.relative_to(root)) for path in files)
    return ImportClosure(files=tuple(relative), dependencies=tuple(sorted(dependencies)))


def _source(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, *, package: str) -> list[tuple[str, bool]]:
    """The modules ``path`` imports, each with whether it must exist: ``from p import n`` yields
    ``p`` (must) and ``p.n`` (only if ``n`` is a submodule rather than a name defined in ``p``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, bool]] = []
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, True) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package=package)
            found.append((base, True))
            found.extend((f"{base}.{a.name}", False) for a in node.names if a.name != "*")
    return found


def _absolute(node: ast.ImportFrom, *, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    anchor = package.split(".")
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:`` (they never run)."""
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )
