"""The package layout's one-way import rule, checked on the source (TYPE_CHECKING imports too).

estimators -> cli -> service -> solve -> {spawners, models} -> runtime; runtime never imports
scheduler_host; nothing imports stacks; no module imports itself back through others.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runtime", "scheduler_host", "stacks")

#: Layer of each part; a module may import only from layers of lower rank.
RANK = {
    "runtime": 0,
    "scheduler_host.models": 1,  # solve_spec, assignments, results, jobs (top-level modules)
    "scheduler_host.spawners": 1,
    "scheduler_host.solve": 2,
    "scheduler_host.service": 3,
    "scheduler_host.cli": 4,
    "scheduler_host.estimators": 5,  # the scikit-learn API, a client like the CLI
    "stacks": 6,
}


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for imported in targets:
            target = imported
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(module: str) -> str:
    for prefix in (
        "scheduler_host.spawners",
        "scheduler_host.solve",
        "scheduler_host.service",
        "scheduler_host.cli",
        "scheduler_host.estimators",
    ):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    if module.startswith("scheduler_host"):
        return "scheduler_host.models"
    return module.split(".", maxsplit=1)[0]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_imports_run_one_way() -> None:
    wrong = []
    for module, targets in _graph().items():
        for target in targets:
            here, there = _layer(module), _layer(target)
            if here == there:
                continue
            if RANK[there] >= RANK[here] or there == "stacks":
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*trail[trail.index(target) :], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_layout_shows_the_roles() -> None:
    for package in ("solve", "service", "cli", "spawners", "estimators"):
        assert (ROOT / "scheduler_host" / package / "__init__.py").is_file()
    flat = sorted(p.name for p in (ROOT / "scheduler_host").glob("*.py"))
    assert flat == [
        "__init__.py",
        "assignments.py",
        "jobs.py",
        "model_file.py",
        "results.py",
        "solve_spec.py",
    ]
