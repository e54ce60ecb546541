"""Headline rows of a perturbation case: the ratio and rank p at one fraction, the AOPC per method.

Rows in the form of :func:`aurora_xai.tables.headline_rows`: ``metric, value, ci_low,
ci_high, n, method, n_unit, unit``. Intervals and p-values are those of
:mod:`~aurora_xai.perturbation.rank` (the top mask ranked among the random masks as one
more draw); an interval the draws cannot bound (fewer than
:func:`~aurora_xai.perturbation.rank.min_draws_for_interval`) is left empty and the row's
``method`` says why.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..tables import p_floor_text
from .experiment import PerturbationResult
from .rank import min_draws_for_interval

__all__ = ["headline"]


def _p_label(p: float) -> str:
    return f"{p:g}".replace(".", "_")


def headline(
    result: PerturbationResult,
    method: str = "lrp",
    p: float = 1.0,
    reference: str = "clean",
    suffix: str = "",
) -> list[dict[str, Any]]:
    """Headline rows: the ratio at ``p`` for ``method`` (scattered, blobs) and AOPC per method.

    Metrics: ``perturbation_ratio_p1`` (scattered control) with its rank interval,
    ``perturbation_p_exceed_p1`` (the rank p of the top mask among the scattered draws),
    ``perturbation_ratio_p1_blobs``, ``perturbation_aopc_<method>`` (AOPC of the relevant
    curve, MSE units, ``n`` = number of fractions) and ``perturbation_aopc_ratio_<method>``
    (over the scattered control, with its rank interval, ``n`` = draws), each followed by
    ``suffix``.
    """
    t = result.table
    t = t[t["metric_reference"] == reference]
    rows: list[dict[str, Any]] = []
    lab = _p_label(p)
    for kind, name in (("scattered", f"perturbation_ratio_p{lab}"), ("blobs", f"perturbation_ratio_p{lab}_blobs")):
        sel = t[(t["method"] == method) & (t["mask_kind"] == kind) & np.isclose(t["p"], p)]
        if len(sel) == 1:
            rows.append(_ratio_row(name + suffix, sel.iloc[0], f"top {p:g} % mask"))
            if kind == "scattered":
                rows.append(_p_exceed_row(f"perturbation_p_exceed_p{lab}{suffix}", sel.iloc[0]))
    a = result.aopc
    a = a[a["metric_reference"] == reference]
    for m in a["method"].unique():
        sel = a[(a["method"] == m) & (a["mask_kind"] == "scattered")]
        if len(sel) == 0:
            sel = a[a["method"] == m]
        r = sel.iloc[0]
        units = r.get("units", "")
        rows.append(
            {
                "metric": f"perturbation_aopc_{m}{suffix}",
                "value": r["aopc_relevant"],
                "n": int(r["n_fractions"]),
                "method": "area over the perturbation curve of the relevant masks, one case; no interval "
                "(deterministic masks, nothing resampled; its interval is on the ratio row)",
                "n_unit": "mask fractions",
                "unit": units if isinstance(units, str) else "",
            }
        )
        rows.append(_ratio_row(f"perturbation_aopc_ratio_{m}{suffix}", r, "top masks' curve (AOPC)"))
    return rows


def _one_case(what: str) -> str:
    return (
        f"one case (one date): the {what}'s own variability across dates is not observed and is taken as a "
        "random mask's (scale model)"
    )


def _ratio_row(metric: str, r: pd.Series, what: str) -> dict[str, Any]:
    """A ratio with its rank interval (empty where the draws cannot bound it); ``n`` = random draws."""
    n = int(r["n_draws"])
    lo, hi = float(r["ci_low"]), float(r["ci_high"])
    bounded = lo > 0 and math.isfinite(lo) and math.isfinite(hi)
    if bounded:
        interval = (
            f"rank interval: the {what} as one more of the {n} random draws, two-sided rank test inverted "
            "(exact under the scale model)"
        )
    else:
        interval = (
            f"no interval: {n} random draws cannot bound it (the rank interval needs at least "
            f"{min_draws_for_interval()} at 95 %); see the rank p"
        )
    return {
        "metric": metric,
        "value": r["ratio"],
        "ci_low": lo if bounded else None,
        "ci_high": hi if bounded else None,
        "n": n,
        "method": f"relevant over mean random-mask MSE; {interval}; {_one_case(what)}",
        "n_unit": "random-mask draws",
        "unit": "",
    }


def _p_exceed_row(metric: str, r: pd.Series) -> dict[str, Any]:
    """The one-sided rank p of the top mask among the random draws; ``n`` = random draws."""
    n, p = int(r["n_draws"]), float(r["p_exceed"])
    return {
        "metric": metric,
        "value": p,
        "n": n,
        "method": (
            f"one-sided Monte Carlo rank p of the top mask among {n} random masks, (1 + #draws degrading at "
            f"least as much) / ({n} + 1); one case (one date){p_floor_text(p, n)}"
        ),
        "n_unit": "random-mask draws",
        "unit": "",
    }
