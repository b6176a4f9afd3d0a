"""The shape of the code, checked statically from the source: no import cycles, the manifest
requires exactly what production code imports, and no library module grows past the size
a reader can hold in their head.

Every import counts, also those inside functions and under ``if TYPE_CHECKING:``: a cycle
hidden there is still a dependency pointing the wrong way.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / "ch_smart_meter"
PACKAGE = "custom_components.ch_smart_meter"
LIBRARY = INTEGRATION / "reader"
# About 600 lines, with a little room: a module past this holds two concerns.
MAX_LIBRARY_LINES = 650
# Distribution names of the import names production code uses.
DISTRIBUTIONS = {"serialx": "serialx", "cryptography": "cryptography"}
# Part of Home Assistant itself (or of the standard library): never in the manifest.
PROVIDED = {"homeassistant", "voluptuous", "aiohttp"}


def _module_name(path: Path) -> str:
    relative = path.relative_to(INTEGRATION.parent.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in INTEGRATION.rglob("*.py")}


def _imports(path: Path, module: str) -> Iterator[tuple[str, list[str]]]:
    """(imported module, names imported from it) for every import statement in a file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            if node.level:
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target, [alias.name for alias in node.names]


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names in _imports(path, name):
            if not target.startswith(PACKAGE):
                continue
            # "from package import submodule" imports the submodule.
            submodules = [f"{target}.{item}" for item in names if f"{target}.{item}" in modules]
            graph[name].update(submodules or ([target] if target in modules else []))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself: a graph with a cycle through three modules is reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_library_never_imports_the_integration() -> None:
    """The reader library depends on nothing of the Home Assistant side."""
    graph = _graph()
    library = f"{PACKAGE}.reader"
    offenders = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith(library)
        for target in targets
        if not target.startswith(library)
    }
    assert offenders == set()


def _third_party_imports() -> set[str]:
    standard = set(sys.stdlib_module_names)
    found: set[str] = set()
    for name, path in _modules().items():
        for target, _ in _imports(path, name):
            top = target.split(".")[0]
            if top and top not in standard and top != "custom_components":
                found.add(top)
    return found


def test_manifest_requires_exactly_what_production_code_imports() -> None:
    manifest = json.loads((INTEGRATION / "manifest.json").read_text(encoding="utf-8"))
    required = {re.split(r"[<>=!~\[]", requirement)[0] for requirement in manifest["requirements"]}
    imported = _third_party_imports() - PROVIDED
    assert imported <= DISTRIBUTIONS.keys(), f"unknown import: {imported - DISTRIBUTIONS.keys()}"
    assert required == {DISTRIBUTIONS[name] for name in imported}


def test_library_modules_stay_small() -> None:
    sizes = {
        str(path.relative_to(LIBRARY)): len(path.read_text(encoding="utf-8").splitlines())
        for path in LIBRARY.rglob("*.py")
    }
    assert {name: size for name, size in sizes.items() if size > MAX_LIBRARY_LINES} == {}
