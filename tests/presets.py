"""The config presets as the workflow reads them, and the dict operations of config overlays.

``config/study.yaml`` and ``config/rehearsal.yaml`` are overlays of ``config/config.yaml``:
``snakemake --configfile config/study.yaml`` merges the file over the default key by key
(a list replaces the default's list). :func:`preset` gives the same config outside
Snakemake, validated and with the schema's defaults filled in.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from aurora_xai.regions import regions_from_config
from aurora_xai.settings import leaf_keys, load_config

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "config" / "config.yaml"
PRESETS = ("study", "rehearsal")
#: The study's US box as the default config names it (region ``us``: 24-50 N, 235-295 E).
US_BOX = regions_from_config(load_config(DEFAULT)["regions"])["us"]


def preset_path(name: str) -> Path:
    return REPO / "config" / f"{name}.yaml"


def preset(name: str, *overlays) -> dict[str, Any]:
    """The config of ``snakemake --configfile config/<name>.yaml`` (with ``overlays`` on top)."""
    return load_config(DEFAULT, preset_path(name), *overlays)


def merge(a: dict, b: dict) -> dict:
    """``b`` merged over a copy of ``a``, key by key (as Snakemake merges config files)."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def nest(key: str, value) -> dict:
    """``{"a": {"b": value}}`` from the dotted key ``"a.b"``."""
    out: dict = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def flatten(node: dict, prefix: str = "") -> dict[str, Any]:
    """``{dotted key: value}`` of the schema's leaf keys (free-form mappings such as
    ``storms`` or ``regions`` are one leaf each)."""
    leaves = leaf_keys()
    out: dict[str, Any] = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and key not in leaves:
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out
