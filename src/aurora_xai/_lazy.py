"""Lazy package exports (PEP 562), so torch-free submodules import without torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]], namespace: Mapping[str, Any]
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for a package exporting ``{submodule: names}``.

    A name is imported from its submodule on first access, so importing one submodule
    does not import the others (nor what they import).
    """
    where = {name: mod for mod, names in exports.items() for name in names}

    def getattr_(name: str) -> Any:
        mod = where.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{mod}"), name)

    def dir_() -> list[str]:
        return sorted([*namespace, *where])

    return sorted(where), getattr_, dir_
