"""The surrogate's skill on held-out times: against persistence, per variable and level.

For each held-out current time ``t`` the model forecasts ``t + step`` from ``(t - history,
t)``. Per surface variable and per atmospheric variable and level, over every time and
cell of Aurora's cropped grid, weighted by the exact cell area
(:func:`aurora_xai.grid.lat_weights`):

- ``rmse_model``: root mean squared error of the forecast against the state at ``t + step``;
- ``rmse_persistence``: the same of persistence (the state at ``t``);
- ``rmse_ratio``: ``rmse_model / rmse_persistence`` (below 1: the model beats persistence);
- ``explained_variance``: of the 6-hour change, ``1 - SSE / SST`` with ``SSE`` the
  weighted sum of squared errors of the forecast change ``pred - x(t)`` against the true
  change ``x(t + step) - x(t)`` and ``SST`` the weighted sum of squares of the true change
  about its weighted mean. 1 is a perfect forecast, 0 no better than the mean change.

Where the store's dynamics are known (the synthetic store's planted map F,
:mod:`aurora_xai.truth`; ``planted`` given), for the fields F drives:

- ``rmse_vs_planted``: RMSE of the forecast against F's noise-free forecast;
- ``explained_variance_planted``: the explained variance of the 6-hour change that F
  itself reaches on the same times (below 1 by the store's noise: the ceiling).

RMSEs and ``change_std`` (the weighted standard deviation of the true 6-hour change) are
in the variable's units (``units``); ``scale`` is Aurora's normalisation scale, with which
:func:`pooled_explained_variance` pools a variable's levels in normalised units.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..dates import utc_timestamp
from ..grid import lat_weights
from ..model import normalisation_stats
from ..tables import headline_rows
from .samples import even_pick, read_samples

__all__ = [
    "PLANTED_FIELDS",
    "SKILL_COLUMNS",
    "UNITS",
    "headline",
    "heldout_times",
    "planted_forecasts",
    "plot_skill",
    "pooled_explained_variance",
    "skill_table",
]

log = logging.getLogger(__name__)

#: Units of Aurora's variables (ERA5's).
UNITS: Mapping[str, str] = {
    "2t": "K",
    "10u": "m s-1",
    "10v": "m s-1",
    "msl": "Pa",
    "z": "m2 s-2",
    "u": "m s-1",
    "v": "m s-1",
    "t": "K",
    "q": "kg kg-1",
}

#: Columns of the skill table (``level`` is empty for surface variables).
SKILL_COLUMNS = (
    "variable",
    "level",
    "units",
    "n_times",
    "rmse_model",
    "rmse_persistence",
    "rmse_ratio",
    "explained_variance",
    "rmse_vs_planted",
    "explained_variance_planted",
    "change_std",
    "scale",
)


def _planted_fields() -> tuple[tuple[str, float | None], ...]:
    from ..data.dynamics import DRIVEN
    from ..data.variables import WB2_NAMES

    short = {store: name for kind in ("surf", "atmos") for name, store in WB2_NAMES[kind].items()}
    return tuple((short[store], None if level is None else float(level)) for store, level in DRIVEN)


#: Aurora's name and level of each field F drives, in :data:`aurora_xai.data.dynamics.DRIVEN`'s order.
PLANTED_FIELDS: tuple[tuple[str, float | None], ...] = _planted_fields()


def _field(batch: Any, b: int, var: str, level: float | None, levels: list[float], step: int) -> np.ndarray:
    """Sample ``b``'s field ``var`` (at ``level``) of history step ``step``, float64 ``(lat, lon)``."""
    if level is None:
        return batch.surf_vars[var][b, step].double().numpy()
    return batch.atmos_vars[var][b, step, levels.index(level)].double().numpy()


def planted_forecasts(spec: Any) -> Callable[[Any], dict[tuple[str, float | None], np.ndarray]]:
    """F's forecasts of the synthetic store written from ``spec`` (a
    :class:`~aurora_xai.data.synthetic.SyntheticSpec`): a function of a sample batch (raw
    units, full grid) giving ``{(variable, level): (B, lat, lon)}`` for the fields F drives."""
    from ..truth import planted_forecast

    def forecast(batch: Any) -> dict[tuple[str, float | None], np.ndarray]:
        levels = [float(v) for v in batch.metadata.atmos_levels]
        out: dict[tuple[str, float | None], list[np.ndarray]] = {k: [] for k in PLANTED_FIELDS}
        for b, time in enumerate(batch.metadata.time):
            prev = np.stack([_field(batch, b, v, lv, levels, 0) for v, lv in PLANTED_FIELDS])
            now = np.stack([_field(batch, b, v, lv, levels, -1) for v, lv in PLANTED_FIELDS])
            f = planted_forecast(spec, prev, now, utc_timestamp(time))
            for i, key in enumerate(PLANTED_FIELDS):
                out[key].append(f[i])
        return {k: np.stack(v) for k, v in out.items()}

    return forecast


