"""The ``data`` and ``download`` sections: where ERA5 comes from and how it is copied.

Read by :func:`~aurora_xai.sections.from_section`; the defaults are the schema's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..sections import from_section, require

if TYPE_CHECKING:  # pragma: no cover
    from .era5 import ERA5Source

__all__ = ["DataSettings", "DownloadSettings"]


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """The ``data`` section: where ERA5 comes from (see the schema for each key)."""

    source: str
    path: str | tuple[str, ...]
    static_path: str
    levels: tuple[int, ...]
    on_missing: str
    orientation_check: str
    flipped_times: tuple[str, ...]
    imprecise_times: str
    variable_names: Mapping[str, Mapping[str, str]]

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> DataSettings:
        path = require("data", sec, "path")
        names = require("data", sec, "variable_names") or {}
        return from_section(
            cls,
            "data",
            sec,
            path=path if isinstance(path, str) else tuple(str(p) for p in path),
            variable_names={k: dict(v) for k, v in names.items()},
        )

    def open(self, history_hours: float) -> ERA5Source:
        """Open the store (:func:`aurora_xai.data.era5.open_source`)."""
        import pandas as pd

        from .era5 import open_source

        return open_source(
            self.source,
            self.path if isinstance(self.path, str) else list(self.path),
            levels=self.levels,
            history=pd.Timedelta(hours=float(history_hours)),
            static_path=self.static_path or None,
            on_missing=self.on_missing,
            names=self.variable_names or None,
            orientation_check=self.orientation_check,
            flipped_times=self.flipped_times,
            imprecise_times=self.imprecise_times,
        )


@dataclasses.dataclass(frozen=True)
class DownloadSettings:
    """The ``download`` section: copying the study's subset into ``data.path``."""

    enabled: bool
    method: str
    url: str
    cds_dir: str

    @classmethod
    def from_config(cls, sec: Mapping[str, Any]) -> DownloadSettings:
        return from_section(cls, "download", sec)
