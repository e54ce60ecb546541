"""The storm/calm date table: its schema, validation, writing and reading.

One row per labelled day: ``date, label, rank, wind, season, month``
(:data:`STORM_DAYS_SCHEMA`, also in workflow/schemas/storm_days.schema.yaml). Tables
are validated against the schema and the labelling rule when written and when read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..io import write_csv, write_json

__all__ = ["STORM_DAYS_SCHEMA", "read_storm_days", "validate_storm_days", "write_storm_days"]


def write_storm_days(
    table: pd.DataFrame,
    summary: Mapping[str, Any],
    tsv_path: str | Path,
    json_path: str | Path,
    daily: pd.Series,
    daily_path: str | Path,
) -> None:
    """Write the date table and the daily winds (TSV) and the summary (JSON), atomically.

    Args:
        table: The date table (:func:`aurora_xai.storms.labels.select_storm_calm`).
        summary: The labelling summary (thresholds, counts, shortfalls, skipped days).
        tsv_path: The date table's file.
        json_path: The summary's file.
        daily: Daily maximum wind (m/s) indexed by time.
        daily_path: The daily winds' file (``date, wind``).

    Raises:
        ValueError: the table breaks the schema or the rule (:func:`validate_storm_days`).
    """
    validate_storm_days(table, summary)
    write_csv(table, tsv_path, float_format="%.4f", sep="\t")
    write_json(dict(summary), json_path)
    winds = pd.DataFrame(
        {"date": pd.DatetimeIndex(daily.index).strftime("%Y-%m-%d"), "wind": daily.to_numpy(dtype=float)}
    )
    write_csv(winds, daily_path, float_format="%.4f", sep="\t")


def read_storm_days(path: str | Path) -> pd.DataFrame:
    """Read a date table written by :func:`write_storm_days` and validate it."""
    table = pd.read_csv(path, sep="\t", dtype={"date": str, "label": str, "season": str})
    validate_storm_days(table)
    return table


#: JSON schema of one row of the storm/calm date table (copied in
#: workflow/schemas/storm_days.schema.yaml), plus ``x-unique``: columns unique over rows.
STORM_DAYS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "description": "One row of the storm/calm date table (results/labels/storm_days.tsv).",
    "type": "object",
    "required": ["date", "label", "rank", "wind", "season", "month"],
    "properties": {
        "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "description": "Day (UTC), YYYY-MM-DD."},
        "label": {"type": "string", "enum": ["storm", "calm"], "description": "The day's regime."},
        "rank": {"type": "integer", "minimum": 1, "description": "1 = strongest storm day / calmest calm day."},
        "wind": {"type": "number", "minimum": 0, "description": "Daily maximum 10 m wind speed in the box, m/s."},
        "season": {"type": "string", "enum": ["DJF", "MAM", "JJA", "SON"], "description": "Meteorological season."},
        "month": {"type": "integer", "minimum": 1, "maximum": 12, "description": "Calendar month."},
    },
    "x-unique": ["date"],
}


def _check_value(value: Any, rule: Mapping[str, Any]) -> str | None:
    kind = rule.get("type")
    if kind == "string" and not isinstance(value, str):
        return f"expected a string, got {value!r}"
    if kind == "integer" and not (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
            return f"expected an integer, got {value!r}"
    if kind == "number" and not (isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value)):
        return f"expected a finite number, got {value!r}"
    if "enum" in rule and value not in rule["enum"]:
        return f"{value!r} not one of {rule['enum']}"
    if "minimum" in rule and value < rule["minimum"]:
        return f"{value!r} below the minimum {rule['minimum']}"
    if "maximum" in rule and value > rule["maximum"]:
        return f"{value!r} above the maximum {rule['maximum']}"
    if "pattern" in rule and not re.search(rule["pattern"], value):
        return f"{value!r} does not match {rule['pattern']}"
    return None


def validate_storm_days(table: pd.DataFrame, summary: Mapping[str, Any] | None = None) -> None:
    """Check the date table against the schema and the labelling rule; ``ValueError`` lists problems.

    Per row: required columns, types, enums, ranges, date pattern (the schema); over the
    table: unique dates, ranks 1..k per label, storm winds not below calm winds, and, with
    the ``summary``, winds on the right side of the thresholds and at most ``n_requested``
    days per label.
    """
    schema = STORM_DAYS_SCHEMA
    problems: list[str] = []
    missing = [c for c in schema.get("required", []) if c not in table.columns]
    if missing:
        raise ValueError(f"storm/calm table: missing columns {missing}")
    props = schema.get("properties", {})
    for i, row in enumerate(table.to_dict("records")):
        for col, rule in props.items():
            if col in row:
                msg = _check_value(row[col], rule)
                if msg:
                    problems.append(f"row {i + 1}, {col}: {msg}")
    for col in schema.get("x-unique", []):
        dup = table[col][table[col].duplicated()]
        if len(dup):
            problems.append(f"{col} repeated: {sorted(set(dup))[:5]}")
    for label, grp in table.groupby("label"):
        if list(grp["rank"]) != list(range(1, len(grp) + 1)):
            problems.append(f"{label} ranks are not 1..{len(grp)} in order")
    storm_w = table.loc[table["label"] == "storm", "wind"]
    calm_w = table.loc[table["label"] == "calm", "wind"]
    if len(storm_w) and len(calm_w) and storm_w.min() <= calm_w.max():
        problems.append("a storm day is no windier than a calm day")
    if summary is not None:
        if len(storm_w) and storm_w.min() < summary["storm_threshold"]:
            problems.append(f"storm day below the storm threshold {summary['storm_threshold']}")
        if len(calm_w) and calm_w.max() > summary["calm_threshold"]:
            problems.append(f"calm day above the calm threshold {summary['calm_threshold']}")
        for label, w in (("storm", storm_w), ("calm", calm_w)):
            if len(w) > summary["n_requested"]:
                problems.append(f"{len(w)} {label} days, more than the {summary['n_requested']} requested")
    if problems:
        raise ValueError("storm/calm table invalid: " + "; ".join(problems[:20]))
