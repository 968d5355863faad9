"""The floor plan, checked: layers, imports, cycles and sizes (docs/design.md).

Reads the source with ``ast``; imports nothing of the project.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest

from tests.conftest import ROOT

PACKAGES = ("broker", "host_adapter", "ui_adapter")
# Sizes beyond which a class or a function does too much (docs/design.md).
MAX_CLASS_LINES = 260
MAX_FUNCTION_LINES = 55


def modules() -> Dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = modules()


def is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute name ``from ... import`` names in ``module``."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def in_type_checking(node: ast.AST, parents: Dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def in_function(node: ast.AST, parents: Dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
    return False


def imports(name: str) -> Iterator[Tuple[str, List[str], bool]]:
    """``(module imported, names taken from it, at module level at run time)``."""
    tree = ast.parse(MODULES[name].read_text())
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):
        top = not in_function(node, parents) and not in_type_checking(node, parents)
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], top
        elif isinstance(node, ast.ImportFrom):
            yield resolve(name, node), [alias.name for alias in node.names], top


def project_edges(name: str) -> Set[str]:
    """The project modules ``name`` imports at module level when it runs."""
    edges = set()
    for target, names, top in imports(name):
        if not top or target.split(".")[0] not in PACKAGES:
            continue
        submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
        edges.update(submodules or ([target] if target in MODULES else []))
    edges.discard(name)
    return edges


def find_cycle() -> Optional[List[str]]:
    graph = {name: project_edges(name) for name in MODULES}
    done: Set[str] = set()

    def visit(name: str, path: List[str]) -> Optional[List[str]]:
        if name in path:
            return path[path.index(name) :] + [name]
        if name in done:
            return None
        for target in sorted(graph.get(name, ())):
            cycle = visit(target, path + [name])
            if cycle:
                return cycle
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = visit(name, [])
        if cycle:
            return cycle
    return None


def test_the_checks_see_the_project() -> None:
    assert {"broker.wire.calls", "broker.relay.routing", "host_adapter.adapter"} <= set(MODULES)
    assert "broker.wire.messages" in project_edges("broker.wire.calls")


def test_there_is_no_import_cycle() -> None:
    assert find_cycle() is None


def test_the_wire_layer_has_no_io() -> None:
    for name, path in MODULES.items():
        if not name.startswith("broker.wire"):
            continue
        imported = {target.split(".")[0] for target, _, _ in imports(name)}
        assert "zmq" not in imported, name
        assert "Thread(" not in path.read_text(), name


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("broker", {"host_adapter", "ui_adapter"}),
        ("host_adapter", {"ui_adapter"}),
        ("ui_adapter", {"host_adapter"}),
    ],
)
def test_dependencies_point_one_way(package: str, forbidden: Set[str]) -> None:
    for name in MODULES:
        if name.split(".")[0] != package:
            continue
        for target, _, _ in imports(name):
            assert target.split(".")[0] not in forbidden, f"{name} imports {target}"


def test_no_module_takes_a_private_name_from_another() -> None:
    for name in MODULES:
        for target, names, _ in imports(name):
            if target.split(".")[0] not in PACKAGES:
                continue
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            assert not private, f"{name} imports {private} from {target}"
            assert not any(part.startswith("_") for part in target.split(".")), (name, target)


def is_argument_builder(node: ast.AST) -> bool:
    """An argparse builder: long by nature, a list of options."""
    calls = [
        n
        for n in ast.walk(node)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "add_argument"
    ]
    return len(calls) >= 5


def test_classes_and_functions_stay_small() -> None:
    too_large = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            length = (getattr(node, "end_lineno", 0) or 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, ast.ClassDef) and length > MAX_CLASS_LINES:
                too_large.append(f"class {name}.{node.name}: {length} lines")
            elif (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                and length > MAX_FUNCTION_LINES
                and not is_argument_builder(node)
            ):
                too_large.append(f"def {name}.{node.name}: {length} lines")
    assert too_large == []
