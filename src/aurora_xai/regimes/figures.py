"""Matplotlib figures of the regime analysis (Agg backend; every function returns a Figure).

Callers save and close the figures (``fig.savefig(path); plt.close(fig)``). Where the data
do not allow a statistic (a short window, no storm day, very few dates) the figure is
still drawn with what there is, and says in its title or in the panel what is not
applicable and why.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy.stats import gaussian_kde  # noqa: E402

from aurora_xai.regimes.applicability import NotApplicableError  # noqa: E402
from aurora_xai.regimes.bootstrap import BootstrapResult  # noqa: E402
from aurora_xai.regimes.seasonal import SEASONS, HarmonicFit, annual_harmonic_fit, season_of_month  # noqa: E402

__all__ = [
    "CVComparison",
    "plot_bootstrap",
    "plot_bootstrap_dataset",
    "plot_layer_sweep",
    "plot_pc_scatter_by_month",
    "plot_pc_through_year",
    "plot_pc_through_year_dataset",
    "plot_scree",
    "plot_storm_calm",
    "plot_storm_calm_dataset",
]

_CLASS_STYLE = {0: ("calm", "tab:blue"), 1: ("storm", "tab:red")}
_MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _not_applicable_text(ax, what: str, reason: str, width: int = 48) -> None:
    """Write ``what: not applicable`` and the wrapped reason in the middle of ``ax``."""
    text = f"{what}: not applicable\n" + textwrap.fill(reason or "not computed", width)
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=9,
        bbox={"boxstyle": "round,pad=0.4", "fc": "0.95", "ec": "0.6"},
    )


def _pc_label(i: int, evr: np.ndarray | None) -> str:
    if evr is not None and len(evr) > i:
        return f"PC{i + 1} ({100 * float(evr[i]):.1f} % of variance)"
    return f"PC{i + 1} score"


def plot_pc_scatter_by_month(
    scores: np.ndarray, months: Sequence[int] | np.ndarray, evr: np.ndarray | None = None
) -> Figure:
    """PC1 against PC2, coloured by calendar month, with labelled season centroids.

    Args:
        scores: ``(n, k >= 2)`` PC scores.
        months: ``(n,)`` month of each sample, 1..12.
        evr: ``(k,)`` explained-variance ratios for the axis labels (optional).
    """
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(months).astype(int)
    if s.ndim != 2 or s.shape[1] < 2 or m.shape != (s.shape[0],):
        raise ValueError(f"need (n, >=2) scores and (n,) months, got {s.shape} and {m.shape}")
    seasons = np.asarray(season_of_month(m)) if len(m) else np.array([], dtype=str)
    fig, ax = plt.subplots(figsize=(6.5, 5.5), layout="constrained")
    sc = ax.scatter(s[:, 0], s[:, 1], c=m, cmap="twilight", vmin=0.5, vmax=12.5, s=18, edgecolors="k", linewidths=0.2)
    for season in SEASONS:
        sel = seasons == season
        if not np.any(sel):
            continue
        cx, cy = s[sel, 0].mean(), s[sel, 1].mean()
        ax.plot(cx, cy, marker="X", ms=12, color="k", mec="w", mew=1.2, zorder=3)
        ax.annotate(
            season,
            (cx, cy),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=11,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.2", "fc": "w", "alpha": 0.8},
        )
    cbar = fig.colorbar(sc, ax=ax, ticks=range(1, 13))
    cbar.ax.set_yticklabels(_MONTH_NAMES)
    cbar.set_label("month")
    ax.set_xlabel(_pc_label(0, evr))
    ax.set_ylabel(_pc_label(1, evr))
    absent = [season for season in SEASONS if not np.any(seasons == season)]
    title = "Leading PC scores by month (X: season centroids)"
    if absent:
        title += f"\nno dates in {', '.join(absent)}: their centroids are not applicable"
    ax.set_title(title, fontsize=10 if absent else None)
    ax.axhline(0, color="0.8", lw=0.8, zorder=0)
    ax.axvline(0, color="0.8", lw=0.8, zorder=0)
    return fig


def plot_pc_through_year(
    day_of_year: np.ndarray,
    pc1: np.ndarray,
    fit: HarmonicFit | None = None,
    pc_index: int = 1,
    note: str = "",
) -> Figure:
    """A PC score against day of year with its fitted annual cycle.

    Args:
        day_of_year: ``(n,)`` day of year.
        pc1: ``(n,)`` scores of the PC.
        fit: Harmonic fit of ``pc1`` on ``day_of_year`` (drawn as a line if given).
        pc_index: 1-based PC number for the labels.
        note: Why there is no fit (e.g. a window much shorter than a year); written
            into the title when ``fit`` is None.
    """
    doy = np.asarray(day_of_year, dtype=np.float64)
    y = np.asarray(pc1, dtype=np.float64)
    if doy.shape != y.shape or y.ndim != 1:
        raise ValueError(f"day_of_year and pc1 must be equal-length 1-d, got {doy.shape} and {y.shape}")
    fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
    ax.scatter(doy, y, s=10, color="0.35", alpha=0.7, label=f"PC{pc_index} score (daily)")
    if fit is not None:
        order = np.argsort(doy)
        ax.plot(
            doy[order],
            np.asarray(fit.fitted)[order],
            color="tab:orange",
            lw=2.2,
            label=(
                f"annual harmonic fit: R² = {fit.r2:.2f}, amplitude = {fit.amplitude:.2f}, peak day {fit.phase_day:.0f}"
            ),
        )
        ax.axvline(fit.phase_day, color="tab:orange", ls=":", lw=1)
    ax.set_xlim(0, 367)
    ax.set_xticks([1, 32, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335])
    ax.set_xticklabels(_MONTH_NAMES)
    ax.set_xlabel("day of year (tick = first of month)")
    ax.set_ylabel(f"PC{pc_index} score (standardised units)")
    title = f"PC{pc_index} through the year"
    if fit is None and note:
        title += "\n" + textwrap.fill(f"annual-harmonic fit not applicable: {note}", 90)
    ax.set_title(title, fontsize=10 if fit is None and note else None)
    if len(y):
        ax.legend(loc="best", fontsize=8)
    return fig


def plot_pc_through_year_dataset(pca, pc: int = 1) -> Figure:
    """:func:`plot_pc_through_year` of one PC of the dataset written by the workflow
    (``results/pca/pca.nc``), with its annual-harmonic fit where the dates allow one and
    the reason in the title where they do not."""
    doy = pca["day_of_year"].values
    scores = pca["scores"].sel(pc=pc).values
    try:
        fit, note = annual_harmonic_fit(scores, doy), ""
    except NotApplicableError as err:
        fit, note = None, str(err)
    return plot_pc_through_year(doy, scores, fit, pc_index=pc, note=note)


def plot_scree(evr: np.ndarray, n_show: int = 20, title: str = "Scree plot of the standardised features") -> Figure:
    """Explained-variance ratio per PC (bars) and cumulative (line).

    Args:
        evr: ``(k,)`` explained-variance ratios (fractions).
        n_show: Number of leading PCs shown.
        title: Axes title.
    """
    r = np.asarray(evr, dtype=np.float64)[:n_show]
    if r.ndim != 1 or len(r) == 0:
        raise ValueError(f"evr must be a non-empty 1-d array, got shape {np.shape(evr)}")
    idx = np.arange(1, len(r) + 1)
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    ax.bar(idx, 100 * r, color="tab:blue", label="per PC")
    ax.plot(idx, 100 * np.cumsum(r), color="tab:red", marker="o", ms=3, label="cumulative")
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance (%)")
    ax.set_xticks(idx)
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(loc="center right")
    return fig


def _density(ax, values: np.ndarray, grid: np.ndarray, color: str, label: str) -> None:
    if len(values) >= 2 and np.ptp(values) > 0:
        dens = gaussian_kde(values)(grid)
        ax.plot(grid, dens, color=color, lw=2, label=label)
        ax.fill_between(grid, dens, color=color, alpha=0.2)
        ax.plot(values, np.zeros_like(values), "|", color=color, ms=10, alpha=0.6)
    else:  # too few distinct values for a density: show the samples only
        ax.plot(values, np.zeros_like(values), "|", color=color, ms=10, label=label)


@dataclasses.dataclass(frozen=True)
class CVComparison:
    """Cross-validated scores of shuffled folds of single days and of blocked folds.

    Attributes:
        statistics: ``(m,)`` names (``auc``, ``balanced_accuracy``, ...).
        score: ``(m, 2)`` values, column 0 i.i.d. (shuffled folds of days), column 1
            blocked in time; NaN where not computed.
        ci: ``(m, 2, 2)`` 95 % intervals (NaN where there is none).
        notes: ``(m, 2)`` why a value is missing (``""`` where it is given).
        blocking: Kind of the blocked folds (``episode``, ``week`` or ``none``).
        gap_days: Days left out of training around every test day.
        perm_p: Permutation p-value of the i.i.d. AUC (NaN if not computed).
        perm_p_block: Block permutation p-value of the blocked AUC (NaN if not computed).
        perm_p_block_null: Its null: ``circular_shift`` (features of all dates shifted
            against the labels) or ``within_folds`` (label episodes permuted in test folds).
    """

    statistics: tuple[str, ...]
    score: np.ndarray
    ci: np.ndarray
    notes: np.ndarray
    blocking: str
    gap_days: int
    perm_p: float = float("nan")
    perm_p_block: float = float("nan")
    perm_p_block_null: str = "within_folds"

    @classmethod
    def from_dataset(cls, ds) -> CVComparison | None:
        """From ``results/regimes/storm_calm.nc`` (None for a file without ``cv_score``)."""
        if "cv_score" not in ds:
            return None
        return cls(
            statistics=tuple(str(v) for v in ds["statistic"].values),
            score=ds["cv_score"].transpose("statistic", "cv").values,
            ci=ds["cv_score_ci"].transpose("statistic", "cv", "bound").values,
            notes=ds["cv_score_note"].transpose("statistic", "cv").values.astype(str),
            blocking=str(ds.attrs.get("cv_blocking", "none")),
            gap_days=int(ds.attrs.get("cv_gap_days", 0)),
            perm_p=float(ds.attrs.get("perm_p", np.nan)),
            perm_p_block=float(ds.attrs.get("perm_p_block", np.nan)),
            perm_p_block_null=str(ds.attrs.get("perm_p_block_null", "") or "within_folds"),
        )


def _plot_cv_comparison(ax, cv: CVComparison) -> None:
    """Forest plot of the i.i.d. and blocked scores, one row per statistic."""
    m = len(cv.statistics)
    styles = (
        ("shuffled folds of single days (published)", "0.25", "o", -0.15),
        (f"blocked by {cv.blocking}, gap {cv.gap_days} d", "tab:orange", "s", 0.15),
    )
    if not np.any(np.isfinite(cv.score)):
        reasons = sorted({str(r) for r in cv.notes.ravel() if str(r)})
        _not_applicable_text(ax, "cross-validated scores", "; ".join(reasons[:2]), width=40)
    for j, (label, color, marker, dy) in enumerate(styles):
        ypos = np.arange(m) + dy
        val = cv.score[:, j]
        ok = np.isfinite(val)
        if np.any(ok):
            lo = np.where(np.isfinite(cv.ci[:, j, 0]), val - cv.ci[:, j, 0], 0.0)
            hi = np.where(np.isfinite(cv.ci[:, j, 1]), cv.ci[:, j, 1] - val, 0.0)
            ax.errorbar(
                val[ok], ypos[ok], xerr=np.vstack([lo[ok], hi[ok]]), fmt=marker, color=color, capsize=3, label=label
            )
        for i in np.flatnonzero(~ok):
            if np.any(np.isfinite(cv.score)):
                ax.text(0.5, ypos[i], "n/a", color=color, fontsize=7, ha="center", va="center")
    ax.axvline(0.5, color="0.6", ls="--", lw=1)
    ax.set_yticks(np.arange(m))
    ax.set_yticklabels([s.replace("_", " ") for s in cv.statistics], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.set_ylim(m - 0.5, -0.5)
    ax.set_xlabel("held-out score (0.5 = chance; bars: 95 % interval)")
    pvals = []
    if np.isfinite(cv.perm_p):
        pvals.append(f"p = {cv.perm_p:.3g} (days permuted)")
    if np.isfinite(cv.perm_p_block):
        how = "features shifted circularly" if cv.perm_p_block_null == "circular_shift" else "episodes permuted"
        pvals.append(f"p = {cv.perm_p_block:.3g} ({how})")
    title = "Held-out scores: shuffled vs blocked folds"
    ax.set_title(title + ("\n" + ", ".join(pvals) if pvals else ""), fontsize=9)
    if np.any(np.isfinite(cv.score)):
        ax.legend(fontsize=7, loc="upper left")


def plot_storm_calm(
    proj_contrastive: np.ndarray,
    scores: np.ndarray,
    y: np.ndarray,
    evr: np.ndarray | None = None,
    note: str = "",
    cv: CVComparison | None = None,
) -> Figure:
    """Storm vs calm: densities on the contrastive axis and PC1/PC2 scatter by class,
    and with ``cv`` a third panel of the held-out scores of shuffled and blocked folds.

    Args:
        proj_contrastive: ``(n,)`` (held-out) projections on the contrastive axis; all
            NaN where the projection is not applicable (too few days of a class).
        scores: ``(n, k >= 2)`` PC scores.
        y: ``(n,)`` 0 (calm) / 1 (storm) labels (``n`` may be 0).
        evr: Optional explained-variance ratios for the PC axis labels.
        note: Why the projection is not applicable (written in its panel).
        cv: The cross-validated scores side by side (:class:`CVComparison`), or None.
    """
    proj = np.asarray(proj_contrastive, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    lab = np.asarray(y).astype(int)
    if proj.shape != lab.shape or s.ndim != 2 or s.shape[0] != len(lab) or s.shape[1] < 2:
        raise ValueError(
            f"need (n,) projections, (n, >=2) scores and (n,) labels, got {proj.shape}, {s.shape} and {lab.shape}"
        )
    if cv is None:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    else:
        fig, (ax1, ax2, ax3) = plt.subplots(
            1, 3, figsize=(16, 4.5), layout="constrained", gridspec_kw={"width_ratios": [1, 1, 0.9]}
        )
        _plot_cv_comparison(ax3, cv)
    has_proj = len(proj) > 0 and bool(np.all(np.isfinite(proj)))
    if has_proj:
        pad = 0.3 * max(float(np.ptp(proj)), 1e-9)
        grid = np.linspace(proj.min() - pad, proj.max() + pad, 300)
    for cls in (0, 1):
        name, color = _CLASS_STYLE[cls]
        sel = lab == cls
        if np.any(sel):
            if has_proj:
                _density(ax1, proj[sel], grid, color, f"{name} (n={int(sel.sum())})")
            ax2.scatter(
                s[sel, 0],
                s[sel, 1],
                s=16,
                color=color,
                alpha=0.7,
                edgecolors="k",
                linewidths=0.2,
                label=f"{name} (n={int(sel.sum())})",
            )
    ax1.set_xlabel("projection on contrastive axis (standardised units)")
    ax1.set_ylabel("density")
    ax1.set_title("Storm minus calm axis (Gaussian KDE)")
    if has_proj:
        ax1.legend()
    else:
        counts = f"{int((lab == 1).sum())} storm and {int((lab == 0).sum())} calm days"
        _not_applicable_text(ax1, "held-out projection", note or counts)
    ax2.set_xlabel(_pc_label(0, evr))
    ax2.set_ylabel(_pc_label(1, evr))
    ax2.set_title("Leading PCs by class")
    if len(lab):
        ax2.legend()
    else:
        _not_applicable_text(ax2, "class scatter", "no labelled day in the window")
    return fig


def plot_storm_calm_dataset(ds) -> Figure:
    """:func:`plot_storm_calm` from the dataset written by the workflow
    (``results/regimes/storm_calm.nc``), with its ``note`` where the projection is not
    applicable and the panel of shuffled against blocked folds where the file holds
    ``cv_score``."""
    return plot_storm_calm(
        ds["contrastive_projection"].values,
        ds["pc_scores"].values,
        ds["label"].values,
        ds["explained_variance_ratio"].values,
        note=str(ds.attrs.get("note", "")),
        cv=CVComparison.from_dataset(ds),
    )


def plot_bootstrap(result: BootstrapResult, note: str = "", block: BootstrapResult | None = None) -> Figure:
    """Histograms of bootstrap ``|cos|`` between full-data and resampled PCs, one per PC.

    Args:
        result: Output of :func:`aurora_xai.regimes.bootstrap.bootstrap_pca_stability`
            (or read back by :func:`plot_bootstrap_dataset`); a PC whose values are NaN
            (too few dates) gets a panel saying so, as do NaN principal angles.
        note: Why some statistics are NaN (written in their panels and the title).
        block: The block bootstrap of the same PCs (``result.block`` set), drawn over
            the i.i.d. one in each panel, or None.
    """
    k = result.k
    fig, axes = plt.subplots(1, k, figsize=(3.4 * k, 3.6 if block else 3.4), layout="constrained", squeeze=False)
    for j, ax in enumerate(axes[0]):
        vals = result.abs_cos[:, j]
        if not np.all(np.isfinite(vals)):
            _not_applicable_text(ax, f"PC{j + 1}", note, width=30)
            ax.set_xlabel(f"|cos(PC{j + 1} full, PC{j + 1} resampled)|")
            ax.set_ylabel("resamples")
            ax.set_title(f"PC{j + 1}")
            continue
        both = vals
        if block is not None and np.all(np.isfinite(block.abs_cos[:, j])):
            both = np.concatenate([vals, block.abs_cos[:, j]])
        left = max(0.0, float(both.min()) - 0.05 * max(1.0 - float(both.min()), 1e-6))
        bins = np.linspace(left, 1.0, 30)
        runs = [(result, "tab:blue", "dates", "k", "tab:blue")]
        if block is not None and np.all(np.isfinite(block.abs_cos[:, j])):
            runs.append((block, "tab:orange", f"blocks of {block.block} d", "tab:red", "tab:orange"))
        for res, color, what, line, span in runs:
            lo, hi = res.abs_cos_ci[j]
            ax.hist(res.abs_cos[:, j], bins=bins, color=color, alpha=0.55, label=f"{res.n_boot} resamples of {what}")
            ax.axvline(res.abs_cos_mean[j], color=line, lw=1.5, label=f"mean {res.abs_cos_mean[j]:.3f}")
            ax.axvspan(lo, hi, color=span, alpha=0.15, label=f"95 %: [{lo:.3f}, {hi:.3f}]")
        ax.set_xlabel(f"|cos(PC{j + 1} full, PC{j + 1} resampled)|")
        ax.set_ylabel("resamples")
        ax.set_title(f"PC{j + 1}")
        ax.legend(fontsize=6 if block else 7, loc="best")
    if np.all(np.isfinite(result.angles_mean)):
        angles = (
            "mean principal angles of the leading "
            + f"{k}-D subspace: "
            + ", ".join(f"{a:.1f}°" for a in result.angles_mean)
        )
        if block is not None and np.all(np.isfinite(block.angles_mean)):
            angles += " (blocks: " + ", ".join(f"{a:.1f}°" for a in block.angles_mean) + ")"
    else:
        angles = textwrap.fill(f"principal angles of the leading {k}-D subspace not applicable: {note}", 110)
    if block is None:
        fig.suptitle(f"Bootstrap stability of the leading principal axes (dates resampled); {angles}", fontsize=10)
    else:
        how = f"dates resampled singly and in circular blocks of {block.block} days"
        fig.suptitle(f"Bootstrap stability of the leading principal axes ({how})\n{angles}", fontsize=10)
    return fig


def plot_bootstrap_dataset(ds) -> Figure:
    """:func:`plot_bootstrap` from the dataset written by the workflow (``results/pca/bootstrap.nc``),
    with the block bootstrap where the file holds it."""
    k = int(ds.sizes["pc"])

    def result(suffix: str, block: int | None) -> BootstrapResult:
        return BootstrapResult(
            abs_cos=ds[f"abs_cos{suffix}"].values,
            abs_cos_mean=ds[f"abs_cos{suffix}_mean"].values,
            abs_cos_ci=ds[f"abs_cos{suffix}_ci"].values,
            angles_deg=ds[f"principal_angle{suffix}"].values,
            angles_mean=ds[f"principal_angle{suffix}_mean"].values,
            angles_ci=ds[f"principal_angle{suffix}_ci"].values,
            explained_variance_ratio=np.full((int(ds.sizes["resample"]), k), np.nan),
            full_components=np.empty((k, 0)),
            n_boot=int(ds.sizes["resample"]),
            k=k,
            seed=int(ds.attrs.get("seed", 0)),
            block=block,
        )

    block = result("_block", int(ds.attrs["block_length"])) if "abs_cos_block" in ds else None
    return plot_bootstrap(result("", None), note=str(ds.attrs.get("note", "")), block=block)


def plot_layer_sweep(table) -> Figure:
    """One panel per statistic of the layer sweep against depth, with 95 % intervals.

    Args:
        table: The sweep table (:func:`~aurora_xai.regimes.sweep.layer_sweep`; columns
            ``tap, depth, stat, value, ci_low, ci_high, published, same_as, note``). Taps
            of one depth (``bottleneck`` and the encoder stage it aliases) are one point
            labelled with both names; the published tap's point is drawn in red.

    Raises:
        ValueError: for a table without rows or with statistics the sweep does not know.
    """
    from aurora_xai.regimes.sweep import SWEEP_STATISTICS, sweep_metric

    if len(table) == 0:
        raise ValueError("the layer-sweep table has no rows")
    is_probe = table["stat"].astype(str).str.startswith("probe_r2_")
    probe, table = table[is_probe], table[~is_probe]
    planted = [str(s) for s in dict.fromkeys(probe["stat"]) if not str(s).endswith(("_random", "_inputs"))]
    blocked = not any(str(s) == sweep_metric(SWEEP_STATISTICS[2].stat, False) for s in table["stat"])
    known = {sweep_metric(s.stat, blocked): s for s in SWEEP_STATISTICS}
    unknown = sorted(set(table["stat"]) - set(known))
    if unknown:
        raise ValueError(f"the layer-sweep table holds unknown statistics {unknown}")
    depths = sorted({int(d) for d in table["depth"]})
    names = {d: sorted(set(table.loc[table["depth"] == d, "tap"]), key=lambda t: t == "bottleneck") for d in depths}
    ticks = ["\n= ".join(names[d]) for d in depths]
    published = table.loc[table["published"].astype(bool), "tap"]
    published_name = published.iloc[0] if len(published) else None
    extra = (len(planted) + 1) // 2
    fig, axes = plt.subplots(2 + extra, 2, figsize=(11, 7.5 + 3.5 * extra), layout="constrained", sharex=True)
    for ax, metric in zip(axes.flat[4:], planted):
        _probe_panel(ax, probe, metric, depths)
    for ax in axes.flat[4 + len(planted) :]:
        ax.set_visible(False)
    for ax, (metric, spec) in zip(axes.flat, known.items()):
        rows = table[table["stat"] == metric].drop_duplicates("depth").set_index("depth")
        for d in depths:
            if d not in rows.index:
                continue
            rec = rows.loc[d]
            colour = "tab:red" if bool(rec["published"]) else "tab:blue"
            if not np.isfinite(rec["value"]):
                ax.annotate(
                    "n/a",
                    (d, 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, 4),
                    textcoords="offset points",
                    ha="center",
                    fontsize=8,
                    color="0.4",
                )
                continue
            low, high = rec["ci_low"], rec["ci_high"]
            err = None
            if np.isfinite(low) and np.isfinite(high):
                err = [[max(rec["value"] - low, 0.0)], [max(high - rec["value"], 0.0)]]
            ax.errorbar(d, rec["value"], yerr=err, fmt="o", color=colour, ms=7, capsize=4, lw=1.5)
        finite = rows[np.isfinite(rows["value"].astype(float))]
        ax.plot(finite.index, finite["value"], color="0.6", lw=1, zorder=0)
        if spec.chance is not None:
            ax.axhline(spec.chance, color="0.4", ls="--", lw=0.9, label="chance")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(f"{spec.title}\n({metric})", fontsize=10)
        ax.set_ylabel(spec.label)
        ax.grid(alpha=0.3)
    for column in axes.T:  # the lowest drawn panel of each column carries the tap names
        ax = [a for a in column if a.get_visible()][-1]
        ax.set_xticks(depths, ticks, rotation=30, ha="right", fontsize=8)
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("tap, shallow to deep")
    handles = [
        plt.Line2D([], [], marker="o", ls="", color="tab:red", label=f"published tap ({published_name})"),
        plt.Line2D([], [], marker="o", ls="", color="tab:blue", label="other taps"),
    ]
    fig.legend(handles=handles, loc="outside upper right", fontsize=9, ncols=2)
    title = "Regime statistics at every tap, with 95 % intervals"
    if planted:
        title = "Regime statistics and probes of F's terms per tap (95 % intervals)"
    fig.suptitle(title, fontsize=12)
    return fig


def _probe_panel(ax, probe, metric: str, depths: list[int]) -> None:
    """The held-out R² of a planted term's probe per tap: latents, random model, and the
    raw inputs' interval as a band (from the latent rows' notes: none drawn without)."""
    import re

    lat = probe[probe["stat"] == metric].drop_duplicates("depth").set_index("depth")
    rnd = probe[probe["stat"] == f"{metric}_random"].drop_duplicates("depth").set_index("depth")
    for rows, colour, marker, label in ((lat, "tab:blue", "o", "latents"), (rnd, "0.45", "s", "random model")):
        if rows.empty:
            continue
        x = np.asarray(rows.index, dtype=float)
        v = rows["value"].astype(float).to_numpy()
        err = [np.maximum(v - rows["ci_low"].astype(float), 0.0), np.maximum(rows["ci_high"].astype(float) - v, 0.0)]
        ax.errorbar(x, v, yerr=err, fmt=marker, color=colour, ms=6, capsize=3, lw=1.2, label=label, ls="-")
    notes = " ".join(str(n) for n in lat["note"]) if "note" in lat else ""
    m = re.search(r"raw inputs (-?[\d.]+) \[(-?[\d.]+), (-?[\d.]+)\]", notes)
    if m:
        r2, lo, hi = (float(g) for g in m.groups())
        ax.axhspan(lo, hi, color="tab:orange", alpha=0.25, lw=0)
        ax.axhline(r2, color="tab:orange", lw=1, label="raw inputs")
    name = metric.removeprefix("probe_r2_")
    ax.set_title(f"Probe of F's planted term {name}\n({metric})", fontsize=10)
    ax.set_ylabel("held-out R² (1)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=8)
