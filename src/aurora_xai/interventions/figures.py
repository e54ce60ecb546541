"""Figure of an intervention: the forecast's response against the push, direction versus random.

One panel per forecast quantity: the direction's response (mean over dates, with the
group-bootstrap band of :func:`~aurora_xai.interventions.summary.bootstrap_weights`),
every random control's mean response (thin grey lines) and their envelope (grey band),
against alpha, with zero at alpha = 0 (the unpushed forecast).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .summary import bootstrap_weights  # noqa: E402

__all__ = ["plot_intervention"]


def dose_axis(ds: xr.Dataset, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The doses of a pushed-forecast dataset with 0 added, sorted, and the bootstrap
    weights of its dates.

    Returns:
        ``(alphas, order, w, n_groups)``: the ``(A + 1,)`` sorted doses, the order that
        sorts ``[0, *ds.alpha]``, ``(n_boot, date)`` resampling weights (rows sum to 1)
        of :func:`~aurora_xai.interventions.summary.bootstrap_weights` over the date
        episodes, and the number of episodes.
    """
    alphas = np.r_[0.0, ds["alpha"].values.astype(float)]
    order = np.argsort(alphas)
    counts, n_groups = bootstrap_weights(ds["date"].values, ds["label"].values, n_boot, seed)
    return alphas[order], order, counts / counts.sum(axis=1, keepdims=True), n_groups


def plot_intervention(ds: xr.Dataset, direction: str, n_boot: int = 1000, seed: int = 0) -> Figure:
    """Response against alpha for ``direction`` of the response dataset ``ds``.

    Raises:
        ValueError: if ``direction`` is not in ``ds`` (naming ``interventions.directions``).
    """
    names = [str(d) for d in ds["direction"].values]
    if direction not in names:
        raise ValueError(f"interventions.directions: {direction!r} not among the computed directions {names}")
    sub = ds.sel(direction=direction)
    quantities = [str(q) for q in ds["quantity"].values]
    alphas, order, w, n_groups = dose_axis(ds, n_boot, seed)
    fig, axes = plt.subplots(1, len(quantities), figsize=(4.2 * len(quantities), 3.8), squeeze=False)
    n_dates = int(ds.sizes["date"])
    k = int(ds.sizes["member"]) - 1
    for ax, q in zip(axes[0], quantities):
        r = sub["response"].sel(quantity=q).transpose("date", "member", "alpha").values
        r = np.concatenate([np.zeros(r.shape[:2] + (1,)), r], axis=2)[:, :, order]  # (date, member, alpha)
        mean = r.mean(axis=0)  # (member, alpha)
        boot = np.einsum("bd,da->ba", w, r[:, 0])
        lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
        rand = mean[1:]
        ax.fill_between(
            alphas, rand.min(axis=0), rand.max(axis=0), color="0.85", label=f"{k} random directions (range)"
        )
        for j, line in enumerate(rand):
            ax.plot(alphas, line, color="0.5", lw=0.8, label="random direction (mean over dates)" if j == 0 else None)
        ax.fill_between(alphas, lo, hi, color="tab:red", alpha=0.25, label="95 % interval over dates")
        ax.plot(alphas, mean[0], "o-", color="tab:red", lw=2, label=f"{direction} (mean over dates)")
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        units = sub["units"].sel(quantity=q).item()
        ax.set_xlabel("push alpha (token-space norm)")
        ax.set_ylabel(f"change of the region mean ({units})")
        ax.set_title(f"{sub['long_name'].sel(quantity=q).item()} ({q})")
    axes[0][0].legend(fontsize=7, loc="best")
    norm = float(ds["token_rms_norm"].mean())
    fig.suptitle(
        f"Pushing {ds.attrs.get('region', '?')} tokens at tap {ds.attrs.get('tap', '?')} along {direction} "
        f"against random directions ({n_dates} dates, {n_groups} groups; pushed tokens' RMS norm {norm:.3g})",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig
