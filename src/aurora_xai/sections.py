"""Reading config sections into typed objects: the schema, its defaults, and conversions.

The bottom of the settings layer: it imports nothing of the project's, so every module
that defines a section's frozen dataclass beside the code that consumes it can read the
section with :func:`from_section` without knowing the composition root
(:mod:`aurora_xai.settings`), which builds each section from the validated config.

Defaults live only in the schema (``workflow/schemas/config.schema.yaml``, read by
:func:`schema`); a section's dataclass has none. :func:`section_defaults` gives a
section as the schema fills it, for building a section outside the workflow (tests,
tools). Asking for a key the mapping does not hold raises
:class:`UndeclaredSettingError` naming ``section.key``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = [
    "SCHEMA_PATH",
    "UndeclaredSettingError",
    "from_section",
    "leaf_keys",
    "require",
    "schema",
    "schema_default",
    "section_defaults",
]

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class UndeclaredSettingError(KeyError):
    """A setting was read that the mapping (a rule's declared settings) does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------------------
# The schema: its keys and defaults.
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _load_schema(path: str) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def schema(path: str | Path | None = None) -> dict[str, Any]:
    """The config's JSON schema (a fresh copy)."""
    return json.loads(json.dumps(_load_schema(str(path or SCHEMA_PATH))))


def _walk(node: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    props = node.get("properties")
    if node.get("type") == "object" and props:
        for key, sub in props.items():
            yield from _walk(sub, f"{prefix}.{key}" if prefix else key)
    else:
        yield prefix, node


def leaf_keys(path: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every leaf key of the schema (dotted) with its schema node.

    A leaf is a key whose value is not an object with declared properties: scalars,
    arrays and free-form mappings (``regions``, ``storms``, ``perturbation.cases``).
    """
    return {k: dict(v) for k, v in _walk(schema(path))}


def schema_default(key: str, path: str | Path | None = None) -> Any:
    """The schema's default of the dotted ``key``; ``KeyError`` if it has none."""
    node: Mapping[str, Any] = schema(path)
    for part in key.split("."):
        node = node["properties"][part]
    if "default" not in node:
        raise KeyError(f"schema key {key!r} has no default")
    return node["default"]


def section_defaults(section: str, path: str | Path | None = None) -> dict[str, Any]:
    """The ``section`` of an empty config as the schema fills it: every key at its default
    (nested sections filled too), e.g. to build a section's dataclass in a test."""
    node: Mapping[str, Any] = schema(path)
    for part in section.split("."):
        node = node["properties"][part]
    return _filled(node)


def _filled(node: Mapping[str, Any]) -> Any:
    props = node.get("properties")
    if node.get("type") == "object" and props:
        base = dict(node.get("default") or {})
        for key, sub in props.items():
            if key not in base and ("default" in sub or sub.get("properties")):
                base[key] = _filled(sub)
        return base
    return json.loads(json.dumps(node.get("default")))


# --------------------------------------------------------------------------------------
# A section's keys, converted by the annotations of its dataclass.
# --------------------------------------------------------------------------------------


def require(section: str, sec: Mapping[str, Any], key: str) -> Any:
    """``sec[key]``, or :class:`UndeclaredSettingError` naming ``section.key``."""
    if key not in sec:
        raise UndeclaredSettingError(f"setting '{section}.{key}' is not among the settings this job declared")
    return sec[key]


_T = TypeVar("_T")

#: Conversion of a validated value by its field's annotation (``None`` is an empty string).
_SCALARS: dict[Any, Any] = {str: lambda v: "" if v is None else str(v), int: int, float: float, bool: bool}


def _convert(hint: Any, value: Any, key: str) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        rest = [h for h in args if h is not type(None)]
        if type(None) in args and value is None:  # X | None: None stays None
            return None
        if len(rest) == 1:
            return _convert(rest[0], value, key)
        if all(h in _SCALARS for h in rest):  # e.g. int | str: the value's own type, if it is one of them
            for h in rest:
                if isinstance(value, h) and not (h is int and isinstance(value, bool)):
                    return _SCALARS[h](value)
            return _SCALARS[rest[0]](value)
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[1:] == (Ellipsis,):
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, key) for v in (value or ()))
    raise TypeError(f"setting '{key}': no conversion for a field of type {hint!r}; pass its value")


def from_section(cls: type[_T], section: str, sec: Mapping[str, Any], **values: Any) -> _T:
    """The frozen dataclass ``cls`` with each field read from the config section ``sec``.

    Every field is required (:func:`require`) and converted by its annotation: ``str``,
    ``int``, ``float``, ``bool``, ``tuple[X, ...]`` of those, a union of scalars such as
    ``int | str`` (the value's own type where it is one of them) and ``X | None``
    (``None`` kept) of any of these. ``values`` gives fields
    read otherwise (other types, derived values); they are not looked up in ``sec``.

    Raises:
        UndeclaredSettingError: a field's key is not in ``sec``, naming ``section.key``.
        TypeError: a field of another type without a value in ``values``.
    """
    hints = typing.get_type_hints(cls)
    kwargs = dict(values)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in kwargs:
            kwargs[f.name] = _convert(hints[f.name], require(section, sec, f.name), f"{section}.{f.name}")
    return cls(**kwargs)
