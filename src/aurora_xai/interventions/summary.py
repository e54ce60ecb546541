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
* the rank p (:func:`rank_p`): the one-sided Monte Carlo rank p-value of the direction's
  ``|mean slope over dates|`` among those of its K random controls,
  ``(1 + #{controls >= direction}) / (K + 1)`` (Davison & Hinkley 1997, eq. 4.11). It is
  the test of whether the direction moves the forecast more than a random direction of
  the same norms does; under the null that it is interchangeable with its controls it is
  uniform on ``{1, ..., K + 1} / (K + 1)``, whatever the dependence between dates.

For a direction along a term of F's planted dynamics
(:data:`~aurora_xai.interventions.directions.PLANTED_DIRECTIONS`), :func:`sign_rows`
states F's predicted sign of the response and whether the measured slope has it.

Intervals resample the dates with a group bootstrap
(:func:`~aurora_xai.regimes.blocking.group_bootstrap_weights`): the chosen days fall in
runs of consecutive days of one label (storm episodes), and a run is resampled whole
(:func:`~aurora_xai.regimes.blocking.episode_groups`); and, in the same resample, the K
random controls with replacement (:func:`control_weights`), since the random RMS slope
is an estimate from K draws. Percentile intervals; none (NaN) when a label has fewer than
two episodes among the dates (resampling one episode per label says nothing of the
variation between dates). The ratio's interval is one of this
direction's ratio (its effect over the typical random direction's); it is not a test of
the direction against random directions, which the rank p is. Imports without torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..perturbation.masks import rng_for
from ..regimes.blocking import day_numbers, episode_groups, group_bootstrap_weights
from ..tables import p_floor_text

__all__ = [
    "STATISTICS",
    "bootstrap_weights",
    "control_weights",
    "fewest_episodes",
    "headline",
    "rank_p",
    "sign_check",
    "sign_rows",
    "slopes",
    "summary_table",
]

#: Summary statistics per direction and quantity, in table order (``rank_p`` has no interval).
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


def fewest_episodes(dates: Any, labels: np.ndarray) -> int:
    """The fewest episodes (runs of consecutive days of one label) of either label among the dates."""
    y = np.asarray(labels).astype(np.int64)
    groups = episode_groups(day_numbers(pd.DatetimeIndex(pd.to_datetime(dates))), y)
    return min(len(np.unique(groups[y == c])) for c in (0, 1))


