"""The import floors: every ``import ablate...`` in ablate/ and plugins/, lazy and
type-only ones included, runs down the floors, and no module sits on an import cycle.

Floors, from the ground up: core (errors, hookspecs with the kinds, contracts, config and
its ranges, corpus, locks, ...), the registry, the plugin manager, the slot table, the
contract checks (and :mod:`ablate.testing` on them), models/ and data/, training/,
tracking/, studies/, cli/. A module may import its own floor or lower ones; the
built-ins in plugins/ only core, models/ and data/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = [
    "core",
    "ablate.registry",
    "ablate.plugins",
    "ablate.slots",
    "ablate.checks",
    "ablate.models|ablate.data",
    "ablate.training",
    "ablate.tracking",
    "ablate.studies",
    "ablate.cli",
]
#: modules above their package's place: the testing helper sits on the checks
PLACED = {"ablate.testing": "ablate.checks", "ablate.__main__": "ablate.cli"}
BUILTIN_MAY_IMPORT = {"core", "ablate.models|ablate.data", "ablate_plugins"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "plugins":
        parts[0] = "ablate_plugins"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _floor(module: str) -> str:
    if module.startswith("ablate_plugins"):
        return "ablate_plugins"
    module = next((f for m, f in PLACED.items() if module == m), module)
    for floor in FLOORS[1:]:
        if any(module == p or module.startswith(f"{p}.") for p in floor.split("|")):
            return floor
    return "core"


def _graph() -> dict[str, set[str]]:
    files = sorted([*(ROOT / "ablate").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")])
    modules = {_module(f): f for f in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != module and name != "ablate":
                    graph[module].add(name)
    return graph


GRAPH = _graph()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_sits_on_an_import_cycle():
    assert _cycles(GRAPH) == []


def test_every_import_runs_down_the_floors():
    rank = {floor: i for i, floor in enumerate(FLOORS)}
    up = []
    for module, imports in GRAPH.items():
        own = _floor(module)
        for target in imports:
            theirs = _floor(target)
            if own == "ablate_plugins":
                if theirs not in BUILTIN_MAY_IMPORT:
                    up.append(f"{module} -> {target}")
            elif theirs == "ablate_plugins" or rank[theirs] > rank[own]:
                up.append(f"{module} -> {target}")
    assert up == []


def test_the_check_finds_a_cycle_and_an_import_running_up():
    """The checks above are not vacuous: a planted cycle and an upward import are seen."""
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert _cycles(graph) == [["a", "b"]]
    assert _floor("ablate.cli.run_cmd") == "ablate.cli"
    assert _floor("ablate.config") == "core"
    assert _floor("ablate.testing") == "ablate.checks"
    assert "ablate.slots" in GRAPH["ablate.checks.parts"]  # imports are read


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if not m.startswith("ablate_plugins")))
def test_ablate_modules_are_imported_by_plain_statements(module):
    """No ``importlib.import_module("ablate...")``: a reader of the text sees every arrow
    (the plugin manager's names of the built-in modules aside)."""
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    text = path.read_text()
    if module == "ablate.plugins":
        return
    assert "import_module(" not in text
