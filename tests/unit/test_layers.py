"""The layer contract of the package, read from the source: imports point down the pipeline, never up.

Every `import` counts, the ones inside functions and under TYPE_CHECKING too: a lazy import is still a
dependency, only a later one. A module may import its own layer's modules and every layer below; within
a layer, modules import each other without cycles. A new module must be given its layer here, so that
where it sits is a decision and not an accident.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "vfleet"

# Lowest first. A unit is a top-level module or a subpackage of vfleet.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("values and formats", ("core", "toolchain")),
    ("the repository", ("repo",)),
    ("spec types", ("specs",)),
    # The compile stages in the order they run, then what reads a compiled fleet.
    ("compile stages", ("load", "model", "params", "place", "render", "desired", "compile", "owners", "waves",
                        "reach")),
    ("policy gate", ("policy",)),
    ("plan", ("plan",)),
    ("apply", ("apply",)),
    ("live clusters", ("live",)),
    ("lifecycle", ("lifecycle",)),
    ("the library API", ("api",)),
    ("reports", ("report",)),  # render what the API returns; every renderer is handed its console
    ("commands and developer tools", ("cli", "devclusters")),
]
LAYER_OF = {unit: index for index, (_, units) in enumerate(LAYERS) for unit in units}
# Only the commands talk to the terminal; every stage returns what it found (findings, reports).
MAY_PRINT = {"cli", "devclusters", "toolchain"}  # toolchain and devclusters have a `python -m` entry of their own


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imports(name: str, path: Path) -> set[str]:
    """The vfleet modules `name` imports (a `from m import x` counts as m.x when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    known = {module for module, _ in _modules()}
    return {module for module in found if module in known and module != name}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""  # "" is vfleet/__init__ itself


def test_every_unit_has_a_layer() -> None:
    units = {_unit(name) for name, _ in _modules()} - {""}
    assert sorted(units - LAYER_OF.keys()) == [], "give each new module or package its layer in LAYERS"
    assert sorted(LAYER_OF.keys() - units) == [], "LAYERS names a unit that is gone"


def test_the_package_root_imports_nothing_of_its_own() -> None:
    assert _imports("vfleet", PACKAGE / "__init__.py") == set()  # importing vfleet.x must not load y


def test_imports_point_down_the_layers() -> None:
    upward = []
    for name, path in _modules():
        unit = _unit(name)
        if not unit:
            continue
        for target in sorted(_imports(name, path)):
            other = _unit(target)
            if other and other != unit and LAYER_OF[other] > LAYER_OF[unit]:
                upward.append(f"{name} ({LAYERS[LAYER_OF[unit]][0]}) imports {target} "
                              f"({LAYERS[LAYER_OF[other]][0]})")
    assert upward == []


def test_the_compile_stages_import_only_the_stages_before_them() -> None:
    """Within the compile layer the order of LAYERS is the run order: load, model, params, place, render,
    desired; a stage may read what an earlier one produced, never a later one."""
    order = dict(LAYERS)["compile stages"]
    later = []
    for name, path in _modules():
        unit = _unit(name)
        if unit not in order:
            continue
        for target in sorted(_imports(name, path)):
            other = _unit(target)
            if other in order and order.index(other) > order.index(unit):
                later.append(f"{name} ({unit}) imports {target} ({other}, which runs after it)")
    assert later == []


def test_no_import_cycles_between_modules() -> None:
    graph = {name: _imports(name, path) for name, path in _modules()}
    # A package's __init__ re-exporting its modules is not a cycle with them: drop parent <- child edges.
    graph = {name: {t for t in targets if not name.startswith(f"{t}.")} for name, targets in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target):], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert [" -> ".join(cycle) for cycle in cycles] == []


@pytest.mark.parametrize("name,path", [(n, p) for n, p in _modules() if _unit(n) not in MAY_PRINT],
                         ids=lambda value: value if isinstance(value, str) else "")
def test_stages_never_print(name: str, path: Path) -> None:
    """Output goes through a renderer given its console or stream, never to the process's own."""
    calls = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            calls.append(f"{path.name}:{node.lineno} print()")
        if (isinstance(node, ast.Attribute) and node.attr in {"stdout", "stderr"}
                and isinstance(node.value, ast.Name) and node.value.id == "sys"):
            calls.append(f"{path.name}:{node.lineno} sys.{node.attr}")
    assert calls == []
