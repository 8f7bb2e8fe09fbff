"""The library's shape: no import circle, and stages import only the stages before them.

Read from the source with `ast` (every import statement, also those inside functions), so
a lazy import that closes a circle counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tokattn"

# Data flows forward: a package may import its own layer and the layers before it.
LAYERS = [
    {"common"},
    {"corpus"},
    {"tokenizing"},
    {"training"},
    {"attention"},
    {"evaluation", "viewer"},
    {"report"},
    {"cli"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    mods = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (relative imports resolved)."""
    mods = module_files(package)
    graph = {}
    for name, path in mods.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets.add(module)
                targets |= {f"{module}.{alias.name}" for alias in node.names}
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first search meets (each as a closed path of module names)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return cycles


def test_the_graph_sees_the_imports_it_must_see():
    graph = import_graph()
    assert "tokattn.attention.store" in graph["tokattn.cli.store"]
    assert "tokattn.common.atomic_files" in graph["tokattn.attention.store_writer"]


def test_find_cycles_finds_a_circle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_through_others():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_stage_package_is_placed_in_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(RANK), (
        f"packages without a layer or layers without a package: {packages ^ set(RANK)}"
    )


def test_stages_import_only_earlier_stages():
    backwards = []
    for module, targets in import_graph().items():
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in RANK:
            continue  # tokattn/__init__.py
        for target in targets:
            tparts = target.split(".")
            if len(tparts) >= 2 and tparts[1] in RANK and RANK[tparts[1]] > RANK[parts[1]]:
                backwards.append(f"{module} imports {target}")
    assert not backwards, "\n".join(sorted(backwards))
