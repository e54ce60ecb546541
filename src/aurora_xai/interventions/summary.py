"""Slopes of the forecast's response per unit push, their intervals over dates, the headline.

The response dataset (:func:`aurora_xai.interventions.study.run_interventions`) holds
``response (date, direction, member, alpha, quantity)``: member 0 is the direction
itself, members 1..K its random controls (:func:`~aurora_xai.interventions.directions.random_directions`).

* slope per date: least squares through the origin, ``sum_a a r(a) / sum_a a^2``;
* the direction's slope: the mean over dates of member 0's slope;
* the random control: the root mean square over the K controls of their slopes per
  date (their signs are arbitrary, their mean is zero by construction), averaged over
  dates;
* the ratio: ``|direction slope| / random RMS slope``;
* the rank p: ``(1 + #{k: |mean slope of control k| >= |direction slope|}) / (K + 1)``,
  the controls' slopes averaged over the same dates (its smallest value is ``1 / (K + 1)``).

For a direction along a term of F's planted dynamics
(:data:`~aurora_xai.interventions.directions.PLANTED_DIRECTIONS`), :func:`sign_rows`
states F's predicted sign of the response and whether the measured slope has it.

Intervals resample the dates with a group bootstrap
(:func:`~aurora_xai.regimes.blocking.group_bootstrap_weights`): the chosen days fall in
runs of consecutive days of one label (storm episodes), and a run is resampled whole
(:func:`~aurora_xai.regimes.blocking.episode_groups`). Percentile intervals. Imports
without torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..perturbation.masks import rng_for
from ..regimes.blocking import day_numbers, episode_groups, group_bootstrap_weights

__all__ = ["STATISTICS", "bootstrap_weights", "headline", "sign_check", "sign_rows", "slopes", "summary_table"]

#: Summary statistics per direction and quantity, in table order.
STATISTICS = ("slope", "random_rms_slope", "ratio", "rank_p")


def slopes(response: np.ndarray, alphas: np.ndarray, axis: int = -2) -> np.ndarray:
    """Least-squares slope through the origin of ``response`` against ``alphas`` along ``axis``.

    Args:
        response: Responses with the alpha dimension at ``axis``.
        alphas: ``(A,)`` pushes (not all zero).

    Returns:
        ``response`` reduced over ``axis``: ``sum_a a r(a) / sum_a a^2``.
    """
    a = np.asarray(alphas, dtype=np.float64)
    denom = float(np.sum(a * a))
    if denom == 0:
        raise ValueError("interventions.alphas: at least one non-zero alpha is needed")
    r = np.moveaxis(np.asarray(response, dtype=np.float64), axis, -1)
    return r @ a / denom


def bootstrap_weights(dates: Any, labels: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, int]:
    """Group-bootstrap counts ``(n_boot, n_dates)`` of the dates and the number of groups.

    Groups are runs of consecutive days of one label (storm episodes).
    """
    y = np.asarray(labels).astype(np.int64)
    groups = episode_groups(day_numbers(pd.DatetimeIndex(pd.to_datetime(dates))), y)
    rng = rng_for(seed, "interventions", "bootstrap")
    return group_bootstrap_weights(groups, y, n_boot, rng), int(len(np.unique(groups)))


def _stats(slope: np.ndarray, counts: np.ndarray | None) -> dict[str, np.ndarray]:
    """Statistics of ``slope (date, member)`` for weights ``counts (B, date)`` (None: each date once)."""
    w = np.ones((1, slope.shape[0])) if counts is None else counts
    w = w / w.sum(axis=1, keepdims=True)
    own = w @ slope[:, 0]
    rand = w @ np.sqrt(np.mean(slope[:, 1:] ** 2, axis=1))
    members = w @ slope[:, 1:]  # (B, K) the controls' mean slopes
    beaten = np.sum(np.abs(members) >= np.abs(own)[:, None], axis=1)
    rank_p = (1.0 + beaten) / (members.shape[1] + 1.0)
    return {"slope": own, "random_rms_slope": rand, "ratio": np.abs(own) / rand, "rank_p": rank_p}


def summary_table(ds: xr.Dataset, n_boot: int, seed: int, ci_level: float = 0.95) -> pd.DataFrame:
    """Per direction, quantity and statistic: value, interval, dates and groups.

    Args:
        ds: The response dataset (``slope (date, direction, member, quantity)``,
            ``label (date)``).
        n_boot: Bootstrap resamples of the date groups.
        seed: Seed of the resampling.
        ci_level: Level of the percentile intervals.

    Returns:
        Columns ``direction, quantity, units, statistic, value, ci_low, ci_high, n_dates,
        n_groups, n_random``.
    """
    counts, n_groups = bootstrap_weights(ds["date"].values, ds["label"].values, n_boot, seed)
    lo, hi = 50 * (1 - ci_level), 50 * (1 + ci_level)
    rows = []
    for d in ds["direction"].values:
        for q in ds["quantity"].values:
            sl = ds["slope"].sel(direction=d, quantity=q).transpose("date", "member").values
            point = _stats(sl, None)
            boot = _stats(sl, counts)
            for stat in STATISTICS:
                rows.append(
                    {
                        "direction": str(d),
                        "quantity": str(q),
                        "units": ds["units"].sel(quantity=q).item() if stat not in ("ratio", "rank_p") else "1",
                        "statistic": stat,
                        "value": float(point[stat][0]),
                        "ci_low": float(np.percentile(boot[stat], lo)),
                        "ci_high": float(np.percentile(boot[stat], hi)),
                        "n_dates": int(ds.sizes["date"]),
                        "n_groups": n_groups,
                        "n_random": int(ds.sizes["member"]) - 1,
                    }
                )
    table = pd.DataFrame(rows)
    for stat in STATISTICS:
        table.loc[table["statistic"] == stat, "units"] = table.loc[table["statistic"] == stat, "units"].map(
            lambda u, s=stat: u if s in ("ratio", "rank_p") else f"{u} per unit alpha"
        )
    return table


def headline(table: pd.DataFrame, n_boot: int | None = None) -> list[dict[str, Any]]:
    """Headline rows ``intervention_<direction>_<quantity>_<statistic>`` (n: dates);
    ``n_boot``, the interval's resamples, is worded in the ``method`` column."""
    count = "" if n_boot is None else f", {int(n_boot)} resamples"
    method = f"percentile group bootstrap of the dates (episodes of a label resampled whole{count})"
    return [
        {
            "metric": f"intervention_{r.direction}_{r.quantity}_{r.statistic}",
            "value": r.value,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "n": int(r.n_dates),
            "method": method,
            "n_unit": "dates",
            "unit": str(r.units) if isinstance(getattr(r, "units", None), str) else "",
        }
        for r in table.itertuples()
    ]


