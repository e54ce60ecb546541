"""The headline table: one row per headline number, or the reason it is not applicable.

Every analysis writes its part (``metric, value, ci_low, ci_high, n, note``) with
:func:`headline_rows`; :func:`read_headline_parts` joins the parts into the study's
table. Files are written by :mod:`aurora_xai.io`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "HEADLINE_COLUMNS",
    "headline_rows",
    "log_headline",
    "not_applicable",
    "read_headline_parts",
]

#: Columns of every headline table. ``value`` is empty exactly when the statistic is not
#: applicable to the data (e.g. a season absent from a short window); ``note`` then says
#: why, and is empty otherwise.
HEADLINE_COLUMNS = ("metric", "value", "ci_low", "ci_high", "n", "note")


def not_applicable(metric: str, reason: str, n: int | None = None) -> dict[str, Any]:
    """A headline row for a statistic the data do not allow: empty value, ``reason`` as note.

    Args:
        metric: The metric's name (the same name it has when it is computed).
        reason: Why it is not applicable, in words (non-empty).
        n: Samples available, if meaningful.

    Raises:
        ValueError: if ``reason`` is empty.
    """
    if not str(reason).strip():
        raise ValueError(f"headline metric {metric!r}: a not-applicable row needs a reason")
    return {"metric": metric, "value": None, "n": n, "note": str(reason).strip()}


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def headline_rows(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A headline table from rows with ``metric``, ``value`` and optional interval, ``n`` and ``note``.

    A row either has a finite ``value`` and no ``note``, or an empty ``value`` (None or
    NaN; see :func:`not_applicable`) with the reason in ``note``; its interval is then
    empty too.

    Returns:
        A DataFrame with the columns :data:`HEADLINE_COLUMNS` (``note`` is ``""`` where
        the value is given).

    Raises:
        ValueError: for unknown columns, a row without ``metric`` or ``value``, a
            non-finite value, an empty value without a note, or a note beside a value.
    """
    out = []
    for row in rows:
        unknown = set(row) - set(HEADLINE_COLUMNS)
        if unknown:
            raise ValueError(f"headline row has unknown columns {sorted(unknown)}")
        if "metric" not in row or "value" not in row:
            raise ValueError(f"headline row needs metric and value: {dict(row)}")
        note = "" if _missing(row.get("note")) else str(row["note"]).strip()
        rec = {c: (None if _missing(row.get(c)) else row.get(c)) for c in HEADLINE_COLUMNS}
        rec["note"] = note
        if rec["value"] is None:
            if not note:
                raise ValueError(f"headline metric {row['metric']!r} has no value and no note saying why")
            rec.update(value=math.nan, ci_low=None, ci_high=None)
        else:
            value = float(rec["value"])
            if not math.isfinite(value):
                raise ValueError(f"headline metric {row['metric']!r} is not finite: {value}")
            if note:
                raise ValueError(
                    f"headline metric {row['metric']!r} has a value ({value}) and a note ({note!r}); "
                    "a note is the reason a value is missing"
                )
            rec["value"] = value
        if rec["n"] is not None:
            rec["n"] = int(rec["n"])
        out.append(rec)
    df = pd.DataFrame(out, columns=list(HEADLINE_COLUMNS))
    df["n"] = df["n"].astype("Int64")
    return df


def log_headline(logger: logging.Logger, table: pd.DataFrame) -> None:
    """Log each headline row: the value (and interval) at INFO, a not-applicable row with
    its reason at WARNING."""
    for row in table.itertuples(index=False):
        n = "" if pd.isna(row.n) else f" (n = {int(row.n)})"
        if row.note:
            logger.warning("%s: not applicable%s: %s", row.metric, n, row.note)
        elif pd.notna(row.ci_low) and pd.notna(row.ci_high):
            logger.info("%s = %.4g [%.4g, %.4g]%s", row.metric, row.value, row.ci_low, row.ci_high, n)
        else:
            logger.info("%s = %.4g%s", row.metric, row.value, n)


def read_headline_parts(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Concatenate per-analysis headline parts; a metric may appear only once.

    Every row is checked as in :func:`headline_rows`; a part written without the
    ``note`` column (before it existed) reads as having no notes.
    """
    frames = [
        pd.read_csv(
            p,
            dtype={"metric": str, "note": str},
            keep_default_na=False,
            na_values={"value": [""], "ci_low": [""], "ci_high": [""], "n": [""]},
        )
        for p in paths
    ]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(HEADLINE_COLUMNS))
    if "note" not in df.columns:
        df["note"] = ""
    dup = df["metric"][df["metric"].duplicated()].tolist()
    if dup:
        raise ValueError(f"headline metrics reported twice: {dup}")
    records = df[list(HEADLINE_COLUMNS)].astype(object).where(df[list(HEADLINE_COLUMNS)].notna(), None)
    return headline_rows(records.to_dict("records"))
