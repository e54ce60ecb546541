"""The import contract of ``src/aurora_xai``: arrows point one way.

Read from the source with :mod:`ast` (nothing is imported). Every import of a project
module counts: at module level, inside a function, under ``if TYPE_CHECKING``. The rules:

1. Leaf modules (:data:`LEAVES`: ``sections``, the schema access and conversion helpers)
   import nothing of the project's.
2. Only the composition layer (:data:`COMPOSITION`: ``settings``, the composition root,
   and ``config``, the checks across keys) imports the composition layer; the domain
   modules know nothing of the config beyond the leaf helpers.
3. ``settings`` imports the project's modules at module level only (it builds every
   section from types it imports at its top, none inside a function).
4. The project's imports, all of them together, form no cycle (a function-level import
   cannot hide one).

:func:`check` is tried on a small package in ``tmp_path`` too, so that it is known to
fail on a back-arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "aurora_xai"
#: Modules that import nothing of the project's.
LEAVES = frozenset({"sections"})
#: The composition layer: only it imports itself.
COMPOSITION = frozenset({"settings", "config"})
#: Modules that import the project's modules at module level only.
MODULE_LEVEL_ONLY = frozenset({"settings"})


def _modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted name (relative to ``package``, ``""`` for its ``__init__``) -> file."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root / package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _top_level_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes executed when the module is imported (not inside a def)."""
    out: set[int] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.add(id(child))
            visit(child)

    visit(tree)
    return out


def _targets(node: ast.AST, name: str, is_package: bool, package: str, known: set[str]) -> Iterator[str]:
    """The project modules (relative dotted names) one import statement names."""

    def deepest(dotted: str) -> str | None:
        parts = dotted.split(".")
        while parts:
            if ".".join(parts) in known:
                return ".".join(parts)
            parts.pop()
        return "" if "" in known else None

    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == package or alias.name.startswith(package + "."):
                found = deepest(alias.name[len(package) + 1 :])
                if found is not None:
                    yield found
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        here = name.split(".") if name else []
        base = here if is_package else here[:-1]
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
    elif node.module and (node.module == package or node.module.startswith(package + ".")):
        stem = node.module[len(package) + 1 :]
    else:
        return
    for alias in node.names:
        sub = f"{stem}.{alias.name}" if stem else alias.name
        found = sub if sub in known else deepest(stem) if stem else ("" if "" in known else None)
        if found is not None:
            yield found


def imports(root: Path, package: str) -> dict[str, list[tuple[str, bool, int]]]:
    """Module -> ``(imported module, at module level, line)`` for each project import."""
    modules = _modules(root, package)
    known = set(modules)
    out: dict[str, list[tuple[str, bool, int]]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        top = _top_level_nodes(tree)
        edges = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(node, name, path.name == "__init__.py", package, known):
                    if target != name:
                        edges.append((target, id(node) in top, node.lineno))
        out[name] = edges
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def check(
    root: Path,
    package: str,
    leaves: frozenset[str] = LEAVES,
    composition: frozenset[str] = COMPOSITION,
    module_level_only: frozenset[str] = MODULE_LEVEL_ONLY,
) -> list[str]:
    """Every breach of the contract (see the module docstring), one message each."""
    edges = imports(root, package)
    problems = []
    for name, targets in sorted(edges.items()):
        for target, at_top, line in targets:
            where = f"{package}.{name} (line {line}) imports {package}.{target}"
            if name in leaves:
                problems.append(f"{where}: a leaf module imports nothing of the project's")
            if _top(target) in composition and _top(name) not in composition:
                problems.append(f"{where}: only {sorted(composition)} import the composition layer")
            if name in module_level_only and not at_top:
                problems.append(f"{where} inside a function: {name} imports at module level only")
    graph = {name: {t for t, _, _ in targets} for name, targets in edges.items()}
    for cycle in _cycles(graph):
        problems.append(f"import cycle among {', '.join(f'{package}.{m}' for m in cycle)}")
    return problems


def test_the_package_keeps_its_import_contract():
    problems = check(SRC, PACKAGE)
    assert not problems, "\n".join(problems)


def test_the_contract_names_modules_that_exist():
    modules = set(_modules(SRC, PACKAGE))
    assert LEAVES | COMPOSITION | MODULE_LEVEL_ONLY <= modules


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"pkg/__init__.py": "", **files}.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


CLEAN = {
    "pkg/sections.py": "import json\n",
    "pkg/dates.py": "from .sections import require\n",
    "pkg/sub/__init__.py": "",
    "pkg/sub/spec.py": "from ..sections import require\nfrom pkg.dates import DateSpec\n",
    "pkg/settings.py": "from .dates import DateSpec\nfrom .sub.spec import Spec\n",
    "pkg/config.py": "from .settings import Settings\n",
}


def test_a_clean_package_passes(tmp_path):
    assert check(_package(tmp_path, CLEAN), "pkg") == []


@pytest.mark.parametrize(
    "change, message",
    [
        ({"pkg/dates.py": "def f():\n    from .settings import Settings\n"}, "import the composition layer"),
        (
            {"pkg/sub/spec.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.settings\n"},
            "composition",
        ),
        ({"pkg/sections.py": "from . import dates\n"}, "a leaf module imports nothing"),
        ({"pkg/settings.py": "def f():\n    from .dates import DateSpec\n"}, "at module level only"),
        ({"pkg/dates.py": "from .sub.spec import Spec\n"}, "import cycle among pkg.dates, pkg.sub.spec"),
        ({"pkg/dates.py": "def f():\n    from .sub import spec\n"}, "import cycle"),
    ],
)
def test_a_back_arrow_fails_the_check(tmp_path, change, message):
    problems = check(_package(tmp_path, {**CLEAN, **change}), "pkg")
    assert any(message in p for p in problems), problems
