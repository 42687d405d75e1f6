"""The import graph draws the flow: imports run one way, from lower layers to higher ones, and never in a circle.

Layers, lowest first: ``schemas`` ← ``domain`` (pure rules shared by services) ← ``kernel`` (the platform) ←
``services`` (intake, router, notifier; never each other) ← ``complaintflow`` (the application) ← ``tools``.
Every import counts, those inside functions too: a local import does not make an arrow go the other way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("schemas", "domain", "kernel", "services", "complaintflow", "tools")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for top in LAYERS:
        for path in sorted((ROOT / top).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (a ``from package import module`` names the module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in MODULES else base)
    resolved = set()
    for target in targets:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def _service(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def test_the_graph_covers_every_layer() -> None:
    assert {m.split(".")[0] for m in MODULES} == set(LAYERS)
    assert "kernel.state" in GRAPH["services.router.lifecycle"]


def test_no_import_from_a_higher_layer() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _layer(target) > _layer(module)
    )
    assert upward == []


def test_no_service_imports_another() -> None:
    crossing = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _service(module) and _service(target) and _service(module) != _service(target)
    )
    assert crossing == []


def test_no_import_cycles() -> None:
    """No module needs itself through any chain of imports (type-only imports included)."""
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert [" -> ".join(cycle) for cycle in cycles] == []


@pytest.mark.parametrize("role", ["intake", "router", "notifier"])
def test_a_worker_imports_only_the_kernel_the_schemas_the_domain_and_its_own_package(role: str) -> None:
    allowed = ("schemas", "domain", "kernel", f"services.{role}")
    assert sorted(t for t in GRAPH[f"services.{role}.worker"] if not t.startswith(allowed)) == []


def test_nothing_is_loaded_by_name() -> None:
    """A module loaded from a string is an arrow the graph above cannot see."""
    loaders = sorted(
        name
        for name, path in MODULES.items()
        if "import_module(" in path.read_text(encoding="utf-8") or "__import__(" in path.read_text(encoding="utf-8")
    )
    assert loaders == []
