"""The layer sweep: the study's regime statistics at every tap, against depth.

For each tap extracted from the same forward passes (``latents.tap`` and
``latents.taps``; pooled latents ``results/latents/pooled.nc`` and
``results/latents/pooled_<tap>.nc``) the same library functions as the main-tap
analyses compute four statistics, each with a 95 % interval:

``pc1_annual_r2``
    R^2 of PC1's fit to the first annual harmonic
    (:func:`~aurora_xai.regimes.pca.fit_pca`,
    :func:`~aurora_xai.regimes.seasonal.annual_harmonic_fit`), as the headline row
    ``pc1_annual_r2`` of rule ``fit_pca``.
``pc1_djf_jja_cohen_d``
    ``|Cohen's d|`` of PC1 between winter (DJF) and summer (JJA) dates
    (:func:`~aurora_xai.regimes.seasonal.cohen_d`), as ``pc1_djf_jja_cohen_d``.
``storm_calm_auc_blocked``
    Held-out storm/calm ROC AUC of shrinkage LDA with folds blocked in time
    (:func:`~aurora_xai.regimes.storm_calm.storm_calm_report`), as the headline row of
    rule ``score_storm_calm`` of that name.
``storm_calm_residualised_auc_blocked``
    The same with two annual harmonics regressed out of every feature (fitted on the
    features of all dates, without labels; the published shuffled-fold row
    ``storm_calm_residualised_auc`` fits them inside each training fold).

With ``regimes.cv_blocking: none`` the two AUCs are those of shuffled folds of single
days, named ``storm_calm_auc`` and ``storm_calm_residualised_auc`` as their headline rows.

Intervals:

- The two PC1 statistics: percentile interval (2.5 %, 97.5 %) of the circular
  moving-block bootstrap of the time-ordered dates with the block length of
  ``regimes.bootstrap_block`` (``auto``: Politis-White length of the PC1 anomalies,
  :func:`~aurora_xai.regimes.bootstrap.pc1_block_length`; an integer; ``none``: i.i.d.
  dates), ``regimes.n_bootstrap`` resamples, the PCA refitted on every resample
  (:func:`~aurora_xai.regimes.bootstrap.resampled_pc1_scores`): the resampling of rule
  ``bootstrap_pca``. The main-tap headline rows of these statistics carry no interval;
  the sweep's value is the same number.
- The two AUCs: the intervals of their headline rows (a bootstrap of the held-out
  decisions resampling whole label episodes or weeks with blocked folds, class-stratified
  days otherwise; :func:`~aurora_xai.regimes.cv.cv_classifier_scores`).

The tap ``bottleneck`` is the same module output as the last ``backbone.encoder.<k>``
(:func:`~aurora_xai.latents.taps.tap_depth` gives both the same depth). Its statistics are
computed once: when both are swept, the pooled files must be equal (else an error), the
``bottleneck`` rows copy those of the encoder stage with ``same_as`` naming it, and the
headline rows (:func:`sweep_headline`) hold the encoder stage only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..latents.io import feature_matrix
from ..latents.taps import AURORA_STAGES, known_taps, tap_depth
from .applicability import NotApplicableError
from .bootstrap import pc1_block_length, resample_indices, resampled_pc1_scores
from .pca import fit_pca
from .seasonal import annual_harmonic_fit, check_annual_coverage, cohen_d

__all__ = [
    "SWEEP_COLUMNS",
    "SWEEP_STATISTICS",
    "SweepSettings",
    "SweepStatistic",
    "layer_sweep",
    "load_tap_latents",
    "sweep_headline",
    "sweep_metric",
    "sweep_statistics",
    "sweep_taps",
    "tap_statistics",
]


@dataclasses.dataclass(frozen=True)
class SweepStatistic:
    """One statistic of the sweep.

    Attributes:
        stat: Its name in the sweep table (the name of the main-tap headline row it
            reproduces, with folds blocked in time).
        label: Axis label of its panel (with units).
        title: Title of its panel.
        chance: The value of no structure, drawn as a reference line (None: none).
    """

    stat: str
    label: str
    title: str
    chance: float | None = None


#: The sweep's statistics, in the order of the table and of the figure's panels.
SWEEP_STATISTICS: tuple[SweepStatistic, ...] = (
    SweepStatistic("pc1_annual_r2", "R² of the annual-harmonic fit (1)", "PC1's annual cycle"),
    SweepStatistic("pc1_djf_jja_cohen_d", "|Cohen's d| (pooled SD)", "PC1: winter (DJF) against summer (JJA)"),
    SweepStatistic("storm_calm_auc_blocked", "held-out ROC AUC (1)", "Storm against calm days", chance=0.5),
    SweepStatistic(
        "storm_calm_residualised_auc_blocked",
        "held-out ROC AUC (1)",
        "Storm against calm days, annual cycle removed (fitted on all dates)",
        chance=0.5,
    ),
)

#: Columns of the sweep table, one row per (tap, statistic).
SWEEP_COLUMNS: tuple[str, ...] = (
    "tap",
    "depth",
    "stat",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "interval",
    "published",
    "same_as",
    "note",
)


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """The settings of the sweep's statistics (those of the main-tap rules).

    Attributes:
        region, levels, standardize: The features (``pca.region``, ``pca.levels``,
            ``pca.standardize``).
        n_boot: Resamples of the dates for the PC1 intervals (``regimes.n_bootstrap``).
        block: ``regimes.bootstrap_block``: ``'auto'``, ``'none'`` or a block length.
        cv_folds, cv_blocking, cv_gap_days: As in rule ``score_storm_calm``
            (``regimes.cv_folds``, ``regimes.cv_blocking``, ``regimes.cv_gap_days``).
        seed: ``seed``.
    """

    region: str
    levels: tuple[str, ...] | None
    standardize: bool
    n_boot: int
    block: int | str | None
    cv_folds: int
    cv_blocking: str | None
    cv_gap_days: int | str | None
    seed: int

    def __post_init__(self) -> None:
        if self.n_boot < 1:
            raise ValueError(f"regimes.n_bootstrap must be >= 1, got {self.n_boot}")
        block = self.block
        if not (block in (None, "auto", "none") or (isinstance(block, (int, np.integer)) and int(block) >= 1)):
            raise ValueError(f"regimes.bootstrap_block must be 'auto', 'none' or an integer >= 1, got {block!r}")

    @property
    def blocked(self) -> bool:
        """Whether the storm/calm folds are blocked in time."""
        return self.cv_blocking not in (None, "none")


def sweep_metric(stat: str, blocked: bool = True) -> str:
    """The main-tap headline metric of a sweep statistic (its name in the sweep table).

    Without folds blocked in time the AUCs are those of shuffled folds
    (``storm_calm_auc``, ``storm_calm_residualised_auc``).

    Raises:
        ValueError: for an unknown statistic.
    """
    names = [s.stat for s in SWEEP_STATISTICS]
    if stat not in names:
        raise ValueError(f"unknown sweep statistic {stat!r}; known: {', '.join(names)}")
    return stat if blocked else stat.removesuffix("_blocked")


def sweep_statistics(blocked: bool = True) -> list[SweepStatistic]:
    """:data:`SWEEP_STATISTICS` named as their headline rows (:func:`sweep_metric`)."""
    return [dataclasses.replace(s, stat=sweep_metric(s.stat, blocked)) for s in SWEEP_STATISTICS]


def sweep_taps(taps: Sequence[str], n_stages: int = AURORA_STAGES, key: str = "latents.taps") -> list[str]:
    """The distinct ``taps`` in depth order, the order of :func:`~aurora_xai.latents.taps.known_taps`
    (``bottleneck`` right after the last ``backbone.encoder.<k>``, which it aliases).

    Raises:
        ValueError: naming ``key`` and the known taps, for an unknown tap; for no taps.
    """
    names = known_taps(n_stages)
    unknown = [t for t in taps if t not in names]
    if unknown:
        raise ValueError(f"{key}: unknown taps {unknown}; known taps: {', '.join(names)}")
    if not taps:
        raise ValueError(f"{key}: no taps to sweep")
    return [t for t in names if t in set(taps)]


def _alias_target(tap: str, n_stages: int) -> str | None:
    return f"backbone.encoder.{n_stages - 1}" if tap == "bottleneck" else None


def load_tap_latents(paths: Mapping[str, str | Path], reference: str | None = None) -> dict[str, xr.Dataset]:
    """Read the pooled latents of every tap and check that they cover the same dates.

    Args:
        paths: Tap -> its pooled-latent file (``results/latents/pooled[_<tap>].nc``).
        reference: The tap whose dates the others must equal (default: the first).

    Returns:
        Tap -> loaded dataset, in the order of ``paths``.

    Raises:
        FileNotFoundError: naming the file of a tap that does not exist.
        ValueError: naming the file whose ``tap`` attribute names another tap, or whose
            dates differ from the reference file's (with the first differing dates).
    """
    if not paths:
        raise ValueError("no pooled-latent files to sweep")
    out: dict[str, xr.Dataset] = {}
    for tap, path in paths.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no pooled latents of tap {tap!r} (extract them with latents.taps)")
        with xr.open_dataset(path) as ds:
            out[tap] = ds.load()
        held = out[tap].attrs.get("tap")
        if held is not None and held != tap:
            raise ValueError(f"{path}: holds the pooled latents of tap {held!r}, expected {tap!r}")
    ref = reference if reference is not None else next(iter(paths))
    ref_dates = pd.DatetimeIndex(out[ref]["date"].values)
    for tap, ds in out.items():
        dates = pd.DatetimeIndex(ds["date"].values)
        if not dates.equals(ref_dates):
            only = dates.difference(ref_dates)[:3].strftime("%Y-%m-%d %H:%M").tolist()
            lacks = ref_dates.difference(dates)[:3].strftime("%Y-%m-%d %H:%M").tolist()
            raise ValueError(
                f"{paths[tap]}: its {len(dates)} dates differ from the {len(ref_dates)} of "
                f"{paths[ref]} (tap {ref!r}): only here {only}, missing {lacks}; extract every tap "
                "from the same forward passes (latents.taps)"
            )
    return out


def _block_length(x_time: np.ndarray, doy_time: np.ndarray, settings: SweepSettings) -> int | None:
    """Block length of the date bootstrap (None: i.i.d.), as rule ``bootstrap_pca``."""
    n = x_time.shape[0]
    if settings.block in (None, "none"):
        return None
    if settings.block == "auto":
        try:
            return pc1_block_length(x_time, doy_time, standardize=settings.standardize)
        except NotApplicableError:
            return 1
    return int(min(int(settings.block), max(n, 1)))


def _pc1_statistics(pc1: np.ndarray, doy: np.ndarray, seasons: np.ndarray) -> tuple[float, float]:
    """``(R^2 of the annual fit, |d| DJF-JJA)`` of PC1 scores (NaN where not applicable)."""
    try:
        r2 = annual_harmonic_fit(pc1, doy).r2
    except NotApplicableError:
        r2 = np.nan
    a, b = pc1[seasons == "DJF"], pc1[seasons == "JJA"]
    d = abs(cohen_d(a, b)) if min(len(a), len(b)) >= 2 else np.nan
    return float(r2), float(d)


def _seasonal_rows(pooled: xr.Dataset, settings: SweepSettings) -> list[dict[str, Any]]:
    x, _ = feature_matrix(pooled, settings.region, settings.levels)
    doy = pooled["day_of_year"].values
    seasons = pooled["season"].values.astype(str)
    n = x.shape[0]
    n_djf_jja = int(np.isin(seasons, ["DJF", "JJA"]).sum())
    stats = [s.stat for s in SWEEP_STATISTICS[:2]]
    pc1 = fit_pca(x, 1, standardize=settings.standardize).scores[:, 0]
    r2, d = _pc1_statistics(pc1, doy, seasons)
    notes = {stats[0]: "", stats[1]: ""}
    try:
        check_annual_coverage(doy)
    except NotApplicableError as err:
        notes[stats[0]] = str(err)
    if not np.isfinite(d):
        notes[stats[1]] = "DJF against JJA needs at least 2 dates of each season"
    order = np.argsort(pd.to_datetime(pooled["date"].values), kind="stable")
    block = _block_length(x[order], doy[order], settings)
    how = "i.i.d. dates" if block is None else f"circular blocks of {block} dates"
    interval = f"percentile bootstrap of the dates ({settings.n_boot} resamples, {how}), PCA refitted"
    idx = order[resample_indices(n, settings.n_boot, settings.seed, block)]
    boot = np.full((settings.n_boot, 2), np.nan)
    if n >= 3:
        scores = resampled_pc1_scores(x, idx, standardize=settings.standardize)
        for b in range(settings.n_boot):
            boot[b] = _pc1_statistics(scores[b], doy[idx[b]], seasons[idx[b]])
    rows = []
    for j, (stat, value, count) in enumerate(zip(stats, (r2, d), (n, n_djf_jja))):
        row: dict[str, Any] = {"stat": stat, "value": value, "n": count, "interval": interval, "note": notes[stat]}
        finite = boot[:, j][np.isfinite(boot[:, j])]
        if not notes[stat] and len(finite):
            row["ci_low"], row["ci_high"] = (float(v) for v in np.percentile(finite, [2.5, 97.5]))
        if notes[stat]:
            row["value"] = np.nan
        rows.append(row)
    return rows


def _storm_calm_rows(pooled: xr.Dataset, labels: pd.DataFrame, settings: SweepSettings) -> list[dict[str, Any]]:
    # imported here: the figure reads this module's statistics in the plotting
    # environment, which has no scikit-learn
    from .storm_calm import storm_calm_report
    from .study import all_dates_of, blocking_of, storm_calm_subset

    x, y, doy, seasons, dates = storm_calm_subset(pooled, labels, settings.region, settings.levels)
    everything = None
    if settings.blocked:
        everything = all_dates_of(pooled, settings.region, settings.levels, dates)
    blocking = blocking_of(
        settings.cv_blocking,
        settings.cv_gap_days,
        dates,
        None if everything is None else everything.decorrelation_days,
    )
    # The permutation p-values of the report are not used here: one permutation.
    report = storm_calm_report(
        x,
        y,
        doy,
        seasons,
        seed=settings.seed,
        n_permutations=1,
        k=settings.cv_folds,
        blocking=blocking,
        all_dates=everything,
    )
    if report.blocked is not None:
        blocking = dataclasses.replace(blocking, gap_days=report.blocked.gap_days)
    notes = report.not_applicable
    flat = report.to_dict()
    if blocking is None:
        interval = "percentile bootstrap of the held-out decisions (class-stratified days), as score_storm_calm"
    else:
        interval = (
            f"percentile bootstrap of the held-out decisions (whole {blocking.kind}s resampled; folds of whole "
            f"{blocking.kind}s, {blocking.gap_days}-day gap; residualised: harmonics fitted on all dates), "
            "as score_storm_calm"
        )
    rows = []
    for s in sweep_statistics(settings.blocked)[2:]:
        row: dict[str, Any] = {"stat": s.stat, "n": len(y), "interval": interval, "note": ""}
        if s.stat in flat:
            row.update(
                value=float(flat[s.stat]),
                ci_low=float(flat[f"{s.stat}_ci_low"]),
                ci_high=float(flat[f"{s.stat}_ci_high"]),
            )
        else:
            row.update(value=np.nan, note=notes.get(s.stat, "not computed"))
        rows.append(row)
    return rows


def tap_statistics(
    pooled: xr.Dataset, labels: pd.DataFrame, settings: SweepSettings, blas_threads: int | None = 1
) -> pd.DataFrame:
    """The sweep's statistics of one tap's pooled latents.

    Args:
        pooled: Pooled latents ``(date, region, latent_level, stat, channel)`` with the
            ``day_of_year`` and ``season`` coordinates.
        labels: The storm/calm table (:func:`~aurora_xai.storms.table.read_storm_days`).
        settings: The statistics' settings.
        blas_threads: BLAS threads while computing (default 1: the matrices are small);
            None leaves the setting alone.

    Returns:
        One row per statistic: ``stat, value, ci_low, ci_high, n, interval, note``
        (``value`` NaN and ``note`` the reason where not applicable; see the module
        docstring for each statistic and its interval).

    Raises:
        ValueError: from the features (unknown region or levels) or a labelled day
            without a latent sample.
    """
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(limits=blas_threads, user_api="blas") if blas_threads else None
    try:
        rows = _seasonal_rows(pooled, settings) + _storm_calm_rows(pooled, labels, settings)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    return pd.DataFrame(rows, columns=["stat", "value", "ci_low", "ci_high", "n", "interval", "note"])


def layer_sweep(
    paths: Mapping[str, str | Path],
    labels: pd.DataFrame,
    settings: SweepSettings,
    published: str,
    n_stages: int = AURORA_STAGES,
) -> pd.DataFrame:
    """The sweep table: every tap's statistics, taps in depth order.

    Args:
        paths: Tap -> pooled-latent file; must hold ``published``.
        labels: The storm/calm table.
        settings: The statistics' settings.
        published: The analysis tap (``latents.tap``); its rows are flagged ``published``
            and its dates are the reference the other files must match.
        n_stages: Backbone encoder stages (for the tap names and depths).

    Returns:
        A table with the columns :data:`SWEEP_COLUMNS`: ``depth`` from
        :func:`~aurora_xai.latents.taps.tap_depth`, ``same_as`` the tap a ``bottleneck``
        row copies (``""`` otherwise).

    Raises:
        FileNotFoundError, ValueError: from :func:`load_tap_latents` (naming the file);
        ValueError for unknown taps, for ``published`` not among ``paths``, or for a
        ``bottleneck`` file that differs from the encoder stage it aliases.
    """
    taps = sweep_taps(list(paths), n_stages)
    if published not in paths:
        raise ValueError(f"latents.tap: the published tap {published!r} is not among the swept taps {taps}")
    data = load_tap_latents({t: paths[t] for t in [published, *taps] if t in paths}, reference=published)
    frames = []
    computed: dict[str, pd.DataFrame] = {}
    for tap in taps:
        target = _alias_target(tap, n_stages)
        if target is not None and target in data:
            if not data[tap]["pooled"].equals(data[target]["pooled"]):
                raise ValueError(
                    f"{paths[tap]}: the bottleneck's pooled latents differ from those of {target} "
                    f"({paths[target]}), the same module output; extract them again"
                )
            table = computed[target].copy()
            same_as = target
        else:
            table = tap_statistics(data[tap], labels, settings)
            computed[tap] = table.copy()
            same_as = ""
        table.insert(0, "tap", tap)
        table.insert(1, "depth", tap_depth(tap, n_stages, key="latents.taps"))
        table["published"] = tap == published or (same_as != "" and same_as == published)
        table["same_as"] = same_as
        frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    # a published bottleneck marks the stage it aliases too
    if _alias_target(published, n_stages) in set(out["tap"]):
        out.loc[out["tap"] == _alias_target(published, n_stages), "published"] = True
    out["n"] = out["n"].astype("Int64")
    return out[list(SWEEP_COLUMNS)]


def sweep_headline(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Headline rows ``sweep_<stat>@<tap>`` of a sweep table, one per distinct module
    output (``bottleneck`` rows that copy a swept encoder stage are left out; so are the
    random-model rows of the planted probes, :mod:`aurora_xai.probes.sweep`).

    Not-applicable statistics are rows with an empty value and the reason.
    """
    rows = []
    for rec in table[table["same_as"].fillna("") == ""].to_dict("records"):
        if str(rec["stat"]).startswith("probe_r2_") and str(rec["stat"]).endswith("_random"):
            continue  # the probe's control: in the table, not a headline row
        metric = f"sweep_{rec['stat']}@{rec['tap']}"
        n_unit = "labelled days" if str(rec["stat"]).startswith("storm_calm") else "dates"
        if not np.isfinite(rec["value"]):
            rows.append(
                {
                    "metric": metric,
                    "value": None,
                    "n": rec["n"],
                    "note": rec["note"] or "not computed",
                    "method": rec["interval"],
                    "n_unit": n_unit,
                }
            )
            continue
        rows.append(
            {
                "metric": metric,
                "value": rec["value"],
                "ci_low": rec["ci_low"],
                "ci_high": rec["ci_high"],
                "n": rec["n"],
                "method": rec["interval"],
                "n_unit": n_unit,
            }
        )
    return rows
