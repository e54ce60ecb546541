"""The headline table: one row per headline number, or the reason it is not applicable.

Every analysis writes its part (``metric, value, ci_low, ci_high, n, note, method,
n_unit, unit, calibration``) with
:func:`headline_rows`; :func:`read_headline_parts` joins the parts into the study's
table. The ``calibration`` column is never written by an analysis: :func:`headline_rows`
fills it from the one table of what the calibration suite shows
(:func:`aurora_xai.calibration.status.calibration_of`). Files are written by
:mod:`aurora_xai.io`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .calibration.status import calibration_of

__all__ = [
    "HEADLINE_COLUMNS",
    "headline_rows",
    "log_headline",
    "not_applicable",
    "p_floor_text",
    "read_headline_parts",
]

#: Columns of every headline table. ``value`` is empty exactly when the statistic is not
#: applicable to the data (e.g. a season absent from a short window); ``note`` then says
#: why, and is empty otherwise.
#: ``method`` says how the value and its interval or p-value were obtained (the test or
#: interval, the resampling unit, the number of resamples or draws), or why the row has
#: neither (in-sample, a single case, a spread rather than an interval); published rows
#: (i.i.d. days, shuffled folds) say so there. ``n_unit`` says what ``n`` counts (dates,
#: labelled days, resamples, draws, mask fractions, cases); ``unit`` is the value's unit
#: (empty for a dimensionless value). ``calibration`` says what the calibration suite
#: shows for the row's test or interval (``holds``, ``fails``, ``not simulated`` or ``no
#: test or interval``, with the reason and the suite's cases;
#: :meth:`aurora_xai.calibration.status.Calibration.text`), empty for a metric the
#: suite's table does not know. The first six columns are the table's original ones.
HEADLINE_COLUMNS = ("metric", "value", "ci_low", "ci_high", "n", "note", "method", "n_unit", "unit", "calibration")

#: Columns :func:`headline_rows` requires to be non-empty on every row.
REQUIRED_TEXT = ("method", "n_unit")


def not_applicable(
    metric: str, reason: str, n: int | None = None, *, method: str, n_unit: str, unit: str = ""
) -> dict[str, Any]:
    """A headline row for a statistic the data do not allow: empty value, ``reason`` as note.

    Args:
        metric: The metric's name (the same name it has when it is computed).
        reason: Why it is not applicable, in words (non-empty).
        n: Samples available, if meaningful.
        method, n_unit, unit: As for a computed row (see :data:`HEADLINE_COLUMNS`).

    Raises:
        ValueError: if ``reason`` is empty.
    """
    if not str(reason).strip():
        raise ValueError(f"headline metric {metric!r}: a not-applicable row needs a reason")
    return {
        "metric": metric,
        "value": None,
        "n": n,
        "note": str(reason).strip(),
        "method": method,
        "n_unit": n_unit,
        "unit": unit,
    }


def p_floor_text(p: float, draws: int) -> str:
    """``'; p at its floor: p < 1/(B+1) = 0.005'`` where a resampled p-value ``p`` is at
    the floor of ``draws`` = B draws (``1/(B+1)``), else ``''`` (to append to a method)."""
    floor = 1.0 / (int(draws) + 1)
    if math.isfinite(p) and p <= floor * (1 + 1e-9):
        return f"; p at its floor: p < 1/(B+1) = {floor:.3g} (B = {int(draws)})"
    return ""


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def headline_rows(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A headline table from rows with ``metric``, ``value``, ``method``, ``n_unit`` and
    optional interval, ``n``, ``note`` and ``unit``.

    A row either has a finite ``value`` and no ``note``, or an empty ``value`` (None or
    NaN; see :func:`not_applicable`) with the reason in ``note``; its interval is then
    empty too. ``calibration`` is filled from the metric's name
    (:func:`~aurora_xai.calibration.status.calibration_of`); a value given for it is
    replaced.

    Returns:
        A DataFrame with the columns :data:`HEADLINE_COLUMNS` (``note`` is ``""`` where
        the value is given).

    Raises:
        ValueError: for unknown columns, a row without ``metric`` or ``value``, a row
            without ``method`` or ``n_unit`` (the error names the metric), a non-finite value, an empty value without a note, or a note beside a value.
    """
    out = []
    for row in rows:
        unknown = set(row) - set(HEADLINE_COLUMNS)
        if unknown:
            raise ValueError(f"headline row has unknown columns {sorted(unknown)}")
        if "metric" not in row or "value" not in row:
            raise ValueError(f"headline row needs metric and value: {dict(row)}")
        absent = [c for c in REQUIRED_TEXT if _missing(row.get(c))]
        if absent:
            raise ValueError(
                f"headline metric {row['metric']!r} has no {' and no '.join(absent)}: every row says how "
                "it was obtained (method) and what n counts (n_unit)"
            )
        note = "" if _missing(row.get("note")) else str(row["note"]).strip()
        rec = {c: (None if _missing(row.get(c)) else row.get(c)) for c in HEADLINE_COLUMNS}
        rec["note"] = note
        for c in (*REQUIRED_TEXT, "unit"):
            rec[c] = "" if rec[c] is None else str(rec[c]).strip()
        cal = calibration_of(str(rec["metric"]))
        rec["calibration"] = "" if cal is None else cal.text()
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
    ``note`` column (before it existed) reads as having no notes; a part without
    ``method`` / ``n_unit`` is refused (its analysis has to be rerun).
    """
    frames = [
        pd.read_csv(
            p,
            dtype={"metric": str, "note": str, "method": str, "n_unit": str, "unit": str, "calibration": str},
            keep_default_na=False,
            na_values={"value": [""], "ci_low": [""], "ci_high": [""], "n": [""]},
        )
        for p in paths
    ]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(HEADLINE_COLUMNS))
    for c in ("note", "method", "n_unit", "unit", "calibration"):
        if c not in df.columns:
            df[c] = ""
    dup = df["metric"][df["metric"].duplicated()].tolist()
    if dup:
        raise ValueError(f"headline metrics reported twice: {dup}")
    records = df[list(HEADLINE_COLUMNS)].astype(object).where(df[list(HEADLINE_COLUMNS)].notna(), None)
    return headline_rows(records.to_dict("records"))
