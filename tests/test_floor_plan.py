"""The floor plan holds: no import circles in harness/ (imports inside functions included), no
package imports one above it, and the code that runs inside environments imports nothing of the
host's."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "harness"


def _module_name(path):
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, name):
    """The harness modules a file imports, anywhere in it (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("harness"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("harness"):
                continue
            for alias in node.names:  # `from . import cells`: the module harness.results.cells
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module)
    return {m for m in found if m in MODULES and m != name}


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: _imports(path, name) for name, path in MODULES.items()}


def _cycle():
    """One import circle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(GRAPH):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


# harness/'s packages from the bottom up (README, "Where things live"): a module imports its own
# package and those below it. The modules at the top (cli, workflow, __main__) may import any.
FLOORS = ("inside", "core", "config", "envs", "results", "stages", "report", "byo", "ci")


def _floor(module):
    """A module's floor: -1 for harness itself (its version), len(FLOORS) for the top modules."""
    parts = module.split(".")
    if len(parts) == 1:
        return -1
    return FLOORS.index(parts[1]) if parts[1] in FLOORS else len(FLOORS)


def _upward():
    """Every import from a module to one on a higher floor."""
    return sorted((m, t) for m, targets in GRAPH.items() for t in targets if _floor(t) > _floor(m))


def test_every_package_of_harness_is_a_floor():
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(FLOORS)


def test_no_module_imports_one_on_a_floor_above():
    assert _upward() == []


def test_the_floor_rule_sees_an_upward_import():
    GRAPH["harness.core.errors"].add("harness.report.model")
    try:
        assert _upward() == [("harness.core.errors", "harness.report.model")]
    finally:
        GRAPH["harness.core.errors"].discard("harness.report.model")


def test_no_module_of_harness_imports_one_that_imports_it_back():
    assert len(MODULES) > 70
    assert _cycle() is None, " -> ".join(_cycle())


def test_the_inside_imports_nothing_of_the_host():
    inside = {m for m in MODULES if m.startswith("harness.inside")}
    leaks = {m: sorted(GRAPH[m] - inside - {"harness"}) for m in inside if GRAPH[m] - inside - {"harness"}}
    assert leaks == {}


def test_the_graph_sees_imports_inside_functions():
    # cli imports the workflow only inside its verbs: the graph must still have that edge.
    assert "harness.workflow" in GRAPH["harness.cli"]


def test_tests_are_laid_out_like_the_packages():
    folders = {p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name not in ("data", "__pycache__")}
    # A folder of tests is named after the package it tests (the cross-cutting ones stay in tests/).
    assert folders <= set(FLOORS), sorted(folders - set(FLOORS))
    assert all(any(folder.glob("test_*.py")) for folder in (REPO / "tests" / f for f in folders))
