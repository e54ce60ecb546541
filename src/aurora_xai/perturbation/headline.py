"""Headline rows of a perturbation case: the ratio at one fraction and the AOPC per method.

Rows in the form of :func:`aurora_xai.tables.headline_rows`: ``metric, value, ci_low,
ci_high, n, method, n_unit, unit``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .experiment import PerturbationResult

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

    Metrics: ``perturbation_ratio_p1`` (scattered control), ``perturbation_ratio_p1_blobs``,
    ``perturbation_aopc_<method>`` (AOPC of the relevant curve, MSE units, ``n`` = number
    of fractions) and ``perturbation_aopc_ratio_<method>`` (over the scattered control,
    with interval, ``n`` = draws), each followed by ``suffix``.
    """
    t = result.table
    t = t[t["metric_reference"] == reference]
    rows: list[dict[str, Any]] = []
    lab = _p_label(p)
    for kind, name in (("scattered", f"perturbation_ratio_p{lab}"), ("blobs", f"perturbation_ratio_p{lab}_blobs")):
        sel = t[(t["method"] == method) & (t["mask_kind"] == kind) & np.isclose(t["p"], p)]
        if len(sel) == 1:
            rows.append(_ratio_row(name + suffix, sel.iloc[0]))
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
        rows.append(_ratio_row(f"perturbation_aopc_ratio_{m}{suffix}", r))
    return rows


def _ratio_row(metric: str, r: pd.Series) -> dict[str, Any]:
    """A ratio with its bootstrap interval; ``n`` = random draws."""
    n = int(r["n_draws"])
    return {
        "metric": metric,
        "value": r["ratio"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "n": n,
        "method": f"relevant over mean random-mask MSE, one case; percentile bootstrap of the {n} random-mask draws",
        "n_unit": "random-mask draws",
        "unit": "",
    }