def control_weights(n_random: int, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap counts ``(n_boot, n_random)`` of the K random controls (resampled with
    replacement; each row sums to K).

    Raises:
        ValueError: for ``n_random < 1``.
    """
    if n_random < 1:
        raise ValueError(f"interventions.n_random: at least one random control is needed, got {n_random}")
    rng = rng_for(seed, "interventions", "controls")
    idx = rng.integers(0, n_random, size=(n_boot, n_random))
    return np.stack([np.bincount(row, minlength=n_random) for row in idx]).astype(np.float64)


def rank_p(slope: np.ndarray) -> float:
    """One-sided rank p of member 0 among members 1..K of ``slope (date, member)``.

    The statistic of a member is ``|mean over dates of its slope|``; the p-value is
    ``(1 + #{k >= 1: stat_k >= stat_0}) / (K + 1)`` (floor ``1 / (K + 1)``).

    Raises:
        ValueError: without a random control.
    """
    s = np.abs(np.asarray(slope, dtype=np.float64).mean(axis=0))
    if s.shape[0] < 2:
        raise ValueError("rank_p needs the direction and at least one random control")
    return float((1 + np.sum(s[1:] >= s[0])) / len(s))


def _stats(slope: np.ndarray, counts: np.ndarray | None, controls: np.ndarray | None) -> dict[str, np.ndarray]:
    """Statistics of ``slope (date, member)`` for weights ``counts (B, date)`` of the dates
    and ``controls (B, K)`` of the random controls (None: each once)."""
    w = np.ones((1, slope.shape[0])) if counts is None else counts
    w = w / w.sum(axis=1, keepdims=True)
    c = np.ones((1, slope.shape[1] - 1)) if controls is None else controls
    c = c / c.sum(axis=1, keepdims=True)
    own = w @ slope[:, 0]
    rms = np.sqrt(c @ (slope[:, 1:] ** 2).T)  # (B or 1, date)
    rand = np.sum(w * rms, axis=1)
    return {"slope": own, "random_rms_slope": rand, "ratio": np.abs(own) / rand}


def summary_table(ds: xr.Dataset, n_boot: int, seed: int, ci_level: float = 0.95) -> pd.DataFrame:
    """Per direction, quantity and statistic: value, interval, dates and groups.

    Args:
        ds: The response dataset (``slope (date, direction, member, quantity)``,
            ``label (date)``).
        n_boot: Bootstrap resamples (of the date groups and the random controls together).
        seed: Seed of the resampling.
        ci_level: Level of the percentile intervals.

    Returns:
        Columns ``direction, quantity, units, statistic, value, ci_low, ci_high, n_dates,
        n_groups, n_random`` (``rank_p`` without an interval).
    """
    counts, n_groups = bootstrap_weights(ds["date"].values, ds["label"].values, n_boot, seed)
    controls = control_weights(int(ds.sizes["member"]) - 1, n_boot, seed)
    few = fewest_episodes(ds["date"].values, ds["label"].values) < 2
    lo, hi = 50 * (1 - ci_level), 50 * (1 + ci_level)
    rows = []
    for d in ds["direction"].values:
        for q in ds["quantity"].values:
            sl = ds["slope"].sel(direction=d, quantity=q).transpose("date", "member").values
            point = _stats(sl, None, None)
            point["rank_p"] = np.array([rank_p(sl)])
            boot = _stats(sl, counts, controls)
            for stat in STATISTICS:
                rows.append(
                    {
                        "direction": str(d),
                        "quantity": str(q),
                        "units": ds["units"].sel(quantity=q).item() if stat not in ("ratio", "rank_p") else "1",
                        "statistic": stat,
                        "value": float(point[stat][0]),
                        "ci_low": float(np.percentile(boot[stat], lo)) if stat in boot and not few else np.nan,
                        "ci_high": float(np.percentile(boot[stat], hi)) if stat in boot and not few else np.nan,
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


def headline(table: pd.DataFrame, n_boot: int | None = None, prefix: str = "intervention") -> list[dict[str, Any]]:
    """Headline rows ``<prefix>_<direction>_<quantity>_<statistic>`` (``prefix``:
    ``intervention``, or ``steer`` for :mod:`aurora_xai.features.steering`).

    ``n`` counts the dates for the slopes and the ratio, the random directions for the
    rank p; ``n_boot``, the intervals' resamples, is worded in the ``method`` column. The
    rank p at its floor ``1 / (K + 1)`` says so; the rank p has no unit, the ratio none.
    """
    count = "" if n_boot is None else f", {int(n_boot)} resamples"
    rows = []
    for r in table.itertuples():
        k = int(r.n_random)
        unit = "" if r.statistic in ("ratio", "rank_p") else str(r.units) if isinstance(r.units, str) else ""
        if r.statistic == "rank_p":
            rows.append(
                {
                    "metric": f"{prefix}_{r.direction}_{r.quantity}_rank_p",
                    "value": r.value,
                    "n": k,
                    "method": (
                        f"one-sided rank p of |mean slope over {int(r.n_dates)} dates| among {k} random directions "
                        f"of the same norms, (1 + #random >= direction) / ({k} + 1){p_floor_text(float(r.value), k)}"
                    ),
                    "n_unit": "random directions",
                    "unit": "",
                }
            )
            continue
        resampled = "the date groups (episodes of a label whole)"
        if r.statistic != "slope":
            resampled += f" and the {k} random directions together"
        method = f"percentile bootstrap of {resampled}{count}"
        if not (np.isfinite(r.ci_low) and np.isfinite(r.ci_high)):
            method = "no interval: a label has fewer than two episodes among the dates (nothing to resample)"
        if r.statistic == "ratio":
            method += "; an interval of this direction's ratio, not a test against random directions (the rank p is)"
        rows.append(
            {
                "metric": f"{prefix}_{r.direction}_{r.quantity}_{r.statistic}",
                "value": r.value,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "n": int(r.n_dates),
                "method": method,
                "n_unit": "dates",
                "unit": unit,
            }
        )
    return rows


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
