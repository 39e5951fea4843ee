"""The package's import graph: no cycles, and imports only flow down the layers.

Every module under ``popgames/``, ``solvers/``, ``analysis/`` and ``games/`` is parsed with
``ast``; every import counts, also those inside functions (the lazy ones). Layers, from
the bottom (ARCHITECTURE.md): core -> solvers -> kinds (and games) -> loops (and
analysis.exploitability) -> runs (and analysis.reports) -> faces. A module may import
from its own layer or the layers below it, never above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"popgames": "popgames", "solvers": "popgames.solvers", "analysis": "popgames.analysis",
          "games": "popgames.games"}
#: Module-name prefixes -> layer (longest prefix wins).
LAYERS = {
    "popgames.core": 0,
    "popgames.solvers": 1,
    "popgames.kinds": 2, "popgames.games": 2,
    "popgames.loops": 3, "popgames.analysis.exploitability": 3, "popgames.analysis": 3,
    "popgames.runs": 4, "popgames.analysis.reports": 4,
    "popgames": 5,   # the faces and the package's own __init__
}


def module_files() -> dict[str, Path]:
    """Every module of the package by its dotted name."""
    found = {}
    for folder, package in MAPPED.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
        for source in sorted((ROOT / folder).rglob("*.c")):   # C extensions: leaves of the graph
            rel = source.relative_to(ROOT / folder).with_suffix("")
            found[".".join([package, *rel.parts])] = source
    return found


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``module`` imports anywhere in its file (``from x import y`` counts
    ``x.y`` when that is a module, else ``x``)."""
    if path.suffix != ".py":
        return set()
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([node.module] if node.module else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            # ``import a.b.c`` imports a, a.b and a.b.c; the deepest known module is the edge.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and name != "popgames":
                out.add(name)
    return out


GRAPH = {m: imports(m, p, set(module_files())) for m, p in module_files().items()}


def test_the_graph_covers_the_layout():
    for module in ("popgames.core.protocols", "popgames.kinds.registry", "popgames.loops.psro",
                   "popgames.runs.driver", "popgames.solvers.registry", "popgames.analysis.reports"):
        assert module in GRAPH
    assert "popgames.kinds.registry" in GRAPH["popgames.loops.psro"]


def test_imports_never_run_up_a_layer():
    upward = sorted(f"{m} ({layer(m)}) imports {d} ({layer(d)})" for m, deps in GRAPH.items()
                    for d in deps if layer(d) > layer(m))
    assert not upward, "\n".join(upward)


def _cycle() -> list[str] | None:
    """One import cycle, as a path of modules, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(GRAPH[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycles():
    cycle = _cycle()
    assert cycle is None, " -> ".join(cycle)


@pytest.mark.parametrize("fake, cause", [
    ({"a.x": {"a.y"}, "a.y": {"a.x"}}, "cycle"),
])
def test_the_cycle_check_finds_a_planted_cycle(monkeypatch, fake, cause):
    monkeypatch.setattr(__import__(__name__), "GRAPH", {**GRAPH, **fake})
    assert _cycle() is not None


def test_the_layer_check_sees_an_upward_import():
    assert layer("popgames.core.errors") < layer("popgames.kinds.registry") < layer("popgames.runs.driver")
    assert layer("popgames.analysis.reports.psro") == layer("popgames.runs.folder")
    assert layer("popgames.psro") == 5 and layer("popgames.analysis.exploitability") == 3