def _fields(batch: Any, step: int) -> dict[tuple[str, float | None], np.ndarray]:
    """``{(variable, level or None): (B, H, W) float64}`` of history step ``step``."""
    out: dict[tuple[str, float | None], np.ndarray] = {}
    for k, v in batch.surf_vars.items():
        out[(k, None)] = v[:, step].detach().double().cpu().numpy()
    for k, v in batch.atmos_vars.items():
        for i, lv in enumerate(batch.metadata.atmos_levels):
            out[(k, float(lv))] = v[:, step, i].detach().double().cpu().numpy()
    return out


def heldout_times(source: Any, dates: pd.DatetimeIndex, step: pd.Timedelta, n: int) -> pd.DatetimeIndex:
    """``n`` of the study's sample times ``dates`` stored with their history step and
    ``t + step``, spread evenly over them.

    Raises:
        ValueError: naming ``surrogate.eval_times`` when none of ``dates`` is stored so.
    """
    ok = pd.DatetimeIndex(
        [t for t in dates if source.has_step(t - source.history) and source.has_step(t) and source.has_step(t + step)]
    )
    if not len(ok):
        raise ValueError(
            f"surrogate.eval_times: none of the {len(dates)} study times is stored with its history step and "
            f"the state {step} later in {source.path}"
        )
    return even_pick(ok, n)


def skill_table(
    model: Any,
    source: Any,
    times: Sequence[pd.Timestamp],
    step: pd.Timedelta,
    chunk: int = 4,
    planted: Callable[[Any], Mapping[tuple[str, float | None], np.ndarray]] | None = None,
) -> pd.DataFrame:
    """The skill table (:data:`SKILL_COLUMNS`) of ``model`` at the held-out current times ``times``.

    Args:
        model: An Aurora model (evaluation mode).
        source: The store (:class:`~aurora_xai.data.era5.ERA5Source`).
        times: Held-out current times, each stored with ``t - history`` and ``t + step``.
        step: The model's forecast step.
        chunk: Samples per forward pass.
        planted: The store's known forecast (:func:`planted_forecasts`) of the fields
            it drives; without it the ``*_planted`` columns are empty.
    """
    import torch

    patch = int(model.patch_size)
    sums: dict[tuple[str, float | None], np.ndarray] = {}
    times = pd.DatetimeIndex(times)
    for i in range(0, len(times), chunk):
        sample = read_samples(source, times[i : i + chunk], step)
        with torch.no_grad():
            pred = model(sample.inputs)
        cur = _fields(sample.inputs.crop(patch_size=patch), -1)
        truth = _fields(sample.target.crop(patch_size=patch), -1)
        fc = _fields(pred, -1)
        lat = pred.metadata.lat.detach().cpu().numpy().astype(float)
        w = lat_weights(lat)[None, :, None]
        known = planted(sample.inputs) if planted is not None else {}
        for key, y in truth.items():
            d_true = y - cur[key]
            d_pred = fc[key] - cur[key]
            f = known[key][:, : y.shape[-2]] if key in known else None  # Aurora's crop: the first rows
            acc = sums.setdefault(key, np.zeros(8))
            acc += [
                (w * (fc[key] - y) ** 2).sum(),
                (w * d_true**2).sum(),
                (w * (d_pred - d_true) ** 2).sum(),
                (w * d_true).sum(),
                (w * np.ones_like(y)).sum(),
                len(y),
                (w * (fc[key] - f) ** 2).sum() if f is not None else np.nan,
                (w * (f - y) ** 2).sum() if f is not None else np.nan,
            ]
        log.info("skill: %d/%d held-out times", min(i + chunk, len(times)), len(times))
    stats = dict(getattr(model, "surf_stats", {}) or {})
    rows = []
    for (var, level), (sse_model, sse_persist, sse_change, sum_change, wsum, n, sse_planted, sse_f) in sums.items():
        mean_change = sum_change / wsum
        sst = sse_persist - wsum * mean_change**2
        rmse_model, rmse_persist = np.sqrt(sse_model / wsum), np.sqrt(sse_persist / wsum)
        rows.append(
            {
                "variable": var,
                "level": level,
                "units": UNITS.get(var, ""),
                "n_times": int(n),
                "rmse_model": rmse_model,
                "rmse_persistence": rmse_persist,
                "rmse_ratio": rmse_model / rmse_persist if rmse_persist > 0 else np.nan,
                "explained_variance": 1 - sse_change / sst if sst > 0 else np.nan,
                "rmse_vs_planted": np.sqrt(sse_planted / wsum),
                "explained_variance_planted": 1 - sse_f / sst if sst > 0 else np.nan,
                "change_std": np.sqrt(max(sst, 0.0) / wsum),
                "scale": normalisation_stats(var, level, stats)[1],
            }
        )
    return pd.DataFrame(rows, columns=list(SKILL_COLUMNS))