def sign_check(slope: float, ci_low: float, ci_high: float, predicted: int) -> tuple[int, str]:
    """Whether a measured slope has F's predicted sign: ``(match, verdict)``.

    ``match`` is 1 when the slope's sign equals ``predicted`` (+1 or -1), else 0; the
    verdict adds whether the interval excludes zero (``"matches, interval excludes 0"``,
    ``"matches, interval includes 0"``, ``"opposite, ..."``).

    Raises:
        ValueError: if ``predicted`` is not +1 or -1.
    """
    if predicted not in (1, -1):
        raise ValueError(f"predicted sign must be +1 or -1, got {predicted}")
    match = int(np.sign(slope) == predicted)
    excludes = (ci_low > 0) or (ci_high < 0)
    verdict = ("matches" if match else "opposite") + (", interval excludes 0" if excludes else ", interval includes 0")
    return match, verdict


def sign_rows(table: pd.DataFrame, dynamics=None) -> list[dict[str, Any]]:
    """Headline rows of the planted directions: F's predicted sign and the measured one.

    For each direction of :data:`~aurora_xai.interventions.directions.PLANTED_DIRECTIONS`
    in ``table`` whose ``reads`` quantity is in it: ``intervention_<d>_<q>_predicted_sign``
    (+1 or -1, from F's coefficient) and ``intervention_<d>_<q>_sign_match`` (1 when the
    measured slope has the predicted sign, else 0; the ``method`` column gives the slope,
    its interval and the rank p against the random directions).
    """
    from .directions import PLANTED_DIRECTIONS, predicted_sign

    rows: list[dict[str, Any]] = []
    for name, planted in PLANTED_DIRECTIONS.items():
        sub = table[(table["direction"] == name) & (table["quantity"] == planted.reads)]
        if sub.empty:
            continue
        stat = sub.set_index("statistic")
        sl = stat.loc["slope"]
        sign = predicted_sign(planted, dynamics)
        match, verdict = sign_check(float(sl["value"]), float(sl["ci_low"]), float(sl["ci_high"]), sign)
        p = float(stat.loc["rank_p", "value"]) if "rank_p" in stat.index else float("nan")
        base = f"{planted.reason}; predicted sign {sign:+d}"
        rows.append(
            {
                "metric": f"intervention_{name}_{planted.reads}_predicted_sign",
                "value": sign,
                "n": int(sl["n_dates"]),
                "method": base + " (from F's coefficients, not measured)",
                "n_unit": "dates",
                "unit": "1",
            }
        )
        rows.append(
            {
                "metric": f"intervention_{name}_{planted.reads}_sign_match",
                "value": match,
                "n": int(sl["n_dates"]),
                "method": (
                    f"{base}; measured slope {float(sl['value']):.4g} [{float(sl['ci_low']):.4g}, "
                    f"{float(sl['ci_high']):.4g}] {sl['units']} ({verdict}); rank p against "
                    f"{int(sl['n_random'])} random directions {p:.3g}; 1 = the signs agree"
                ),
                "n_unit": "dates",
                "unit": "1",
            }
        )
    return rows