def pooled_explained_variance(table: pd.DataFrame) -> dict[str, float]:
    """Per variable: explained variance of the 6-hour change over all its levels, in
    normalised units (each level's sums divided by its scale squared)."""
    out = {}
    for var, g in table.groupby("variable", sort=False):
        sst = (g.change_std / g.scale) ** 2  # per level, normalised units (same weights and times)
        out[var] = float(1 - ((1 - g.explained_variance) * sst).sum() / sst.sum())
    return out


def headline(table: pd.DataFrame, n_times: int) -> pd.DataFrame:
    """Headline rows ``surrogate_skill_<variable>``: the explained variance of the 6-hour
    change on the held-out times, each variable's levels pooled in normalised units."""
    pooled = pooled_explained_variance(table)
    rows = [
        {
            "metric": f"surrogate_skill_{var}",
            "value": value if np.isfinite(value) else None,
            "note": "" if np.isfinite(value) else "the 6-hour change has no variance on the held-out times",
            "n": n_times,
            "method": (
                "explained variance of the 6-hour change on held-out times (1 - SSE/SST, area-weighted; "
                "levels pooled in Aurora's normalised units)"
            ),
            "n_unit": "held-out times",
            "unit": "fraction of variance",
        }
        for var, value in pooled.items()
    ]
    return headline_rows(rows)


def plot_skill(table: pd.DataFrame, title: str = "") -> Any:
    """Figure: explained variance of the 6-hour change and RMSE against persistence,
    surface variables as bars, atmospheric ones against pressure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    surf = table[table.level.isna()]
    atmos = table[table.level.notna()]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), gridspec_kw={"width_ratios": [1, 1.3]})
    for row, (col, label, ref) in enumerate(
        (
            ("explained_variance", "explained variance of the 6-hour change", 0.8),
            ("rmse_ratio", "RMSE / RMSE of persistence", 1.0),
        )
    ):
        ax = axes[row, 0]
        ax.bar(surf.variable, surf[col], color="tab:blue", label="surrogate")
        if row == 0 and surf.explained_variance_planted.notna().any():
            known = surf[surf.explained_variance_planted.notna()]
            ax.scatter(known.variable, known.explained_variance_planted, color="k", marker="_", s=400, zorder=3)
            ax.scatter([], [], color="k", marker="_", label="F itself (the noise's ceiling)")
            ax.set_ylim(top=1.25)  # room for the legend above the bars
            ax.legend(fontsize=8, loc="upper left", ncols=2)
        ax.axhline(ref, color="k", lw=0.8, ls="--")
        ax.set_ylabel(f"{label} (1)")
        ax.set_xlabel("surface variable")
        ax.set_title(f"surface: {label}")
        ax = axes[row, 1]
        for var, g in atmos.groupby("variable", sort=False):
            line = ax.plot(g[col], g.level, marker="o", label=var)[0]
            if row == 0:
                known = g[g.explained_variance_planted.notna()]
                for x, lv in zip(known.explained_variance_planted, known.level):
                    ax.plot([x], [lv], marker="*", ms=12, color=line.get_color(), ls="none")
                    ax.annotate(f"F: {var} {lv:g} hPa", (x, lv), fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.axvline(ref, color="k", lw=0.8, ls="--")
        ax.set_ylim(max(atmos.level.max(), 1000) * 1.02, 0)
        ax.set_ylabel("pressure level (hPa)")
        ax.set_xlabel(f"{label} (1)")
        ax.set_title(f"atmosphere: {label}")
        ax.legend(fontsize=8)
    fig.suptitle(
        title
        or "Surrogate skill on held-out times (dashed: the 80 % target, and persistence; black bars and stars: F itself)"
    )
    fig.tight_layout()
    return fig
